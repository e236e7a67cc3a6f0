// Graceful close for HTTP servers: stop accepting, let requests in flight finish, and cut off
// whatever is still open when the deadline passes.
import type { Server } from 'node:http';

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
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve(drained);
    });
    // Keep-alive connections with no request in flight would hold close() open until they time out.
    server.closeIdleConnections();
  });
}
