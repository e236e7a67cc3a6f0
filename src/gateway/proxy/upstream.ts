// The HTTP/2 connection from the gateway to one Spark Connect server. Streams of every session on
// that server share it; a lost connection is re-made on the next request, and its loss is reported
// so the backend's identity is checked again before sessions are sent on.
import http2 from 'node:http2';
import { describeSystemError } from '../../core/system-errors.ts';
import { GatewayError } from '../errors.ts';

export interface UpstreamOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  /** Called when an established connection closes or receives GOAWAY. */
  readonly onDisconnect?: (reason: string) => void;
}

export interface Upstream {
  readonly id: string;
  /** A connected HTTP/2 session, made now if there is none. Rejects with GW_BACKEND_UNREACHABLE. */
  connect(): Promise<http2.ClientHttp2Session>;
  readonly connected: boolean;
  /** Closes the connection; open streams are cut off after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

/** Flow-control windows: large enough for a 128 MiB result to stream at loopback speed. */
const MAX_FRAME_BYTES = 1024 * 1024;
const STREAM_WINDOW_BYTES = 8 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;

export function createUpstream(options: UpstreamOptions): Upstream {
  const id = `${options.host}:${String(options.port)}`;
  const authority = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${String(options.port)}`;
  let current: Promise<http2.ClientHttp2Session> | undefined;
  let live: http2.ClientHttp2Session | undefined;
  let closed = false;

  const open = (): Promise<http2.ClientHttp2Session> =>
    new Promise((resolve, reject) => {
      const session = http2.connect(authority, {
        // Large DATA frames from the server: a streamed result then arrives in fewer, larger
        // chunks, each relayed at a fixed cost.
        settings: {
          initialWindowSize: STREAM_WINDOW_BYTES,
          enablePush: false,
          maxFrameSize: MAX_FRAME_BYTES,
        },
        maxSessionMemory: 64,
      });
      let established = false;
      const timer = setTimeout(() => {
        fail(new Error(`no connection within ${String(options.connectTimeoutMs)} ms`));
      }, options.connectTimeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        session.destroy();
        if (current !== undefined && !established) current = undefined;
        reject(
          new GatewayError(
            'GW_BACKEND_UNREACHABLE',
            `cannot reach the Spark Connect server ${id}: ${describeSystemError(error).summary}`,
            { cause: error },
          ),
        );
      };
      session.once('error', (error: Error) => {
        if (!established) fail(error);
      });
      session.once('connect', () => {
        established = true;
        clearTimeout(timer);
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
        // Streams of idle sessions must not keep the gateway process alive on their own.
        session.unref();
        live = session;
        resolve(session);
      });
      const lost = (reason: string): void => {
        if (live === session) live = undefined;
        if (current !== undefined && established && live === undefined) current = undefined;
        if (established && !closed) options.onDisconnect?.(reason);
      };
      session.on('error', () => undefined);
      session.once('goaway', (code: number) => {
        lost(`the server sent GOAWAY (code ${String(code)})`);
      });
      session.once('close', () => {
        lost('the connection closed');
      });
    });

  return {
    id,
    connect() {
      if (closed)
        return Promise.reject(new GatewayError('GW_BACKEND_GONE', `backend ${id} was removed`));
      if (live !== undefined && !live.closed && !live.destroyed) return Promise.resolve(live);
      current ??= open();
      return current;
    },
    get connected() {
      return live !== undefined && !live.closed;
    },
    async close(graceMs = 0) {
      closed = true;
      const session = live ?? (await current?.catch(() => undefined));
      if (session === undefined || session.destroyed) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          session.destroy();
        }, graceMs);
        // 'close' comes once the session is closed or destroyed; close(callback) would never call
        // back for a session that is already closing.
        session.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        // The session is unref'd while idle; closing it must keep the process alive until done.
        session.ref();
        if (!session.closed) session.close();
      });
    },
  };
}
