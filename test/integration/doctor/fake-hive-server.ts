// A HiveServer2 / metastore stand-in that speaks only the first Thrift exchanges, written from
// apache/thrift's TSaslServerTransport and TBaseProcessor (not from the doctor's encoders): in
// SASL mode it rejects an unknown mechanism with BAD "Unsupported mechanism type …" and a non-SASL
// first byte with ERROR "Invalid status …"; without SASL it answers any call with a
// TApplicationException "Invalid method name", and on a first i32 that is not a strict header it
// waits for a method name of that length, as the old non-strict read does.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface FakeHiveServer {
  readonly port: number;
  /** First bytes of each connection, in arrival order. */
  readonly openings: Buffer[];
  close(): Promise<void>;
}

function saslFrame(status: number, text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const head = Buffer.alloc(5);
  head[0] = status;
  head.writeInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function invalidMethodReply(name: string, seqid: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const text = Buffer.from(`Invalid method name: '${name}'`, 'utf8');
  const out = Buffer.alloc(4 + 4 + nameBytes.length + 4 + 3 + 4 + text.length + 3 + 4 + 1);
  let at = out.writeUInt32BE(0x80010003, 0);
  at = out.writeInt32BE(nameBytes.length, at);
  at += nameBytes.copy(out, at);
  at = out.writeInt32BE(seqid, at);
  at = out.writeUInt8(11, at); // field 1: string message
  at = out.writeInt16BE(1, at);
  at = out.writeInt32BE(text.length, at);
  at += text.copy(out, at);
  at = out.writeUInt8(8, at); // field 2: i32 type
  at = out.writeInt16BE(2, at);
  at = out.writeInt32BE(1, at); // UNKNOWN_METHOD
  out.writeUInt8(0, at);
  return out;
}

function serveSasl(socket: Socket, buffered: Buffer): boolean {
  if (buffered.length < 5) return false;
  const status = buffered.readInt8(0);
  if (status < 1 || status > 5) {
    socket.end(saslFrame(4, `Invalid status ${String(status)}`));
    return true;
  }
  if (status !== 1) {
    socket.end(saslFrame(4, `Expecting START status, received ${String(status)}`));
    return true;
  }
  const length = buffered.readInt32BE(1);
  if (length < 0 || length > 104_857_600) {
    socket.end(saslFrame(4, `Invalid payload header length: ${String(length)}`));
    return true;
  }
  if (buffered.length < 5 + length) return false;
  const mechanism = buffered.toString('utf8', 5, 5 + length);
  // PLAIN would be accepted and the server would wait for credentials.
  if (mechanism !== 'PLAIN') socket.end(saslFrame(3, `Unsupported mechanism type ${mechanism}`));
  return true;
}

function serveBinary(socket: Socket, buffered: Buffer): boolean {
  if (buffered.length < 4) return false;
  // Not a strict header: a non-strict reader now waits for that many name bytes.
  if (buffered.readUInt32BE(0) >>> 16 !== 0x8001) return true;
  if (buffered.length < 8) return false;
  const nameLength = buffered.readInt32BE(4);
  if (buffered.length < 8 + nameLength + 4 + 1) return false;
  const name = buffered.toString('utf8', 8, 8 + nameLength);
  const seqid = buffered.readInt32BE(8 + nameLength);
  socket.write(invalidMethodReply(name, seqid));
  return true;
}

export async function startFakeHiveServer(mode: 'sasl' | 'nosasl'): Promise<FakeHiveServer> {
  const openings: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let done = false;
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      buffered = Buffer.concat([buffered, chunk]);
      done = mode === 'sasl' ? serveSasl(socket, buffered) : serveBinary(socket, buffered);
      if (done) openings.push(buffered.subarray(0, 16));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    openings,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
