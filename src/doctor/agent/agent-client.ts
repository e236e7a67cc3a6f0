// Opening a connection to a doctor agent: connect, then check its greeting; the session
// (agent-session.ts) carries the requests after that. The doctor, the matrix and an agent probing
// its peers all open connections here. A connect that fails says how (refused, timed out with the
// 4-tuple its SYN carried, another service answered), in the words of messages.ts.
import { connect } from 'node:net';
import { systemErrorCode } from '../../core/system-errors.ts';
import { createLineDecoder } from './line-decoder.ts';
import {
  AGENT_MAGIC,
  MAX_ANSWER_LINE_BYTES,
  type AddressPort,
  type ProbeOutcome,
} from './messages.ts';
import { makeSession, type AgentSession, type SessionEnd, type Waiter } from './agent-session.ts';

export type { AgentSession, Answer, Transfer } from './agent-session.ts';

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

    // How the connection ended, kept for requests made after it did (a reset during an idle wait).
    let endedWith: SessionEnd | undefined;
    const endWith = (how: SessionEnd['how'], errno: string | null): void => {
      endedWith ??= { how, errno };
      waiter?.end(how, errno);
    };

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
                ended: () => endedWith,
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
          endWith('error', 'EPROTO');
          socket.destroy();
          return;
        }
        waiter?.line(body as Record<string, unknown>);
      },
      raw: (chunk) => waiter?.raw(chunk),
      rawDone: () => waiter?.rawDone(),
      tooLong() {
        if (session === undefined) fail('not-an-agent', null, received());
        endWith('error', 'EMSGSIZE');
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
      else endWith(errno === 'ECONNRESET' ? 'reset' : 'error', errno);
    });
    socket.once('close', () => {
      if (session === undefined)
        fail(connectMs === undefined ? 'error' : 'reset-after-connect', null, received());
      else endWith('fin', null);
    });
  });
}
