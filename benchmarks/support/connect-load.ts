// The gateway benchmark's clients, the same for every path, so that what differs between paths is
// only what sits between client and server: unary Config calls with many in flight, from h2load
// (nghttp2's native HTTP/2 load generator); and on node:http2 connections, one large streamed
// ExecutePlan result, counted as it arrives and never collected, and many new sessions opened and
// then left idle.
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { grpcCall } from '../../src/gateway/proxy/grpc-call.ts';
import {
  GRPC_HEADER_BYTES,
  createGrpcMessageDecoder,
  encodeGrpcMessage,
} from '../../src/gateway/wire/grpc-frame.ts';
import { encodeConfigRequest } from '../../src/gateway/wire/spark-connect-codecs.ts';
import { percentile } from './measure.ts';

const SERVICE = '/spark.connect.SparkConnectService';
const execFileAsync = promisify(execFile);
export const USER_ID = 'bench';
/** Streams per connection; the gateway allows 256 per client connection. */
const STREAMS_PER_CONNECTION = 128;
const CALL_TIMEOUT_MS = 10_000;
/** A cell stops early after this many failed calls: the numbers would mean nothing. */
const MAX_ERRORS = 1000;

export async function connect(port: number, count: number): Promise<http2.ClientHttp2Session[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<http2.ClientHttp2Session>((resolve, reject) => {
          const session = http2.connect(`http://127.0.0.1:${String(port)}`, {
            settings: { initialWindowSize: 8 * 1024 * 1024, enablePush: false },
          });
          session.once('error', reject);
          session.once('connect', () => {
            session.setLocalWindowSize(64 * 1024 * 1024);
            session.off('error', reject);
            session.on('error', () => undefined);
            resolve(session);
          });
        }),
    ),
  );
}

export function disconnect(connections: readonly http2.ClientHttp2Session[]): void {
  for (const connection of connections) connection.destroy();
}

export const connectionsFor = (streams: number): number =>
  Math.ceil(streams / STREAMS_PER_CONNECTION);

/** A Config GetOption of one key: small, answered from the session's SQL conf. */
export function configRequest(sessionId: string): Buffer {
  return encodeConfigRequest({
    sessionId,
    userId: USER_ID,
    operation: { getOption: ['spark.sql.shuffle.partitions'] },
  });
}

export interface UnaryResult {
  readonly streams: number;
  readonly calls: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/** h2load, nghttp2's HTTP/2 load generator, when it is installed. */
export function findH2load(): { binary: string; version: string } | undefined {
  for (const binary of ['h2load', '/usr/bin/h2load', '/usr/local/bin/h2load']) {
    const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0)
      return { binary, version: `h2load ${/nghttp2\/(\S+)/.exec(probe.stdout)?.[1] ?? '?'}` };
  }
  return undefined;
}

export const H2LOAD_INSTALL_HINT =
  'h2load is not installed: install the Debian package (apt-get install -y nghttp2-client) or put h2load on PATH';

/** The calls before h2load's measured time: connections opened, every path's code warm. */
const H2LOAD_WARM_UP_MS = 500;

/**
 * Unary Config calls of one session with `streams` in flight for `seconds`, from h2load: a native
 * client, so that its own CPU is not what the latencies measure (node:http2 spent about 200 µs per
 * call, taken from the server and the proxy on a small machine). It sends one request body, so
 * every call carries the same session; `streams` are spread over connections of at most 128.
 * h2load checks the HTTP status only: one call checked first must end with gRPC status 0, or the
 * path is not answering Config calls and the numbers would mean nothing.
 */
