// The lab's servers, run inside a namespace as one process: `node lab-server.ts '<json>'` with a
// list of listeners, each one kind of peer the doctor must recognise. It prints `READY` once all
// listen, and `ACCEPT <port> <peer>` for every connection (what the peer saw, for NAT checks).
//   echo   echoes bytes; the line `WHO` is answered with `PEER <address>:<port>`
//   http   a small web server, like the Spark UI
//   envoy  HTTP that calls itself envoy and answers bytes it cannot parse with Envoy's 400
//   tls    a TLS server on a port that should be plaintext; `requestCert` makes it a mutual-TLS
//          sidecar that demands a client certificate
//   reset  accepts and resets at once, like a redirecting sidecar with nothing behind it
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { ListenerSpec } from './three-namespaces.ts';

const listeners = JSON.parse(process.argv[2] ?? '[]') as ListenerSpec[];

function announce(port: number, socket: Socket): void {
  process.stdout.write(
    `ACCEPT ${String(port)} ${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? 0)}\n`,
  );
}

function echo(port: number): (socket: Socket) => void {
  return (socket) => {
    announce(port, socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      if (chunk.toString() === 'WHO\n')
        socket.write(`PEER ${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? 0)}\n`);
      else socket.write(chunk);
    });
  };
}

function web(listener: ListenerSpec): HttpServer {
  const envoy = listener.kind === 'envoy';
  const server = createHttpServer((request, response) => {
    response.setHeader('content-type', 'text/html');
    if (envoy) response.setHeader('server', 'envoy');
    response.end(envoy ? 'no healthy upstream' : '<html><title>Spark Jobs</title></html>');
    request.resume();
  });
  server.on('connection', (socket: Socket) => {
    announce(listener.port, socket);
  });
  server.on('clientError', (_error, socket: Socket) => {
    const server = envoy ? 'server: envoy\r\n' : '';
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n${server}connection: close\r\n\r\nBad Request`,
    );
  });
  return server;
}

function make(listener: ListenerSpec): Server | HttpServer {
  switch (listener.kind) {
    case 'echo':
      return createServer(echo(listener.port));
    case 'http':
    case 'envoy':
      return web(listener);
    case 'tls': {
      const requestCert = listener.requestCert === true;
      const server = createTlsServer(
        {
          cert: readFileSync(listener.certFile ?? ''),
          key: readFileSync(listener.keyFile ?? ''),
          requestCert,
          rejectUnauthorized: requestCert,
        },
        (socket) => {
          // It reads and never answers: a TLS port whose real service is not ours to speak.
          socket.on('error', () => undefined);
          socket.resume();
        },
      );
      server.on('connection', (socket: Socket) => {
        announce(listener.port, socket);
      });
      server.on('tlsClientError', () => undefined);
      return server;
    }
    case 'reset':
      return createServer((socket) => {
        announce(listener.port, socket);
        socket.resetAndDestroy();
      });
  }
}

const servers = await Promise.all(
  listeners.map(
    (listener) =>
      new Promise<Server | HttpServer>((resolve, reject) => {
        const server = make(listener);
        server.once('error', reject);
        server.listen(listener.port, listener.host, () => {
          resolve(server);
        });
      }),
  ),
);
process.stdout.write('READY\n');

// A lab whose test process died without its teardown must not leave servers behind.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();

process.once('SIGTERM', () => {
  for (const server of servers) server.close();
  process.exit(0);
});
