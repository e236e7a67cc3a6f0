// The listening side of the gateway: one port that speaks HTTP/2 (cleartext, or TLS with ALPN h2)
// and hands each stream to the proxy. Traffic that is not HTTP/2 is told what this port is and
// closed: an HTTP/1.1 request gets a 426 that says to use a Spark Connect client, a TLS hello on the
// cleartext port or cleartext on the TLS port is logged with the fix.
import http2 from 'node:http2';
import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { gatewayChannels } from '../observability-channels.ts';
import type { MixedClients } from './pinned/mixed-clients.ts';
import type { PinnedConnection } from './pinned/pinned-connection.ts';

export interface TlsSettings {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer | undefined;
}

export interface FrontServerOptions {
  readonly tls?: TlsSettings | undefined;
  /** Streams one client connection may have open at once. */
  readonly maxConcurrentStreams: number;
  /** A connection that sends nothing for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly onStream: (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    connection: ClientConnection,
  ) => void;
  /**
   * `--relay pinned`: connections (TLS ones once decrypted) are relayed frame by frame to one
   * server each, but for clients whose connections mixed sessions of several servers lately.
   */
  readonly pinned?:
    | {
        readonly relay: (
          socket: net.Socket,
          connection: ClientConnection,
          onClosed: () => void,
        ) => PinnedConnection;
        readonly mixedClients: MixedClients;
      }
    | undefined;
}

/** What the proxy knows about the client connection a stream arrived on. */
export interface ClientConnection {
  readonly id: number;
  /** "address:port" of the client as the gateway sees it. */
  readonly remote: string;
  readonly tls: boolean;
  /** The Spark Connect session the last routed request on this connection belonged to. */
  lastSessionKey: string | undefined;
}

