// The Spark Connect probe: a real gRPC call over HTTP/2 (h2c, or h2 inside TLS when the TLS layer
// found TLS). Config GetOption("spark.app.id") on a fresh random session proves a Spark Connect
// server and names its application; the session is then released (Spark 4.0+; 3.5 lets it expire).
// The raw bytes are kept, so when HTTP/2 fails the answer is still named (an HTTP/1 server, a
// Spark RPC port that closes, a TLS alert).
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { systemErrorCode } from '../../core/system-errors.ts';
import { GrpcStatus } from '../../gateway/errors.ts';
import { grpcCall, type GrpcReply } from '../../gateway/proxy/grpc-call.ts';
import { SPARK_CONNECT_SERVICE } from '../../gateway/wire/spark-connect.ts';
import {
  decodeConfigResponse,
  encodeConfigRequest,
  encodeReleaseSessionRequest,
} from '../../gateway/wire/spark-connect-codecs.ts';
import type { Check } from '../model.ts';
import { sparkRpcExchange } from './spark-rpc.ts';
import { shuffleProbeBody } from './spark-shuffle.ts';
import { waitFor } from './budget.ts';
import { hostPort, makeCheck } from './check.ts';
import {
  connectSocket,
  tapConnection,
  type ExchangeResult,
  type TappedConnection,
} from './connection.ts';
import { fixAuthRequired, fixProxyUpstream, fixWrongProtocol } from './fixes.ts';
import {
  exchangeEvidence,
  otherAnswerCheck,
  protocolCheckId,
  PROTOCOL_LIMIT_MS,
  remoteOf,
  tlsOptionsFor,
  type ProtocolContext,
} from './protocol-probe.ts';

export const PROBE_USER_ID = 'sparkplane-doctor';
const CLIENT_TYPE = 'sparkplane-doctor-probe';
/** Time left for the release after the Config answer. */
const RELEASE_LIMIT_MS = 500;

interface CallOutcome {
  /** What the connection did, as an exchange result (bytes are the raw answer). */
  readonly result: ExchangeResult;
  readonly config?: GrpcReply;
  readonly released?: number;
  readonly http2Error?: string;
}

export function grpcStatusName(status: number): string {
  const entry = Object.entries(GrpcStatus).find(([, code]) => code === status);
  return entry?.[0] ?? String(status);
}

function callConfig(context: ProtocolContext): Promise<CallOutcome> {
  const { target } = context;
  const began = performance.now();
  const sessionId = randomUUID();
  let tap: TappedConnection | undefined;
  let connectMs: number | undefined;
  let local: string | undefined;
  let config: GrpcReply | undefined;
  let released: number | undefined;
  let http2Error: string | undefined;
  const outcome = (
    end: ExchangeResult['end'],
    extra: Partial<ExchangeResult> = {},
  ): CallOutcome => {
    const peer = tap?.peerEnd();
    const result: ExchangeResult = {
      connected: connectMs !== undefined,
      bytes: tap?.received() ?? Buffer.alloc(0),
      end: end === 'complete' || peer === undefined ? end : peer.how,
      elapsedMs: performance.now() - began,
      ...(connectMs === undefined ? {} : { connectMs }),
      ...(local === undefined ? {} : { local }),
      ...(peer?.errno === undefined ? {} : { errno: peer.errno }),
      ...extra,
    };
    return {
      result,
      ...(config === undefined ? {} : { config }),
      ...(released === undefined ? {} : { released }),
      ...(http2Error === undefined ? {} : { http2Error }),
    };
  };
  return waitFor<CallOutcome>(
    context.budget,
    PROTOCOL_LIMIT_MS,
    (finish) => {
      const socket = connectSocket(context.endpoint, tlsOptionsFor(context, ['h2']));
      socket.once('connect', () => {
        connectMs = performance.now() - began;
        local = `${socket.localAddress ?? '?'}:${String(socket.localPort ?? 0)}`;
      });
      socket.on('error', (error) => {
        if (connectMs === undefined) finish(outcome('error', { errno: systemErrorCode(error) }));
      });
      const tapped = tapConnection(socket);
      tap = tapped;
      const scheme = context.secure ? 'https' : 'http';
      const session = http2.connect(`${scheme}://${hostPort(target.host, target.port)}`, {
        createConnection: () => tapped.stream,
      });
      session.on('error', (error) => {
        http2Error = systemErrorCode(error);
        finish(outcome('error'));
      });
      session.once('close', () => {
        finish(outcome(config === undefined ? 'fin' : 'complete'));
      });
      const metadata = { timeoutMs: PROTOCOL_LIMIT_MS };
      const path = (method: string): string => `/${SPARK_CONNECT_SERVICE}/${method}`;
      grpcCall(
        session,
        path('Config'),
        encodeConfigRequest({
          sessionId,
          userId: PROBE_USER_ID,
          clientType: CLIENT_TYPE,
          operation: { getOption: ['spark.app.id'] },
        }),
        metadata,
      )
        .then(async (reply) => {
          config = reply;
          if (reply.status !== 0) return;
          const release = await grpcCall(
            session,
            path('ReleaseSession'),
            encodeReleaseSessionRequest({
              sessionId,
              userId: PROBE_USER_ID,
              clientType: CLIENT_TYPE,
            }),
            { timeoutMs: Math.min(RELEASE_LIMIT_MS, context.budget.remainingMs()) },
          ).catch(() => undefined);
          released = release?.status;
        })
        .then(
          () => {
            finish(outcome('complete'));
          },
          (error: unknown) => {
            const cause = error instanceof Error ? error.cause : undefined;
            http2Error ??= systemErrorCode(cause ?? error);
            finish(outcome('error'));
          },
        );
      return () => {
        session.destroy();
        tapped.destroy();
        socket.destroy();
      };
    },
    (timedOut) => outcome('timeout', { timedOut }),
  );
}

