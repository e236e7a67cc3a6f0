// Talking to a doctor agent: connect, check its greeting, then one request at a time — a JSON
// line out, a JSON line back, raw bytes around sink and source. The doctor, the matrix and an
// agent probing its peers all use this. A connect that fails says how (refused, timed out with
// the 4-tuple its SYN carried, another service answered), in the words of messages.ts.
import { connect, type Socket } from 'node:net';
import { systemErrorCode } from '../../core/system-errors.ts';
import { createLineDecoder } from './line-decoder.ts';
import {
  AGENT_MAGIC,
  MAX_ANSWER_LINE_BYTES,
  encodeRequest,
  type AddressPort,
  type ProbeOutcome,
  type Request,
} from './messages.ts';

export interface OpenOptions {
  /** For the connect and the greeting together. */
  readonly timeoutMs: number;
  /** Source address to bind (an agent probing from the address it listens on). */
  readonly localAddress?: string;
  /** Source port to bind (a retry from a low port proves a partial ephemeral-range rule). */
  readonly localPort?: number;
  /** TCP keepalive idle time; none when unset (the idle probe compares both). */
  readonly keepAliveMs?: number;
}

export type OpenResult =
  | { readonly kind: 'open'; readonly session: AgentSession }
  | {
      readonly kind: 'failed';
      readonly outcome: Exclude<ProbeOutcome, 'connected'>;
      readonly errno: string | null;
      readonly elapsedMs: number;
      readonly local: AddressPort | null;
      readonly answerHex?: string;
    };

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

interface Waiter {
  line(body: Record<string, unknown>): void;
  raw(chunk: Buffer): void;
  rawDone(): void;
  end(how: 'fin' | 'reset' | 'error', errno: string | null): void;
}

export function outcomeOfErrno(errno: string): Exclude<ProbeOutcome, 'connected'> {
  switch (errno) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return 'unreachable';
    case 'ENETUNREACH':
      return 'no-route';
    case 'ECONNRESET':
      return 'reset-after-connect';
    default:
      return 'error';
  }
}

export function openAgentSession(remote: AddressPort, options: OpenOptions): Promise<OpenResult> {
  const began = performance.now();
  return new Promise((resolve) => {
    const socket = connect({
      host: remote.address,
      port: remote.port,
      noDelay: true,
      autoSelectFamily: false,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      ...(options.localPort === undefined ? {} : { localPort: options.localPort }),
    });
    let connectMs: number | undefined;
    let waiter: Waiter | undefined;
    let session: AgentSession | undefined;
    let settled = false;
    const localOf = (): AddressPort | null =>
      socket.localAddress === undefined || socket.localPort === undefined
        ? null
        : { address: socket.localAddress, port: socket.localPort };
    const fail = (
      outcome: Exclude<ProbeOutcome, 'connected'>,
      errno: string | null,
      answer?: Buffer,
    ): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const local = localOf();
      socket.destroy();
      resolve({
        kind: 'failed',
        outcome,
        errno,
        elapsedMs: performance.now() - began,
        local,
        ...(answer === undefined ? {} : { answerHex: answer.subarray(0, 64).toString('hex') }),
      });
    };
    const timer = setTimeout(() => {
      fail(connectMs === undefined ? 'timeout' : 'not-an-agent', null, received());
    }, options.timeoutMs);
    const firstBytes: Buffer[] = [];
    const received = (): Buffer | undefined =>
      firstBytes.length === 0 ? undefined : Buffer.concat(firstBytes);

    const decoder = createLineDecoder(MAX_ANSWER_LINE_BYTES, {
      line(text) {
        if (session === undefined) {
          if (text === AGENT_MAGIC) {
            settled = true;
            clearTimeout(timer);
            session = makeSession(
              socket,
              remote,
              connectMs ?? 0,
              (bytes) => {
                decoder.expectRaw(bytes);
              },
              {
                get: () => waiter,
                set: (next) => {
                  waiter = next;
                },
              },
            );
            resolve({ kind: 'open', session });
          } else fail('not-an-agent', null, received());
          return;
        }
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        if (typeof body !== 'object' || body === null) {
          waiter?.end('error', 'EPROTO');
          socket.destroy();
          return;
        }
        waiter?.line(body as Record<string, unknown>);
      },
      raw: (chunk) => waiter?.raw(chunk),
      rawDone: () => waiter?.rawDone(),
      tooLong() {
        if (session === undefined) fail('not-an-agent', null, received());
        waiter?.end('error', 'EMSGSIZE');
        socket.destroy();
      },
    });

    socket.once('connect', () => {
      connectMs = performance.now() - began;
      if (options.keepAliveMs !== undefined) socket.setKeepAlive(true, options.keepAliveMs);
    });
    socket.on('data', (chunk: Buffer) => {
      if (session === undefined && firstBytes.length < 4) firstBytes.push(chunk);
      decoder.push(chunk);
    });
    socket.on('error', (error) => {
      const errno = systemErrorCode(error);
      if (session === undefined)
        fail(
          connectMs === undefined ? outcomeOfErrno(errno) : 'reset-after-connect',
          errno,
          received(),
        );
      else waiter?.end(errno === 'ECONNRESET' ? 'reset' : 'error', errno);
    });
    socket.once('close', () => {
      if (session === undefined)
        fail(connectMs === undefined ? 'error' : 'reset-after-connect', null, received());
      else waiter?.end('fin', null);
    });
  });
}

function makeSession(
  socket: Socket,
  remote: AddressPort,
  connectMs: number,
  expectRaw: (bytes: number) => void,
  slot: { get(): Waiter | undefined; set(next: Waiter | undefined): void },
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
        resolve(onTimeout(0));
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