export interface FrontServer {
  /** The TCP server to listen with. */
  readonly server: net.Server;
  /** Open client HTTP/2 sessions. */
  readonly sessions: ReadonlySet<http2.ServerHttp2Session>;
  /** Open pinned connections (`--relay pinned`). */
  readonly pinned: ReadonlySet<PinnedConnection>;
  /** Sends GOAWAY to every client and stops accepting; resolves when all sessions ended. */
  close(deadlineMs: number): Promise<boolean>;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const HTTP1_REQUEST = /^[A-Z]{3,10} \S+ HTTP\/1\.[01]\r?\n/;
const NOT_HTTP2_REPLY =
  'HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nUpgrade: h2c\r\n\r\n' +
  'This is the sparkplane gateway: a Spark Connect endpoint that speaks gRPC over HTTP/2, not HTTP/1.1.\n' +
  'Connect with a Spark Connect client, e.g. pyspark --remote sc://HOST:PORT\n';

let nextConnectionId = 1;

function newClientConnection(socket: net.Socket, tls: boolean): ClientConnection {
  return {
    id: nextConnectionId++,
    remote: `${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? 0)}`,
    tls,
    lastSessionKey: undefined,
  };
}

export function createFrontServer(options: FrontServerOptions): FrontServer {
  const settings: http2.Settings = {
    maxConcurrentStreams: options.maxConcurrentStreams,
    enablePush: false,
    initialWindowSize: 8 * 1024 * 1024,
  };
  const common = {
    settings,
    maxSessionMemory: 64,
    // Abuse bounds: peers that keep sending invalid frames or resetting streams are cut off.
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    streamResetBurst: 1000,
    streamResetRate: 100,
    maxHeaderSize: 64 * 1024,
  };
  const open = new Set<http2.ServerHttp2Session>();
  const pinned = options.pinned;
  // Pinned TLS connections are decrypted by a TLS server of the gateway's own, which hands the
  // ones it terminates after all to a cleartext HTTP/2 server.
  const h2 =
    options.tls === undefined || pinned !== undefined
      ? http2.createServer(common)
      : http2.createSecureServer({
          ...common,
          cert: options.tls.cert,
          key: options.tls.key,
          ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
          ALPNProtocols: ['h2'],
          allowHTTP1: false,
        });

  h2.on('session', (session: http2.ServerHttp2Session) => {
    open.add(session);
    const connection = newClientConnection(session.socket, options.tls !== undefined);
    session.setLocalWindowSize(64 * 1024 * 1024);
    gatewayChannels.connectionOpened.publish({ client: connection.remote });
    session.setTimeout(options.idleTimeoutMs, () => {
      session.close();
    });
    session.on('error', (error: Error) => {
      gatewayChannels.requestRejected.publish({
        kind: 'http2-session-error',
        client: connection.remote,
        detail: error.message,
      });
    });
    session.on('frameError', (type: number, code: number) => {
      gatewayChannels.requestRejected.publish({
        kind: 'http2-frame-error',
        client: connection.remote,
        detail: `frame type ${String(type)} failed with code ${String(code)}`,
      });
    });
    session.once('close', () => {
      open.delete(session);
      gatewayChannels.connectionClosed.publish({ client: connection.remote });
    });
    session.on('stream', (stream, headers) => {
      options.onStream(stream, headers, connection);
    });
  });

  const pinnedOpen = new Set<PinnedConnection>();
  const toHttp2 = (socket: net.Socket): void => {
    if (pinned === undefined || pinned.mixedClients.has(socket.remoteAddress ?? '')) {
      h2.emit('connection', socket);
      return;
    }
    const connection = newClientConnection(socket, options.tls !== undefined);
    const remote = connection.remote;
    gatewayChannels.connectionOpened.publish({ client: remote });
    socket.setTimeout(options.idleTimeoutMs, () => {
      relayed.close();
    });
    const relayed = pinned.relay(socket, connection, () => {
      pinnedOpen.delete(relayed);
      gatewayChannels.connectionClosed.publish({ client: remote });
    });
    pinnedOpen.add(relayed);
  };

  const notHttp2 = (socket: TLSSocket): void => {
    reject(
      socket,
      'tls-not-h2',
      `the client negotiated ${String(socket.alpnProtocol)} instead of h2`,
    );
    socket.end(NOT_HTTP2_REPLY);
    // Read on, so that the client's end is seen and the socket closes.
    socket.resume();
  };
  const handshakeFailed = (error: Error, socket: TLSSocket): void => {
    reject(
      socket,
      'tls-handshake',
      /wrong version number|http request/i.test(error.message)
        ? 'a cleartext client connected to the TLS port; use sc://HOST:PORT/;use_ssl=true (or a token, which implies TLS)'
        : `TLS handshake failed: ${error.message}`,
    );
  };
  let server: net.Server;
  if (options.tls === undefined) {
    server = net.createServer((socket) => {
      sniff(socket, toHttp2, options.idleTimeoutMs);
    });
  } else if (pinned !== undefined) {
    const secure = tls.createServer(
      {
        cert: options.tls.cert,
        key: options.tls.key,
        ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
        ALPNProtocols: ['h2'],
      },
      (socket) => {
        if (socket.alpnProtocol === 'h2') toHttp2(socket);
        else notHttp2(socket);
      },
    );
    secure.on('tlsClientError', handshakeFailed);
    server = secure;
  } else {
    server = h2;
    h2.on('unknownProtocol', notHttp2);
    h2.on('tlsClientError', handshakeFailed);
  }

  return {
    server,
    sessions: open,
    pinned: pinnedOpen,
    close(deadlineMs) {
      return new Promise((resolve) => {
        server.close();
        for (const session of open) session.close();
        for (const connection of pinnedOpen) connection.close();
        if (open.size === 0 && pinnedOpen.size === 0) {
          resolve(true);
          return;
        }
        const timer = setTimeout(() => {
          for (const session of open) session.destroy();
          for (const connection of pinnedOpen) connection.destroy();
          resolve(false);
        }, deadlineMs);
        timer.unref();
        const poll = setInterval(() => {
          if (open.size === 0 && pinnedOpen.size === 0) {
            clearInterval(poll);
            clearTimeout(timer);
            resolve(true);
          }
        }, 20);
        poll.unref();
      });
    },
  };
}

function reject(socket: net.Socket, kind: string, detail: string): void {
  gatewayChannels.requestRejected.publish({
    kind,
    client: `${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? 0)}`,
    detail,
  });
}

/** Reads the first bytes of a cleartext connection and hands it on only if it is HTTP/2. */
function sniff(
  socket: net.Socket,
  onHttp2: (socket: net.Socket) => void,
  idleTimeoutMs: number,
): void {
  let seen = Buffer.alloc(0);
  socket.setTimeout(idleTimeoutMs, () => {
    socket.destroy();
  });
  socket.on('error', () => undefined);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    if (seen.subarray(0, n).equals(PREFACE.subarray(0, n))) {
      if (seen.length < PREFACE.length) return;
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      socket.unshift(seen);
      onHttp2(socket);
      return;
    }
    socket.off('data', onData);
    const text = seen.toString('latin1');
    if (HTTP1_REQUEST.test(text) || /^[A-Z]{3,10} /.test(text)) {
      reject(socket, 'http1', `HTTP/1 request "${text.split(/\r?\n/)[0]?.slice(0, 80) ?? ''}"`);
      socket.end(NOT_HTTP2_REPLY);
    } else if (seen[0] === 0x16) {
      reject(
        socket,
        'tls-on-cleartext',
        'a TLS client connected to the cleartext port; connect without use_ssl/token, or start the gateway with --tls-cert and --tls-key',
      );
      socket.destroy();
    } else {
      reject(
        socket,
        'not-http2',
        `the first bytes are not the HTTP/2 preface (${seen.subarray(0, 16).toString('hex')})`,
      );
      socket.destroy();
    }
  };
  socket.on('data', onData);
}
