// The probes' transport: one fresh connection to one resolved address, plain or TLS (certificates
// are read, never trusted or rejected), bytes sent once, and the answer collected until it is
// whole, the peer closes or resets, or time runs out. The socket is always destroyed before the
// result is returned. `tapConnection` lets node:tls and node:http2 run over a socket whose raw
// bytes are kept, so a failed handshake still shows what answered.
import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { systemErrorCode } from '../../core/system-errors.ts';
import { waitFor, type Budget, type TimedOut } from './budget.ts';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface TlsOptions {
  /** SNI; only a host name, never an IP address (RFC 6066). */
  readonly servername?: string;
  readonly alpn?: readonly string[];
}

export type ConnectionEnd =
  /** `complete` said the bytes are a whole answer. */
  | 'complete'
  | 'fin'
  | 'reset'
  /** Another socket or TLS error, see `errno`. */
  | 'error'
  | 'timeout';

export interface ExchangeResult {
  /** The TCP connection was established (for TLS: before the handshake). */
  readonly connected: boolean;
  readonly bytes: Buffer;
  readonly end: ConnectionEnd;
  readonly errno?: string;
  readonly timedOut?: TimedOut;
  readonly elapsedMs: number;
  readonly connectMs?: number;
  /** `address:port` this side used. */
  readonly local?: string;
}

export interface ExchangeOptions {
  /** Written once connected (after the handshake for TLS). */
  readonly send?: Buffer | undefined;
  readonly tls?: TlsOptions | undefined;
  /** How long to wait for the whole exchange, connect included. */
  readonly limitMs: number;
  /** Bytes kept; the exchange ends as `complete` when this many arrived. */
  readonly maxBytes?: number;
  /** Whether the bytes so far are a whole answer. */
  readonly complete: (bytes: Buffer) => boolean;
}

const DEFAULT_MAX_BYTES = 64 * 1024;

export function connectSocket(endpoint: Endpoint, tls: TlsOptions | undefined): Socket {
  const options = {
    host: endpoint.address,
    port: endpoint.port,
    autoSelectFamily: false,
    noDelay: true,
  };
  if (tls === undefined) return netConnect(options);
  return tlsConnect({
    ...options,
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    ...(tls.alpn === undefined || tls.alpn.length === 0 ? {} : { ALPNProtocols: [...tls.alpn] }),
    rejectUnauthorized: false,
  });
}

/** One request, one answer, on a fresh connection. */
export function exchange(
  endpoint: Endpoint,
  budget: Budget,
  options: ExchangeOptions,
): Promise<ExchangeResult> {
  const began = performance.now();
  const chunks: Buffer[] = [];
  let received = 0;
  let connectMs: number | undefined;
  let local: string | undefined;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const result = (end: ConnectionEnd, extra: Partial<ExchangeResult> = {}): ExchangeResult => ({
    connected: connectMs !== undefined,
    bytes: Buffer.concat(chunks),
    end,
    elapsedMs: performance.now() - began,
    ...(connectMs === undefined ? {} : { connectMs }),
    ...(local === undefined ? {} : { local }),
    ...extra,
  });
  return waitFor<ExchangeResult>(
    budget,
    options.limitMs,
    (finish) => {
      const socket = connectSocket(endpoint, options.tls);
      socket.once('connect', () => {
        connectMs = performance.now() - began;
        local = `${socket.localAddress ?? '?'}:${String(socket.localPort ?? 0)}`;
        if (options.tls === undefined && options.send !== undefined) socket.write(options.send);
      });
      socket.once('secureConnect', () => {
        if (options.send !== undefined) socket.write(options.send);
      });
      socket.on('data', (chunk: Buffer) => {
        if (received < maxBytes) chunks.push(chunk.subarray(0, maxBytes - received));
        received += chunk.length;
        if (received >= maxBytes || options.complete(Buffer.concat(chunks)))
          finish(result('complete'));
      });
      socket.once('end', () => {
        finish(result('fin'));
      });
      socket.on('error', (error) => {
        const errno = systemErrorCode(error);
        finish(result(errno === 'ECONNRESET' ? 'reset' : 'error', { errno }));
      });
      socket.once('close', () => {
        finish(result('fin'));
      });
      return () => {
        socket.destroy();
      };
    },
    (timedOut) => result('timeout', { timedOut }),
  );
}

export interface TappedConnection {
  /** The stream to run node:tls or node:http2 over. */
  readonly stream: Duplex;
  /** Raw bytes received so far (up to the limit). */
  received(): Buffer;
  /** How the raw connection ended, if it has. */
  peerEnd(): { readonly how: 'fin' | 'reset' | 'error'; readonly errno?: string } | undefined;
  destroy(): void;
}

/** Wraps a connected socket so everything it receives is also kept. */
export function tapConnection(raw: Socket, maxBytes = DEFAULT_MAX_BYTES): TappedConnection {
  const seen: Buffer[] = [];
  let seenBytes = 0;
  let ended: { how: 'fin' | 'reset' | 'error'; errno?: string } | undefined;
  const stream = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (raw.destroyed) {
        callback();
        return;
      }
      raw.write(chunk, (error) => {
        callback(error ?? null);
      });
    },
    final(callback) {
      raw.end();
      callback();
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on('data', (chunk: Buffer) => {
    if (seenBytes < maxBytes) seen.push(chunk.subarray(0, maxBytes - seenBytes));
    seenBytes += chunk.length;
    if (!stream.push(chunk)) raw.pause();
  });
  raw.once('end', () => {
    ended ??= { how: 'fin' };
    stream.push(null);
  });
  raw.on('error', (error) => {
    const errno = systemErrorCode(error);
    ended ??= { how: errno === 'ECONNRESET' ? 'reset' : 'error', errno };
    stream.destroy(error);
  });
  raw.once('close', () => {
    ended ??= { how: 'fin' };
    if (!stream.destroyed) stream.destroy();
  });
  return {
    stream,
    received: () => Buffer.concat(seen),
    peerEnd: () => ended,
    destroy: () => {
      stream.destroy();
      raw.destroy();
    },
  };
}
