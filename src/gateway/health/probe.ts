// The active health probe: a real Spark Connect RPC, not a TCP connect. It asks the server, on the
// gateway's own probe session, for its Spark application id and start time through the Config RPC
// (present in 3.5 and every 4.x): an answer proves the gRPC server, the session manager and the
// SQL conf work, and the application id names the driver, so a restarted server is told apart from
// one that was briefly unreachable, on 3.5 too (which has no server-side session id).
import type http2 from 'node:http2';
import { GatewayError } from '../errors.ts';
import { grpcCall } from '../proxy/grpc-call.ts';
import { SPARK_CONNECT_SERVICE } from '../wire/spark-connect.ts';
import { decodeConfigResponse, encodeConfigRequest } from '../wire/spark-connect-codecs.ts';

/** The session the gateway's probes use on every server; a fixed UUID, so replicas share it. */
export const PROBE_SESSION_ID = 'f0e1d2c3-b4a5-4968-8776-655443322110';
export const PROBE_USER_ID = 'sparkplane-gateway-probe';

export interface ProbeResult {
  /** The driver's identity: Spark application id and start time. */
  readonly incarnation: string;
  readonly appId: string;
  readonly latencyMs: number;
}

export async function probeBackend(
  session: http2.ClientHttp2Session,
  options: { readonly timeoutMs: number; readonly backendToken?: string | undefined },
): Promise<ProbeResult> {
  const started = performance.now();
  const reply = await grpcCall(
    session,
    `/${SPARK_CONNECT_SERVICE}/Config`,
    encodeConfigRequest({
      sessionId: PROBE_SESSION_ID,
      userId: PROBE_USER_ID,
      clientType: 'sparkplane-gateway-health-check',
      operation: { getOption: ['spark.app.id', 'spark.app.startTime'] },
    }),
    {
      timeoutMs: options.timeoutMs,
      ...(options.backendToken === undefined
        ? {}
        : { metadata: { authorization: `Bearer ${options.backendToken}` } }),
    },
  );
  if (reply.status !== 0)
    throw new GatewayError(
      'GW_BACKEND_UNREACHABLE',
      `the Config health probe failed with gRPC status ${String(reply.status)}: ${reply.message || '(no message)'}`,
    );
  const body = reply.messages[0];
  if (body === undefined)
    throw new GatewayError(
      'GW_BACKEND_UNREACHABLE',
      'the Config health probe got no reply message',
    );
  const config = decodeConfigResponse(body);
  const value = (key: string): string | undefined =>
    config.pairs.find((pair) => pair.key === key)?.value;
  const appId = value('spark.app.id');
  if (appId === undefined)
    throw new GatewayError(
      'GW_BACKEND_UNREACHABLE',
      'the server answered the Config health probe without spark.app.id: it does not look like a Spark Connect server',
    );
  return {
    appId,
    incarnation: `${appId}@${value('spark.app.startTime') ?? '?'}`,
    latencyMs: performance.now() - started,
  };
}
