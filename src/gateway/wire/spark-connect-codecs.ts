// Codecs for the few whole Spark Connect messages the gateway writes or reads itself: its health
// probe's Config call, the replies it gives on its own (ReleaseSession of an unknown session), and
// the messages the tests and the benchmark exchange with it. Field numbers are Spark's
// (base.proto); everything else about a call the gateway leaves as bytes.
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { forEachField, readUtf8, toBuffer } from './proto-scanner.ts';
import {
  SESSION_ID_FIELD,
  USER_CONTEXT_FIELD,
  USER_ID_FIELD,
  type Mutable,
} from './spark-connect.ts';

const LEN = WireType.LengthDelimited;

/** Writes session_id = 1 and user_context = 2 { user_id = 1 }, the start of every request. */
function writeRequestStart(sessionId: string, userId: string): BinaryWriter {
  return new BinaryWriter()
    .tag(SESSION_ID_FIELD, LEN)
    .string(sessionId)
    .tag(USER_CONTEXT_FIELD, LEN)
    .fork()
    .tag(USER_ID_FIELD, LEN)
    .string(userId)
    .join();
}

export interface RequestIdentity {
  readonly sessionId: string;
  readonly userId: string;
  readonly clientType?: string;
}

export type ConfigOperation =
  | { readonly set: Readonly<Record<string, string>> }
  | { readonly get: readonly string[] }
  | { readonly getOption: readonly string[] };

/** ConfigRequest { operation = 3 { set = 1 | get = 2 | get_option = 4 }; client_type = 4 } */
export function encodeConfigRequest(
  request: RequestIdentity & { readonly operation: ConfigOperation },
): Buffer {
  const writer = writeRequestStart(request.sessionId, request.userId).tag(3, LEN).fork();
  const { operation } = request;
  if ('set' in operation) {
    // Set { repeated KeyValue pairs = 1 }, KeyValue { key = 1; optional value = 2 }
    writer.tag(1, LEN).fork();
    for (const [key, value] of Object.entries(operation.set))
      writer.tag(1, LEN).fork().tag(1, LEN).string(key).tag(2, LEN).string(value).join();
    writer.join();
  } else {
    // Get and GetOption are both { repeated string keys = 1 }.
    const keys = 'get' in operation ? operation.get : operation.getOption;
    writer.tag('get' in operation ? 2 : 4, LEN).fork();
    for (const key of keys) writer.tag(1, LEN).string(key);
    writer.join();
  }
  writer.join();
  if (request.clientType !== undefined) writer.tag(4, LEN).string(request.clientType);
  return toBuffer(writer.finish());
}

export interface ConfigResponse {
  readonly sessionId: string;
  readonly serverSideSessionId?: string;
  readonly pairs: { readonly key: string; readonly value?: string }[];
  readonly warnings: string[];
}

/** ConfigResponse { session_id = 1; pairs = 2; warnings = 3; server_side_session_id = 4 } */
export function decodeConfigResponse(bytes: Uint8Array): ConfigResponse {
  const out: Mutable<ConfigResponse> = { sessionId: '', pairs: [], warnings: [] };
  forEachField(bytes, 'the Config response', (field, wireType, reader) => {
    if (wireType !== LEN) reader.skip(wireType, field);
    else if (field === 1) out.sessionId = readUtf8(reader);
    else if (field === 2) out.pairs.push(decodeKeyValue(reader.bytes()));
    else if (field === 3) out.warnings.push(readUtf8(reader));
    else if (field === 4) out.serverSideSessionId = readUtf8(reader);
    else reader.skip(wireType, field);
  });
  return out;
}

function decodeKeyValue(bytes: Uint8Array): { key: string; value?: string } {
  const pair: { key: string; value?: string } = { key: '' };
  forEachField(bytes, 'a KeyValue of the Config response', (field, wireType, reader) => {
    if (wireType === LEN && field === 1) pair.key = readUtf8(reader);
    else if (wireType === LEN && field === 2) pair.value = readUtf8(reader);
    else reader.skip(wireType, field);
  });
  return pair;
}

/** ReleaseSessionRequest { client_type = 3 } */
export function encodeReleaseSessionRequest(request: RequestIdentity): Buffer {
  const writer = writeRequestStart(request.sessionId, request.userId);
  if (request.clientType !== undefined) writer.tag(3, LEN).string(request.clientType);
  return toBuffer(writer.finish());
}

/** AnalyzePlanRequest { client_type = 3; spark_version = 10 (empty SparkVersion) } */
export function encodeAnalyzeSparkVersionRequest(request: RequestIdentity): Buffer {
  const writer = writeRequestStart(request.sessionId, request.userId);
  if (request.clientType !== undefined) writer.tag(3, LEN).string(request.clientType);
  writer.tag(10, LEN).bytes(new Uint8Array(0));
  return toBuffer(writer.finish());
}

export interface AnalyzeSparkVersionResponse {
  readonly sessionId: string;
  readonly serverSideSessionId?: string;
  readonly version?: string;
}

/** AnalyzePlanResponse { session_id = 1; spark_version = 8 { version = 1 }; server_side_session_id = 15 } */
export function decodeAnalyzeSparkVersionResponse(bytes: Uint8Array): AnalyzeSparkVersionResponse {
  const out: Mutable<AnalyzeSparkVersionResponse> = { sessionId: '' };
  forEachField(bytes, 'the AnalyzePlan response', (field, wireType, reader) => {
    if (wireType !== LEN) reader.skip(wireType, field);
    else if (field === 1) out.sessionId = readUtf8(reader);
    else if (field === 15) out.serverSideSessionId = readUtf8(reader);
    else if (field === 8) {
      forEachField(reader.bytes(), 'the SparkVersion', (inner, innerType, versionReader) => {
        if (innerType === LEN && inner === 1) out.version = readUtf8(versionReader);
        else versionReader.skip(innerType, inner);
      });
    } else reader.skip(wireType, field);
  });
  return out;
}

