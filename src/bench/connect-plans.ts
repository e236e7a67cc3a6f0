// The benchmark's ExecutePlan request: the gateway's SQL plan encoder, plus what PySpark 4.x adds
// to every request of a session once it knows the server's session, the server-side session id it
// observed (field 8, client_observed_server_side_session_id, base.proto). A 4.x server whose
// session for that id is not the one observed (a restart, or another server) refuses the request
// instead of running it in a new, empty session. Written after the other fields, as protobuf
// encoders write fields in number order, so the fields the gateway routes by still come first;
// Spark 3.5 does not know the field and skips it.
import { encodeLenField } from '../gateway/wire/proto-scanner.ts';
import {
  encodeExecutePlanRequest,
  type RequestIdentity,
} from '../gateway/wire/spark-connect-codecs.ts';

/** ExecutePlanRequest.client_observed_server_side_session_id (Spark 4.0+). */
export const OBSERVED_SERVER_SIDE_SESSION_ID_FIELD = 8;

export interface SqlExecution extends RequestIdentity {
  readonly operationId: string;
  readonly sql: string;
  /** The server_side_session_id of earlier responses in this session, once one was seen. */
  readonly observedServerSideSessionId?: string;
}

export function encodeSqlExecutePlanRequest(request: SqlExecution): Buffer {
  const { observedServerSideSessionId, ...plain } = request;
  const body = encodeExecutePlanRequest(plain);
  if (observedServerSideSessionId === undefined) return body;
  return Buffer.concat([
    body,
    encodeLenField(
      OBSERVED_SERVER_SIDE_SESSION_ID_FIELD,
      Buffer.from(observedServerSideSessionId, 'utf8'),
    ),
  ]);
}
