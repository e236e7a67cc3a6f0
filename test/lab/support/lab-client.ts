// The lab's packet-level client, run inside the client namespace: `node lab-client.ts '<json>'`
// does one thing and prints its outcome as one JSON line. It exists to prove each topology does
// what it claims before the doctor is asked about it.
//   connect  one connect, optionally from a fixed source port; prints `PENDING <local>` while the
//            SYN is out, so the peer's half-open state can be read at that moment
//   who      asks the echo server which address it sees (`PEER a:p`)
//   echo     round trips of growing sizes on one connection; stops at the first that stalls
//   idle     a round trip, silence, another round trip: does the flow survive the silence?
import { connect, type Socket } from 'node:net';

type Request =
  | { op: 'connect'; host: string; port: number; timeoutMs: number; localPort?: number }
  | { op: 'who'; host: string; port: number }
  | { op: 'echo'; host: string; port: number; sizes: number[]; stepMs: number }
  | {
      op: 'idle';
      host: string;
      port: number;
      idleMs: number;
      waitMs: number;
      keepAliveMs?: number;
    };

const request = JSON.parse(process.argv[2] ?? '{}') as Request;
const began = performance.now();
const elapsed = (): number => Math.round(performance.now() - began);

function done(result: Record<string, unknown>): never {
  process.stdout.write(`${JSON.stringify({ ...result, ms: elapsed() })}\n`);
  process.exit(0);
}

function open(host: string, port: number, localPort?: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ...(localPort === undefined ? {} : { localPort }) });
    socket.once('connect', () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Sends `payload` and resolves with how many bytes came back within `limitMs`. */
function roundTrip(socket: Socket, payload: Buffer, limitMs: number): Promise<number> {
  return new Promise((resolve) => {
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received >= payload.length) finish();
    };
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', finish);
      resolve(received);
    };
    const timer = setTimeout(finish, limitMs);
    socket.on('data', onData);
    socket.once('error', finish);
    socket.write(payload);
  });
}

function errno(error: unknown): string {
  return (error as { code?: string }).code ?? String(error);
}

switch (request.op) {
  case 'connect': {
    const socket = connect({
      host: request.host,
      port: request.port,
      ...(request.localPort === undefined ? {} : { localPort: request.localPort }),
    });
    const timer = setTimeout(() => {
      done({ outcome: 'timeout' });
    }, request.timeoutMs);
    // The source port is bound as the SYN leaves; print it while the connect is pending.
    setTimeout(() => {
      process.stdout.write(`PENDING ${socket.localAddress ?? '?'}:${String(socket.localPort)}\n`);
    }, 100);
    socket.once('connect', () => {
      clearTimeout(timer);
      done({
        outcome: 'connected',
        local: `${socket.localAddress ?? '?'}:${String(socket.localPort)}`,
      });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      done({ outcome: 'error', errno: errno(error) });
    });
    break;
  }
  case 'who': {
    const socket = await open(request.host, request.port);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.endsWith('\n'))
        done({
          peerSeen: answer.trim().replace(/^PEER /, ''),
          local: `${socket.localAddress ?? '?'}:${String(socket.localPort)}`,
        });
    });
    socket.write('WHO\n');
    break;
  }
  case 'echo': {
    const socket = await open(request.host, request.port);
    const steps: { size: number; received: number; ms: number }[] = [];
    for (const size of request.sizes) {
      const start = performance.now();
      const received = await roundTrip(socket, Buffer.alloc(size, 0x61), request.stepMs);
      steps.push({ size, received, ms: Math.round(performance.now() - start) });
      if (received < size) break;
    }
    done({ steps });
    break;
  }
  case 'idle': {
    const socket = await open(request.host, request.port);
    if (request.keepAliveMs !== undefined) socket.setKeepAlive(true, request.keepAliveMs);
    let reset: string | undefined;
    socket.on('error', (error) => (reset = errno(error)));
    const first = await roundTrip(socket, Buffer.from('before\n'), request.waitMs);
    await new Promise((resolve) => setTimeout(resolve, request.idleMs));
    const second =
      reset === undefined ? await roundTrip(socket, Buffer.from('after\n'), request.waitMs) : 0;
    done({ before: first === 7, after: second === 6, error: reset ?? null });
    break;
  }
}