export async function unaryLoad(
  h2load: string,
  port: number,
  sessionId: string,
  streams: number,
  seconds: number,
  /** Called when h2load's measured time starts (its warm-up is over), e.g. to read CPU counters. */
  onMeasuredStart?: () => void,
): Promise<UnaryResult> {
  const request = configRequest(sessionId);
  const [connection] = await connect(port, 1);
  if (connection === undefined) throw new Error('no connection');
  try {
    const reply = await grpcCall(connection, `${SERVICE}/Config`, request, {
      timeoutMs: CALL_TIMEOUT_MS,
    });
    if (reply.status !== 0)
      throw new Error(
        `Config through 127.0.0.1:${String(port)} ended with gRPC status ${String(reply.status)}: ${reply.message}`,
      );
  } finally {
    disconnect([connection]);
  }
  const connections = connectionsFor(streams);
  const running = runH2load(h2load, port, 'Config', request, seconds + 30, [
    `--clients=${String(connections)}`,
    `--max-concurrent-streams=${String(Math.ceil(streams / connections))}`,
    `--duration=${String(Math.round(seconds * 1000))}ms`,
    `--warm-up-time=${String(H2LOAD_WARM_UP_MS)}ms`,
  ]);
  // h2load logs only the calls of its measured time; what is counted against them starts there.
  const measuring =
    onMeasuredStart === undefined ? undefined : setTimeout(onMeasuredStart, H2LOAD_WARM_UP_MS);
  const run = await running.finally(() => {
    clearTimeout(measuring);
  });
  const latencies = run.calls
    .filter((call) => call.status === 200)
    .map((call) => call.micros / 1000)
    .sort((a, b) => a - b);
  return {
    streams,
    calls: latencies.length,
    callsPerSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors: run.failed,
  };
}

interface H2loadRun {
  /**
   * Per call: HTTP status and µs until the end of the response. Status 0: no response yet when
   * the time was up; such a call is neither measured nor failed.
   */
  readonly calls: readonly { readonly status: number; readonly micros: number }[];
  /** HTTP statuses other than 2xx/3xx, resets, network errors, timeouts. */
  readonly failed: number;
  /** Bytes of DATA frames received: the gRPC messages with their 5-byte prefixes. */
  readonly dataBytes: number;
}

