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
   * one after another (answers carry no order of their own), each timed from its own start.
   */
  const exchange = <T>(
    limitMs: number,
    onTimeout: (waitedMs: number) => T,
    build: (finish: (value: T) => void) => Waiter,
    send: () => void,
  ): Promise<T> => {
    const run = queue.then(() => exchangeNow(limitMs, onTimeout, build, send));
    queue = run;
    return run;
  };

  const exchangeNow = <T>(
    limitMs: number,
    onTimeout: (waitedMs: number) => T,
    build: (finish: (value: T) => void) => Waiter,
    send: () => void,
  ): Promise<T> =>
    new Promise((resolve) => {
      const began = performance.now();
      if (socket.destroyed) {
        const end = slot.ended() ?? { how: 'fin', errno: null };
        build(resolve).end(end.how, end.errno);
        return;
      }
      const finish = (value: T): void => {
        clearTimeout(timer);
        slot.set(undefined);
        resolve(value);
      };
      const timer = setTimeout(() => {
        finish(onTimeout(performance.now() - began));
      }, limitMs);
      slot.set(build(finish));
      send();
    });

  const ended = (how: 'fin' | 'reset' | 'error', errno: string | null) =>
    ({ kind: 'closed', how, errno }) as const;
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
      (waitedMs) => ({ kind: 'timeout', waitedMs }),
      (finish) => ({
        line: (answer) => {
          finish(answerOf(answer));
        },
        raw: () => undefined,
        rawDone: () => undefined,
        end: (how, errno) => {
          finish(ended(how, errno));
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
        (waitedMs) => ({ kind: 'timeout', waitedMs }),
        (finish) => ({
          line: (answer) => {
            const result = answerOf(answer);
            finish(
              result.kind === 'answer'
                ? { kind: 'done', elapsedMs: performance.now() - began }
                : result,
            );
          },
          raw: () => undefined,
          rawDone: () => undefined,
          end: (how, errno) => {
            finish(ended(how, errno));
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
        (waitedMs) => ({ kind: 'timeout', waitedMs }),
        (finish) => ({
          line: (answer) => {
            const result = answerOf(answer);
            if (result.kind !== 'answer') finish(result);
            else expectRaw(bytes);
          },
          raw: () => undefined,
          rawDone: () => {
            finish({ kind: 'done', elapsedMs: performance.now() - began });
          },
          end: (how, errno) => {
            finish(ended(how, errno));
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