export async function probeSparkConnect(context: ProtocolContext): Promise<Check> {
  const { target } = context;
  const { result, config, released, http2Error } = await callConfig(context);
  const remote = remoteOf(context);
  const evidence = {
    ...exchangeEvidence(result),
    ...(http2Error === undefined ? {} : { http2Error }),
  };
  const base = { id: protocolCheckId(target), layer: 'protocol' as const, evidence };
  if (config === undefined) {
    if (result.connected && result.bytes.length === 0 && result.end !== 'timeout') {
      // Closed on the HTTP/2 preface without a word: Spark RPC does that. Ask in Spark RPC.
      const spark = await sparkRpcExchange(context, shuffleProbeBody()).catch(() => undefined);
      if (spark?.reply !== undefined || spark?.otherFrame !== undefined) {
        const answered = spark.reply?.type ?? spark.otherFrame?.type ?? 'a frame';
        return makeCheck(target, {
          ...base,
          evidence: { ...evidence, sparkRpcAnswer: answered },
          status: 'fail',
          reason: 'wrong-protocol',
          summary: `${remote} speaks Spark RPC (a shuffle service, driver or master port), not Spark Connect: it closed the gRPC call without a word and answered a Spark RPC request (${answered})`,
          fix: fixWrongProtocol(target, 'Spark RPC', false),
        });
      }
    }
    return otherAnswerCheck(
      context,
      result,
      'an HTTP/2 gRPC call',
      'a Spark RPC port (7077, 7337) does that, logging "Too large frame: 5787768873619048524" (the HTTP/2 preface read as a frame length); or a TLS or mesh wrapper that drops plaintext',
    );
  }
  const status = config.status;
  const httpStatus = Number(config.headers[':status'] ?? 0);
  const server = config.headers.server;
  const grpcEvidence = {
    ...evidence,
    httpStatus,
    grpcStatus: status,
    grpcMessage: config.message,
    server: typeof server === 'string' ? server : null,
  };
  if (status === -1) {
    const described = `HTTP/2 ${String(httpStatus)} without a gRPC status${typeof server === 'string' ? `, server: ${server}` : ''}`;
    return makeCheck(target, {
      ...base,
      evidence: grpcEvidence,
      status: 'fail',
      reason: 'wrong-protocol',
      summary: `${remote} speaks HTTP/2 but not gRPC (${described})`,
      fix: fixWrongProtocol(target, described, false),
    });
  }
  const named = `${grpcStatusName(status)}${config.message === '' ? '' : `: ${config.message}`}`;
  if (status === GrpcStatus.OK) {
    const appId = decodeAppId(config);
    return makeCheck(target, {
      ...base,
      evidence: {
        ...grpcEvidence,
        appId: appId ?? null,
        releaseStatus: released === undefined ? null : grpcStatusName(released),
      },
      status: appId === undefined ? 'warn' : 'pass',
      reason: 'protocol-ok',
      summary:
        appId === undefined
          ? `${remote} answers Spark Connect's Config call, but without spark.app.id: it may not be Spark`
          : `${remote} is a Spark Connect server (application ${appId})`,
      ...(appId === undefined
        ? { fix: fixWrongProtocol(target, 'a gRPC Config answer without spark.app.id', false) }
        : {}),
    });
  }
  if (status === GrpcStatus.UNAUTHENTICATED || status === GrpcStatus.PERMISSION_DENIED) {
    return makeCheck(target, {
      ...base,
      evidence: grpcEvidence,
      status: 'warn',
      reason: 'auth-required',
      summary: `${remote} speaks gRPC and refuses calls without credentials (${named})`,
      fix: fixAuthRequired(target, 'spark-connect'),
    });
  }
  if (status === GrpcStatus.UNIMPLEMENTED) {
    return makeCheck(target, {
      ...base,
      evidence: grpcEvidence,
      status: 'fail',
      reason: 'wrong-protocol',
      summary: `${remote} is a gRPC server without Spark Connect's Config method (${named})`,
      fix: fixWrongProtocol(target, `a gRPC server that is not Spark Connect (${named})`, false),
    });
  }
  if (status === GrpcStatus.UNAVAILABLE) {
    return makeCheck(target, {
      ...base,
      evidence: grpcEvidence,
      status: 'fail',
      reason: 'no-answer',
      summary: `${remote} answers gRPC UNAVAILABLE: a proxy or gateway in front of Spark Connect cannot reach it (${named})`,
      fix: fixProxyUpstream(target, named),
    });
  }
  return makeCheck(target, {
    ...base,
    evidence: grpcEvidence,
    status: 'warn',
    reason: 'protocol-ok',
    summary: `${remote} speaks gRPC, but the Config call failed (${named})`,
    fix: {
      summary: `The server answered Spark Connect's Config call with ${named}: look for the error in the server's log, or check that ${String(target.port)} is the Spark Connect port.`,
    },
  });
}

function decodeAppId(config: GrpcReply): string | undefined {
  const body = config.messages[0];
  if (body === undefined) return undefined;
  try {
    return decodeConfigResponse(body).pairs.find((pair) => pair.key === 'spark.app.id')?.value;
  } catch {
    return undefined;
  }
}