/** h2load sending `request` as the body of every call of `method`, with `options`. */
async function runH2load(
  h2load: string,
  port: number,
  method: string,
  request: Uint8Array,
  timeoutSeconds: number,
  options: readonly string[],
): Promise<H2loadRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-h2load-'));
  try {
    const body = join(dir, 'request');
    const log = join(dir, 'calls.tsv');
    writeFileSync(body, encodeGrpcMessage(request));
    const { stdout } = await execFileAsync(
      h2load,
      [
        ...options,
        `--data=${body}`,
        '--header=content-type: application/grpc',
        '--header=te: trailers',
        `--log-file=${log}`,
        `http://127.0.0.1:${String(port)}${SERVICE}/${method}`,
      ],
      { encoding: 'utf8', timeout: timeoutSeconds * 1000 },
    );
    const failed = /(\d+) failed, \d+ errored/.exec(stdout);
    const data = /\((\d+)\) data/.exec(stdout);
    if (failed === null || data === null)
      throw new Error(`h2load printed no request counts or traffic:\n${stdout}`);
    const calls = readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        // Start (µs since the epoch), HTTP status, µs until the end of the response.
        const [, status, micros] = line.split('\t');
        return { status: Number(status), micros: Number(micros) };
      });
    return { calls, failed: Number(failed[1]), dataBytes: Number(data[1]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface CheckedResult {
  /** Bytes of the gRPC messages' bodies. */
  readonly payloadBytes: number;
  readonly messages: number;
  /** The messages with their 5-byte prefixes: what a client receives as DATA. */
  readonly framedBytes: number;
}

/**
 * One ExecutePlan call on node:http2 whose result is decoded as it arrives, counted and checked:
 * it must end with gRPC status 0.
 */
export async function checkExecutePlan(
  port: number,
  request: Uint8Array,
  timeoutMs: number,
): Promise<CheckedResult> {
  const [connection] = await connect(port, 1);
  if (connection === undefined) throw new Error('no connection');
  const decoder = createGrpcMessageDecoder({ maxMessageBytes: 256 * 1024 * 1024 });
  let payloadBytes = 0;
  try {
    const status = await new Promise<string>((resolve, reject) => {
      const stream = connection.request({
        ':method': 'POST',
        ':path': `${SERVICE}/ExecutePlan`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let grpcStatus = 'none';
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`ExecutePlan did not finish within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      stream.on('response', (headers) => {
        grpcStatus = String(headers['grpc-status'] ?? grpcStatus);
      });
      stream.on('trailers', (trailers: http2.IncomingHttpHeaders) => {
        grpcStatus = String(trailers['grpc-status'] ?? grpcStatus);
      });
      stream.on('data', (chunk: Buffer) => {
        for (const event of decoder.push(chunk))
          if (event.kind === 'data') payloadBytes += event.bytes.length;
      });
      stream.on('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
      stream.on('close', () => {
        clearTimeout(timer);
        resolve(grpcStatus);
      });
      stream.end(encodeGrpcMessage(request));
    });
    if (status !== '0') throw new Error(`ExecutePlan ended with gRPC status ${status}`);
  } finally {
    disconnect([connection]);
  }
  return {
    payloadBytes,
    messages: decoder.messages,
    framedBytes: payloadBytes + GRPC_HEADER_BYTES * decoder.messages,
  };
}

export interface StreamResult {
  /** DATA bytes received: the gRPC messages with their 5-byte prefixes. */
  readonly bytes: number;
  readonly seconds: number;
  readonly mbPerSecond: number;
}

/** How far a streamed result's size may be from the checked one's. */
const RESULT_SIZE_TOLERANCE = 0.001;

/**
 * One ExecutePlan call from h2load, its result read and dropped as it arrives, timed from the
 * request to the end of the response. h2load does not read gRPC statuses: the caller checked the
 * same request with `checkExecutePlan` and passes the bytes it received, and a result more than
 * 0.1% larger or smaller fails.
 */
export async function streamExecutePlan(
  h2load: string,
  port: number,
  request: Uint8Array,
  timeoutMs: number,
  expectedBytes: number,
): Promise<StreamResult> {
  const run = await runH2load(h2load, port, 'ExecutePlan', request, timeoutMs / 1000, [
    '--requests=1',
    '--clients=1',
    '--max-concurrent-streams=1',
  ]);
  const [call] = run.calls;
  // Spark's result carries ids and metrics whose encoded length varies a little from run to run.
  const sameSize = Math.abs(run.dataBytes - expectedBytes) <= expectedBytes * RESULT_SIZE_TOLERANCE;
  if (call?.status !== 200 || run.failed > 0 || !sameSize)
    throw new Error(
      `ExecutePlan through 127.0.0.1:${String(port)} from h2load: HTTP status ${String(call?.status ?? 'none')}, ` +
        `${String(run.dataBytes)} bytes where the checked call received ${String(expectedBytes)}`,
    );
  const seconds = call.micros / 1e6;
  return { bytes: run.dataBytes, seconds, mbPerSecond: run.dataBytes / 1024 / 1024 / seconds };
}

/**
 * Opens `count` new sessions (one Config call each, fresh session ids) with `workers` calls in
 * flight, each worker on a connection of its own, and leaves the connections open: the caller
 * gets them back to close once it has measured the idle state.
 */
export async function openSessions(
  port: number,
  count: number,
  workers: number,
): Promise<{ connections: http2.ClientHttp2Session[]; opened: number; errors: number }> {
  const connections = await connect(port, workers);
  let next = 0;
  let opened = 0;
  let errors = 0;
  await Promise.all(
    connections.map(async (connection) => {
      while (next < count && errors < MAX_ERRORS) {
        next++;
        try {
          const reply = await grpcCall(
            connection,
            `${SERVICE}/Config`,
            configRequest(randomUUID()),
            {
              timeoutMs: CALL_TIMEOUT_MS,
            },
          );
          if (reply.status === 0) opened++;
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { connections, opened, errors };
}
