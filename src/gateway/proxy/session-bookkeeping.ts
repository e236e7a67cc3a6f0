// What a relayed call teaches the session table: the ids its first response carries (Spark 4.x's
// server-side session id, an operation id, a cloned session), and a released session to forget.
import { GrpcStatus } from '../errors.ts';
import { gatewayChannels } from '../observability-channels.ts';
import { keyOf, type SessionBinding } from '../routing/affinity-store.ts';
import type { SessionTable } from '../routing/session-table.ts';
import { createGrpcMessageDecoder, type GrpcMessageDecoder } from '../wire/grpc-frame.ts';
import { createFieldScanner, type FieldScanner } from '../wire/proto-scanner.ts';
import {
  readResponseIds,
  responseScanSpec,
  type ResponseIds,
  type SparkConnectMethodName,
} from '../wire/spark-connect.ts';

export interface ResponseScan {
  done: boolean;
  ids: ReturnType<typeof readResponseIds> | undefined;
  push(chunk: Buffer): void;
}

/** Scans the first response message for the ids the gateway records (server-side session id, operation id). */
export function createResponseScan(method: SparkConnectMethodName): ResponseScan {
  const decoder: GrpcMessageDecoder = createGrpcMessageDecoder({ maxMessageBytes: 0x7fffffff });
  let scanner: FieldScanner | undefined;
  const scan: ResponseScan = {
    done: false,
    ids: undefined,
    push(chunk) {
      for (const event of decoder.push(chunk)) {
        if (event.kind === 'start') {
          if (event.compressed) {
            scan.done = true;
            return;
          }
          scanner = createFieldScanner(responseScanSpec(method), event.length);
        } else if (event.kind === 'data') scanner?.push(event.bytes);
        else {
          scanner?.end();
          if (scanner !== undefined) scan.ids = readResponseIds(scanner, method);
          scan.done = true;
          return;
        }
      }
    },
  };
  return scan;
}

/** Records what a call's first response said: server-side session id, operation id, a clone. */
export function noteResponseIds(
  sessions: SessionTable,
  key: string,
  binding: SessionBinding | undefined,
  ids: ResponseIds,
  client: string,
): void {
  if (ids.serverSideSessionId !== undefined && ids.serverSideSessionId !== '')
    sessions.noteServerSideSessionId(key, ids.serverSideSessionId);
  if (ids.operationId !== undefined && ids.operationId !== '')
    sessions.addOperation(ids.operationId, key);
  if (ids.newSessionId !== undefined && ids.newSessionId !== '' && binding !== undefined)
    void bindClone(sessions, binding, ids.newSessionId, client);
}

/** CloneSession made a new session on the same server: it must be routed there too. */
async function bindClone(
  sessions: SessionTable,
  source: SessionBinding,
  newSessionId: string,
  client: string,
): Promise<void> {
  const now = Date.now();
  const { created } = await sessions.bind({
    ...source,
    sessionId: newSessionId,
    createdAt: now,
    lastSeenAt: now,
    serverSideSessionId: undefined,
    clientAddress: client,
  });
  if (created)
    gatewayChannels.sessionPlaced.publish({
      backend: source.backend,
      userId: source.userId,
      sessionId: newSessionId,
      principal: source.principal,
      client,
    });
}

/** Session bookkeeping once a call ended: a released session is forgotten. */
export function afterCall(
  sessions: SessionTable,
  call: { readonly method: string; readonly status: number; readonly client: string },
  key: string,
): void {
  if (call.method !== 'ReleaseSession' || call.status !== GrpcStatus.OK) return;
  const binding = sessions.find(key);
  if (binding !== undefined) {
    void sessions.release(keyOf(binding)).then(() => {
      gatewayChannels.sessionEnded.publish({
        backend: binding.backend,
        userId: binding.userId,
        sessionId: binding.sessionId,
        principal: binding.principal,
        client: call.client,
        reason: 'released',
      });
    });
  }
}
