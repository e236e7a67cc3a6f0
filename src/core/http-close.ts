// Graceful close for HTTP servers: stop accepting, let requests in flight finish, and cut off
// whatever is still open when the deadline passes.
import type { Server } from 'node:http';

const IDLE_SWEEP_MS = 20;

/** Resolves true when every request finished before the deadline, false when some were cut off. */
export function closeHttpServer(server: Server, deadlineMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve(true);
      return;
    }
    let drained = true;
    const timer = setTimeout(() => {
      drained = false;
      server.closeAllConnections();
    }, deadlineMs);
    // A keep-alive connection becomes idle when its request in flight finishes; it would then hold
    // close() open until its keep-alive timeout, so idle connections are closed as they appear.
    const sweeper = setInterval(() => {
      server.closeIdleConnections();
    }, IDLE_SWEEP_MS);
    timer.unref();
    sweeper.unref();
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweeper);
      resolve(drained);
    });
    server.closeIdleConnections();
  });
}
