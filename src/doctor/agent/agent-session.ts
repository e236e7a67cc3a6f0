// One open connection to a doctor agent, after its greeting: requests go out one at a time (a
// JSON line, or a line and raw bytes for sink), each answer is matched to the request waiting for
// it, and every wait ends by its own limit, the answer, or the connection's end.
import type { Socket } from 'node:net';
import { encodeRequest, type AddressPort, type Request } from './messages.ts';

export type Answer =
  | { readonly kind: 'answer'; readonly body: Readonly<Record<string, unknown>> }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string }
  | { readonly kind: 'timeout'; readonly waitedMs: number }
  | {
      readonly kind: 'closed';
      readonly how: 'fin' | 'reset' | 'error';
      readonly errno: string | null;
    };

/** How any exchange ends when no answer comes: its own limit, or the connection's end. */
type Ending = Extract<Answer, { kind: 'timeout' | 'closed' }>;

export type Transfer =
  { readonly kind: 'done'; readonly elapsedMs: number } | Exclude<Answer, { kind: 'answer' }>;

export interface AgentSession {
  readonly local: AddressPort;
  readonly remote: AddressPort;
  readonly connectMs: number;
  request(request: DistributiveOmit<Request, 'id'>, limitMs: number): Promise<Answer>;
  /** Sends `bytes` to the agent; done when the agent says all arrived. */
  sink(bytes: number, limitMs: number): Promise<Transfer>;
  /** Asks the agent for `bytes`; done when all arrived here. */
  source(bytes: number, limitMs: number): Promise<Transfer>;
  close(): void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface SessionEnd {
  readonly how: 'fin' | 'reset' | 'error';
  readonly errno: string | null;
}

export interface Waiter {
  line(body: Record<string, unknown>): void;
  raw(chunk: Buffer): void;
  rawDone(): void;
  end(how: 'fin' | 'reset' | 'error', errno: string | null): void;
}

/** What an exchange does with its answer line and, when it expects raw bytes, their end. */
type Handlers = Pick<Waiter, 'line'> & Partial<Pick<Waiter, 'rawDone'>>;

export function makeSession(
  socket: Socket,
  remote: AddressPort,
  connectMs: number,
  expectRaw: (bytes: number) => void,
  slot: {
    get(): Waiter | undefined;
    set(next: Waiter | undefined): void;
    ended(): SessionEnd | undefined;
  },
): AgentSession {
  let nextId = 1;
  const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };

  let queue: Promise<unknown> = Promise.resolve();

  /**
   * One exchange: resolves once, clears its timer and the slot, whatever ends it. Exchanges run
   * one after another (answers carry no order of their own), each timed from its own start. A
   * timeout or the connection's end finishes every kind of exchange alike; `handle` says only what
   * the answer line (and, for a transfer from the agent, the end of its raw bytes) means.
   */
  const exchange = <T>(
    limitMs: number,
    handle: (finish: (value: T | Ending) => void) => Handlers,
    send: () => void,
  ): Promise<T | Ending> => {
    const run = queue.then(() => exchangeNow(limitMs, handle, send));
    queue = run;
    return run;
  };

  const exchangeNow = <T>(
    limitMs: number,
    handle: (finish: (value: T | Ending) => void) => Handlers,
    send: () => void,
  ): Promise<T | Ending> =>
    new Promise((resolve) => {
      const began = performance.now();
      if (socket.destroyed) {
        const end = slot.ended() ?? { how: 'fin', errno: null };
        resolve({ kind: 'closed', how: end.how, errno: end.errno });
        return;
      }
      const finish = (value: T | Ending): void => {
        clearTimeout(timer);
        slot.set(undefined);
        resolve(value);
      };
      const timer = setTimeout(() => {
        finish({ kind: 'timeout', waitedMs: performance.now() - began });
      }, limitMs);
      const handlers = handle(finish);
      slot.set({
        line: handlers.line,
        raw: () => undefined,
        rawDone: handlers.rawDone ?? (() => undefined),
        end: (how, errno) => {
          finish({ kind: 'closed', how, errno });
        },
      });
      send();
    });

  const answerOf = (body: Record<string, unknown>): Answer => {
    if (body.ok === true) return { kind: 'answer', body };
    const error = (body.error ?? {}) as { code?: unknown; message?: unknown };
    return {
      kind: 'refused',
      code: typeof error.code === 'string' ? error.code : 'AGENT_ERROR',
      message: typeof error.message === 'string' ? error.message : 'the agent refused the request',
    };
  };

  const request = (body: DistributiveOmit<Request, 'id'>, limitMs: number): Promise<Answer> => {
    const id = nextId++;
    return exchange<Answer>(
      limitMs,
      (finish) => ({
        line: (answer) => {
          finish(answerOf(answer));
        },
      }),
      () => socket.write(encodeRequest({ ...body, id })),
    );
  };

  return {
    local,
    remote,
    connectMs,
    request,
    sink(bytes, limitMs) {
      const began = performance.now();
      const id = nextId++;
      return exchange<Transfer>(
        limitMs,
        (finish) => ({
          line: (answer) => {
            const result = answerOf(answer);
            finish(
              result.kind === 'answer'
                ? { kind: 'done', elapsedMs: performance.now() - began }
                : result,
            );
          },
        }),
        () => {
          socket.write(encodeRequest({ id, op: 'sink', bytes }));
          socket.write(Buffer.alloc(bytes, 0x5a));
        },
      );
    },
    source(bytes, limitMs) {
      const began = performance.now();
      const id = nextId++;
      return exchange<Transfer>(
        limitMs,
        (finish) => ({
          line: (answer) => {
            const result = answerOf(answer);
            if (result.kind !== 'answer') finish(result);
            else expectRaw(bytes);
          },
          rawDone: () => {
            finish({ kind: 'done', elapsedMs: performance.now() - began });
          },
        }),
        () => socket.write(encodeRequest({ id, op: 'source', bytes })),
      );
    },
    close() {
      socket.destroy();
    },
  };
}