export interface ArrowBatch {
  readonly rowCount: bigint;
  /** Decoded: a view of the response bytes, not a copy. */
  readonly data: Uint8Array;
}

export interface ExecutePlanResponse {
  readonly sessionId: string;
  readonly operationId?: string;
  readonly responseId?: string;
  readonly serverSideSessionId?: string;
  /** response_type oneof: at most one of arrowBatch and resultComplete. */
  readonly arrowBatch?: ArrowBatch;
  readonly resultComplete?: boolean;
}

/**
 * ExecutePlanResponse { session_id = 1; arrow_batch = 2 { row_count = 1; data = 2 };
 * operation_id = 12; response_id = 13; result_complete = 14 {}; server_side_session_id = 15 }
 */
export function encodeExecutePlanResponse(response: ExecutePlanResponse): Buffer {
  if (response.arrowBatch !== undefined && response.resultComplete === true)
    throw new RangeError('arrow_batch and result_complete share a oneof; set one of them');
  const writer = new BinaryWriter().tag(1, LEN).string(response.sessionId);
  if (response.arrowBatch !== undefined) {
    const batch = response.arrowBatch;
    writer.tag(2, LEN).fork().tag(1, WireType.Varint).int64(batch.rowCount);
    writer.tag(2, LEN).bytes(batch.data).join();
  }
  if (response.operationId !== undefined) writer.tag(12, LEN).string(response.operationId);
  if (response.responseId !== undefined) writer.tag(13, LEN).string(response.responseId);
  if (response.resultComplete === true) writer.tag(14, LEN).bytes(new Uint8Array(0));
  if (response.serverSideSessionId !== undefined)
    writer.tag(15, LEN).string(response.serverSideSessionId);
  return toBuffer(writer.finish());
}

export function decodeExecutePlanResponse(bytes: Uint8Array): ExecutePlanResponse {
  const out: Mutable<ExecutePlanResponse> = { sessionId: '' };
  forEachField(bytes, 'the ExecutePlan response', (field, wireType, reader) => {
    if (wireType !== LEN) reader.skip(wireType, field);
    else if (field === 1) out.sessionId = readUtf8(reader);
    else if (field === 2) out.arrowBatch = decodeArrowBatch(reader.bytes());
    else if (field === 12) out.operationId = readUtf8(reader);
    else if (field === 13) out.responseId = readUtf8(reader);
    else if (field === 14) {
      reader.skip(wireType, field);
      out.resultComplete = true;
    } else if (field === 15) out.serverSideSessionId = readUtf8(reader);
    else reader.skip(wireType, field);
  });
  return out;
}

function decodeArrowBatch(bytes: Uint8Array): ArrowBatch {
  let rowCount = 0n;
  let data: Uint8Array = new Uint8Array(0);
  forEachField(bytes, 'an ArrowBatch', (field, wireType, reader) => {
    if (wireType === WireType.Varint && field === 1) rowCount = BigInt(reader.int64());
    else if (wireType === LEN && field === 2) data = reader.bytes();
    else reader.skip(wireType, field);
  });
  return { rowCount, data };
}

/**
 * ExecutePlanRequest { plan = 3; client_type = 4; operation_id = 6 }. The plan is either opaque
 * Plan bytes or SQL text, sent as Plan { root = 1: Relation { sql = 10: SQL { query = 1 } } }.
 */
export function encodeExecutePlanRequest(
  request: RequestIdentity & {
    readonly operationId?: string;
    readonly sql?: string;
    readonly planBytes?: Uint8Array;
  },
): Buffer {
  if ((request.sql === undefined) === (request.planBytes === undefined))
    throw new RangeError('encodeExecutePlanRequest needs exactly one of sql and planBytes');
  const writer = writeRequestStart(request.sessionId, request.userId).tag(3, LEN);
  if (request.planBytes !== undefined) writer.bytes(request.planBytes);
  else {
    writer.fork().tag(1, LEN).fork().tag(10, LEN).fork();
    writer
      .tag(1, LEN)
      .string(request.sql ?? '')
      .join()
      .join()
      .join();
  }
  if (request.clientType !== undefined) writer.tag(4, LEN).string(request.clientType);
  if (request.operationId !== undefined) writer.tag(6, LEN).string(request.operationId);
  return toBuffer(writer.finish());
}

/** ReleaseSessionResponse { session_id = 1; server_side_session_id = 2 } */
export function encodeReleaseSessionResponse(
  sessionId: string,
  serverSideSessionId?: string,
): Buffer {
  const writer = new BinaryWriter().tag(1, LEN).string(sessionId);
  if (serverSideSessionId !== undefined) writer.tag(2, LEN).string(serverSideSessionId);
  return toBuffer(writer.finish());
}

/** ConfigResponse { session_id = 1; pairs = 2 (KeyValue); server_side_session_id = 4 } */
export function encodeConfigResponse(response: {
  readonly sessionId: string;
  readonly serverSideSessionId?: string;
  readonly pairs: readonly { readonly key: string; readonly value?: string }[];
}): Buffer {
  const writer = new BinaryWriter().tag(1, LEN).string(response.sessionId);
  for (const pair of response.pairs) {
    writer.tag(2, LEN).fork().tag(1, LEN).string(pair.key);
    if (pair.value !== undefined) writer.tag(2, LEN).string(pair.value);
    writer.join();
  }
  if (response.serverSideSessionId !== undefined)
    writer.tag(4, LEN).string(response.serverSideSessionId);
  return toBuffer(writer.finish());
}
