// A test stand-in for a NAT gateway's idle timer, on loopback: a TCP relay that forgets a flow
// idle longer than its timer, then either drops what comes next in silence (Azure, GCP) or
// answers it with a reset (AWS NAT gateway). Userland cannot see keepalive probes, so here a
// kept-alive flow expires too; the lab proves keepalive with a real conntrack timer.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ExpiringProxy {
  readonly port: number;
  close(): Promise<void>;
}

export async function startExpiringProxy(
  upstream: { address: string; port: number },
  idleMs: number,
  expiry: 'silent' | 'reset',
): Promise<ExpiringProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): Socket => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    return socket;
  };
  const server: Server = createServer((client) => {
    track(client);
    const backend = track(connect({ host: upstream.address, port: upstream.port }));
    let last = Date.now();
    let expired = false;
    const relay = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!expired && Date.now() - last > idleMs) {
          expired = true;
          if (expiry === 'reset') {
            client.resetAndDestroy();
            backend.destroy();
          }
        }
        if (expired) return;
        last = Date.now();
        to.write(chunk);
      });
    };
    relay(client, backend);
    relay(backend, client);
    client.once('close', () => backend.destroy());
    backend.once('close', () => client.destroy());
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          done();
        });
      }),
  };
}
