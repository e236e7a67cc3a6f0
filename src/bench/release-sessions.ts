// The end of a run: every session that started is released with ReleaseSession, on its own
// connection (a new one if that broke), so the servers free the sessions at once instead of at
// their idle timeout. Spark 3.5 has no ReleaseSession; its UNIMPLEMENTED is counted apart, not
// as a failure.
import { GrpcStatus } from '../gateway/errors.ts';
import { encodeReleaseSessionRequest } from '../gateway/wire/spark-connect-codecs.ts';
import { benchSession } from './bench-channels.ts';
import { grpcStatusName, type BenchStats } from './bench-stats.ts';
import { openConnection, type ConnectConnection, type ConnectEndpoint } from './connect-client.ts';

export interface ReleaseSummary {
  readonly released: number;
  /** Spark 3.5 has no ReleaseSession; its sessions end when the server's idle timeout does. */
  readonly unimplemented: number;
  readonly failed: number;
}

export interface ReleaseContext {
  readonly endpoint: ConnectEndpoint;
  readonly userId: string;
  readonly clientType: string;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly stats: BenchStats;
  /** By session index; replaced when a broken one is opened again. */
  readonly connections: (ConnectConnection | undefined)[];
}

export async function releaseSessions(
  context: ReleaseContext,
  sessions: readonly { readonly index: number; readonly sessionId: string }[],
): Promise<ReleaseSummary> {
  let released = 0;
  let unimplemented = 0;
  let failed = 0;
  const fail = (status: string, message: string): void => {
    failed++;
    context.stats.recordFailure(status, 'ReleaseSession', message);
  };
  await Promise.all(
    sessions.map(async (session) => {
      let connection = context.connections[session.index];
      // A session that never got a connection never reached a server.
      if (connection === undefined) return;
      if (!connection.usable) {
        connection.close();
        try {
          connection = await openConnection(context.endpoint, context.connectTimeoutMs);
        } catch (error) {
          fail('UNAVAILABLE', error instanceof Error ? error.message : String(error));
          return;
        }
        context.connections[session.index] = connection;
      }
      const reply = await connection.unary(
        'ReleaseSession',
        encodeReleaseSessionRequest({
          sessionId: session.sessionId,
          userId: context.userId,
          clientType: context.clientType,
        }),
        context.timeoutMs,
      );
      if (reply.status === GrpcStatus.OK) released++;
      else if (reply.status === GrpcStatus.UNIMPLEMENTED) unimplemented++;
      else if (reply.timedOut) fail('DEADLINE_EXCEEDED', reply.message);
      else if (reply.transportError !== undefined) fail('UNAVAILABLE', reply.message);
      else fail(grpcStatusName(reply.status), reply.message);
      benchSession.publish({
        sessionIndex: session.index,
        sessionId: session.sessionId,
        state: 'released',
      });
    }),
  );
  return { released, unimplemented, failed };
}
