// One client of a doctor agent: greet, then answer its requests in order. Garbage gets an error
// line and the connection keeps serving; a line over the limit or a run of garbage ends only this
// connection. Raw bytes of a sink are counted, never kept.
import type { Socket } from 'node:net';
import { createLineDecoder } from './line-decoder.ts';
import {
  AGENT_MAGIC,
  MAX_REQUEST_LINE_BYTES,
  encodeAnswer,
  encodeError,
  parseRequest,
  type AgentErrorCode,
  type HalfOpenEntry,
  type Hello,
  type ProbeResult,
  type Request,
} from './messages.ts';
import { agentChannels } from './observability.ts';

export interface AgentContext {
  hello(socket: Socket): Promise<Hello>;
  halfOpen(): HalfOpenEntry[];
  probe(host: string, port: number, timeoutMs: number): Promise<ProbeResult>;
}

/** Bad lines in a row before the agent stops listening to a client. */
const MAX_BAD_LINES = 8;
/** Requests a client may have waiting; a client that floods is closed. */
const MAX_QUEUED = 32;
/** How long a client that was told goodbye may keep its side open. */
const HANG_UP_MS = 1000;
/** Source bytes are written in pieces of this size so a large one never sits in memory whole. */
const SOURCE_PIECE = 64 * 1024;

export function serveAgentConnection(socket: Socket, context: AgentContext): void {
  const remote = `${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? 0)}`;
  let badLines = 0;
  let queued = 0;
  let chain = Promise.resolve();
  let sinkDone: (() => void) | undefined;

  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.write(`${AGENT_MAGIC}\n`);
  agentChannels.connectionOpened.publish({ remote, localPort: socket.localPort ?? 0 });

  // The error line goes out first; a client that never closes its side is not waited for.
  const hangUp = (): void => {
    socket.end();
    setTimeout(() => socket.destroy(), HANG_UP_MS).unref();
  };

  const refuse = (id: number | null, code: AgentErrorCode, message: string): void => {
    agentChannels.badInput.publish({ remote, code, message });
    if (!socket.destroyed) socket.write(encodeError(id, code, message));
  };

  /** Answers leave in the order requests came, whatever each waits on. */
  const enqueue = (task: () => Promise<void>): void => {
    queued += 1;
    chain = chain
      .then(task)
      .catch((error: unknown) => {
        refuse(null, 'AGENT_BAD_REQUEST', `the request failed: ${String(error)}`);
      })
      .finally(() => {
        queued -= 1;
      });
  };

  const decoder = createLineDecoder(MAX_REQUEST_LINE_BYTES, {
    line(text) {
      if (text.trim() === '') return;
      const parsed = parseRequest(text);
      if (!parsed.ok) {
        badLines += 1;
        refuse(parsed.id, parsed.code, parsed.message);
        if (badLines >= MAX_BAD_LINES) {
          refuse(null, 'AGENT_BAD_REQUEST', `${String(MAX_BAD_LINES)} bad lines in a row: closing`);
          hangUp();
        }
        return;
      }
      badLines = 0;
      if (queued >= MAX_QUEUED) {
        refuse(
          parsed.request.id,
          'AGENT_BUSY',
          `more than ${String(MAX_QUEUED)} requests waiting: closing`,
        );
        hangUp();
        return;
      }
      handle(parsed.request);
    },
    raw() {
      // Sink bytes are only counted, by the decoder.
    },
    rawDone() {
      sinkDone?.();
      sinkDone = undefined;
    },
    tooLong(bytes) {
      refuse(
        null,
        'AGENT_LINE_TOO_LONG',
        `a line of over ${String(bytes)} bytes passed the limit of ${String(MAX_REQUEST_LINE_BYTES)}: closing`,
      );
      hangUp();
    },
  });

  const answer = (id: number, body: Record<string, unknown>): void => {
    if (!socket.destroyed) socket.write(encodeAnswer(id, body));
  };

  const handle = (request: Request): void => {
    switch (request.op) {
      case 'sink': {
        const began = performance.now();
        // The bytes follow this line at once, so the decoder must know before the next chunk.
        const arrived = new Promise<void>((done) => {
          sinkDone = done;
        });
        decoder.expectRaw(request.bytes);
        enqueue(async () => {
          await arrived;
          answer(request.id, {
            op: 'sink',
            received: request.bytes,
            elapsedMs: Math.round(performance.now() - began),
          });
        });
        return;
      }
      case 'source':
        enqueue(async () => {
          answer(request.id, { op: 'source', bytes: request.bytes });
          await writeSource(socket, request.bytes);
        });
        return;
      case 'hello':
        enqueue(async () => {
          answer(request.id, { op: 'hello', hello: await context.hello(socket) });
        });
        return;
      case 'ping':
        enqueue(() => {
          answer(request.id, { op: 'pong', at: new Date().toISOString() });
          return Promise.resolve();
        });
        return;
      case 'half-open':
        enqueue(() => {
          answer(request.id, { op: 'half-open', entries: context.halfOpen() });
          return Promise.resolve();
        });
        return;
      case 'probe':
        enqueue(async () => {
          const result = await context.probe(request.host, request.port, request.timeoutMs);
          answer(request.id, { op: 'probe', result });
        });
        return;
    }
  };

  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
  });
}

async function writeSource(socket: Socket, bytes: number): Promise<void> {
  const piece = Buffer.alloc(Math.min(bytes, SOURCE_PIECE), 0xa5);
  for (let left = bytes; left > 0 && !socket.destroyed; left -= piece.length) {
    const part = left >= piece.length ? piece : piece.subarray(0, left);
    if (!socket.write(part))
      await new Promise<void>((drained) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          drained();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
  }
}
