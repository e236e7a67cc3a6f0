// Starting a server on its address: one place for the listen error a person reads (which
// service, which address, what to do) and the event every service publishes once it listens.
import type { AddressInfo, Server } from 'node:net';
import { channels } from './diagnostics.ts';
import { listenError } from './system-errors.ts';

/** The bound address of a TCP server, or undefined before it listens. */
export function boundAddress(server: Server): AddressInfo | undefined {
  const value = server.address();
  return value !== null && typeof value === 'object' ? value : undefined;
}

/** Listens on host:port; publishes `serviceListening` under `service` and resolves with the address. */
export function listenOn(
  server: Server,
  service: string,
  what: string,
  host: string,
  port: number,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(listenError(what, host, port, error));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const bound = boundAddress(server);
      if (bound === undefined) {
        reject(new Error(`${what} has no TCP address after listen`));
        return;
      }
      channels.serviceListening.publish({ service, address: bound.address, port: bound.port });
      resolve(bound);
    });
  });
}
