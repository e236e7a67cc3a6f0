// What the gateway knows of Spark Connect's protocol: its methods, the few fields of each request
// and response it reads to route a call (session, user, operation), the one field it rewrites
// (user_context.user_id), and small codecs for the messages its health probes and tests send.
// Field numbers are Spark's (sql/connect/common/src/main/protobuf/spark/connect/base.proto); the
// gateway reads nothing else, so every other field passes through untouched.
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError } from '../errors.ts';
import {
  decodeUtf8,
  encodeLenField,
  forEachField,
  readUtf8,
  toBuffer,
  WIRE_LEN,
  type CapturedField,
  type FieldScanner,
  type ScanSpec,
} from './proto-scanner.ts';

export const SPARK_CONNECT_SERVICE = 'spark.connect.SparkConnectService';

/** Every Spark Connect request starts `string session_id = 1; UserContext user_context = 2;`. */
export const SESSION_ID_FIELD = 1;
export const USER_CONTEXT_FIELD = 2;
/** UserContext { string user_id = 1; string user_name = 2; repeated Any extensions = 999; } */
const USER_ID_FIELD = 1;
const USER_NAME_FIELD = 2;

export type SparkConnectMethodName =
  | 'ExecutePlan'
  | 'AnalyzePlan'
  | 'Config'
  | 'AddArtifacts'
  | 'ArtifactStatus'
  | 'Interrupt'
  | 'ReattachExecute'
  | 'ReleaseExecute'
  | 'ReleaseSession'
  | 'FetchErrorDetails'
  | 'CloneSession'
  | 'GetStatus';

export interface SparkConnectMethod {
  readonly streaming: 'unary' | 'server' | 'client';
  /** Request field numbers beyond session_id (1) and user_context (2). */
  readonly request: {
    readonly operationId?: number;
    /** client_observed_server_side_session_id */
    readonly observedServerSideSessionId?: number;
    readonly newSessionId?: number;
  };
  readonly response: {
    readonly sessionId: number;
    readonly serverSideSessionId?: number;
    readonly operationId?: number;
    readonly newSessionId?: number;
    readonly newServerSideSessionId?: number;
  };
  /** The server creates the session when a call names one it does not have. */
  readonly createsSession: boolean;
  /** The Spark release that introduced the method. */
  readonly since: '3.4' | '3.5' | '4.0' | '4.1' | '4.2';
}

// ReattachExecute answers with ExecutePlanResponses too.
const EXECUTE_PLAN_RESPONSE = { sessionId: 1, serverSideSessionId: 15, operationId: 12 } as const;

export const SPARK_CONNECT_METHODS: Readonly<Record<SparkConnectMethodName, SparkConnectMethod>> = {
  ExecutePlan: {
    streaming: 'server',
    request: { operationId: 6, observedServerSideSessionId: 8 },
    response: EXECUTE_PLAN_RESPONSE,
    createsSession: true,
    since: '3.4',
  },
  AnalyzePlan: {
    streaming: 'unary',
    request: { observedServerSideSessionId: 17 },
    response: { sessionId: 1, serverSideSessionId: 15 },
    createsSession: true,
    since: '3.4',
  },
  Config: {
    streaming: 'unary',
    request: { observedServerSideSessionId: 8 },
    response: { sessionId: 1, serverSideSessionId: 4 },
    createsSession: true,
    since: '3.4',
  },
  AddArtifacts: {
    streaming: 'client',
    request: { observedServerSideSessionId: 7 },
    response: { sessionId: 2, serverSideSessionId: 3 },
    createsSession: true,
    since: '3.4',
  },
  ArtifactStatus: {
    streaming: 'unary',
    request: { observedServerSideSessionId: 5 },
    response: { sessionId: 2, serverSideSessionId: 3 },
    createsSession: true,
    since: '3.5',
  },
  // operation_id = 6 shares a oneof with operation_tag = 5.
  Interrupt: {
    streaming: 'unary',
    request: { operationId: 6, observedServerSideSessionId: 7 },
    response: { sessionId: 1, serverSideSessionId: 3 },
    createsSession: true,
    since: '3.5',
  },
  ReattachExecute: {
    streaming: 'server',
    request: { operationId: 3, observedServerSideSessionId: 6 },
    response: EXECUTE_PLAN_RESPONSE,
    createsSession: false,
    since: '3.5',
  },
  ReleaseExecute: {
    streaming: 'unary',
    request: { operationId: 3, observedServerSideSessionId: 7 },
    response: { sessionId: 1, serverSideSessionId: 3, operationId: 2 },
    createsSession: false,
    since: '3.5',
  },
  // Has no client_observed_server_side_session_id.
  ReleaseSession: {
    streaming: 'unary',
    request: {},
    response: { sessionId: 1, serverSideSessionId: 2 },
    createsSession: false,
    since: '4.0',
  },
  FetchErrorDetails: {
    streaming: 'unary',
    request: { observedServerSideSessionId: 5 },
    response: { sessionId: 4, serverSideSessionId: 3 },
    createsSession: true,
    since: '3.5',
  },
  CloneSession: {
    streaming: 'unary',
    request: { observedServerSideSessionId: 5, newSessionId: 4 },
    response: { sessionId: 1, serverSideSessionId: 2, newSessionId: 3, newServerSideSessionId: 4 },
    createsSession: false,
    since: '4.1',
  },
  GetStatus: {
    streaming: 'unary',
    request: { observedServerSideSessionId: 4 },
    response: { sessionId: 1, serverSideSessionId: 2 },
    createsSession: false,
    since: '4.2',
  },
};

export function isSparkConnectMethod(name: string): name is SparkConnectMethodName {
  return Object.hasOwn(SPARK_CONNECT_METHODS, name);
}

/** Splits a gRPC `:path` such as `/spark.connect.SparkConnectService/ExecutePlan`. */
export function parseMethodPath(path: string): { service: string; method: string } | undefined {
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (match === null) return undefined;
  const [, service = '', method = ''] = match;
  return { service, method };
}

const definedFields = (...fields: (number | undefined)[]): number[] =>
  fields.filter((field): field is number => field !== undefined);

export function requestScanSpec(method: SparkConnectMethodName): ScanSpec {
  const { request } = SPARK_CONNECT_METHODS[method];
  return {
    capture: definedFields(
      SESSION_ID_FIELD,
      USER_CONTEXT_FIELD,
      request.operationId,
      request.observedServerSideSessionId,
      request.newSessionId,
    ),
    subject: `the ${method} request`,
  };
}

export function responseScanSpec(method: SparkConnectMethodName): ScanSpec {
  const { response } = SPARK_CONNECT_METHODS[method];
  return {
    capture: definedFields(
      response.sessionId,
      response.serverSideSessionId,
      response.operationId,
      response.newSessionId,
      response.newServerSideSessionId,
    ),
    subject: `the ${method} response`,
  };
}

export interface RoutingFields {
  readonly sessionId?: string;
  readonly userId?: string;
  readonly userName?: string;
  readonly operationId?: string;
  readonly observedServerSideSessionId?: string;
  readonly newSessionId?: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The routing facts of a request scanned with `requestScanSpec(method)`. Like the server, it keeps
 * the last occurrence of a string and merges repeated user_context messages.
 */
export function readRoutingFields(
  scanner: FieldScanner,
  method: SparkConnectMethodName,
): RoutingFields {
  const { request } = SPARK_CONNECT_METHODS[method];
  const subject = `the ${method} request`;
  const out: Mutable<RoutingFields> = {};
  const read = (key: keyof RoutingFields, field: number | undefined, name: string): void => {
    if (field === undefined) return;
    const value = lastString(scanner, field, subject, name);
    if (value !== undefined) out[key] = value;
  };
  read('sessionId', SESSION_ID_FIELD, 'session_id');
  read('operationId', request.operationId, 'operation_id');
  read(
    'observedServerSideSessionId',
    request.observedServerSideSessionId,
    'client_observed_server_side_session_id',
  );
  read('newSessionId', request.newSessionId, 'new_session_id');
  rejectOversized(scanner, USER_CONTEXT_FIELD, subject, 'user_context');
  const contexts = scanner.fields.filter(
    (entry) => entry.field === USER_CONTEXT_FIELD && entry.wireType === WIRE_LEN,
  );
  if (contexts.length > 0) {
    // Concatenated occurrences decode exactly as protobuf merges them.
    const user = decodeUserContext(Buffer.concat(contexts.map((entry) => entry.value)), subject);
    if (user.userId !== undefined) out.userId = user.userId;
    if (user.userName !== undefined) out.userName = user.userName;
  }
  return out;
}

export interface ResponseIds {
  readonly sessionId?: string;
  readonly serverSideSessionId?: string;
  readonly operationId?: string;
  readonly newSessionId?: string;
  readonly newServerSideSessionId?: string;
}

/** The ids in a response scanned with `responseScanSpec(method)`. */
export function readResponseIds(
  scanner: FieldScanner,
  method: SparkConnectMethodName,
): ResponseIds {
  const { response } = SPARK_CONNECT_METHODS[method];
  const subject = `the ${method} response`;
  const out: Mutable<ResponseIds> = {};
  for (const key of Object.keys(response) as (keyof ResponseIds)[]) {
    const field = response[key];
    const value = field === undefined ? undefined : lastString(scanner, field, subject, key);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Once the whole request was scanned: refuses more than one user_context. Protobuf merges repeated
 * occurrences, so a copy the gateway did not rewrite would override the user id it set. Pass
 * `inserted` when `rewriteRequestPrefix` added a user_context, which the scanner never saw.
 */
export function assertSingleUserContext(
  scanner: FieldScanner,
  method: SparkConnectMethodName,
  inserted = false,
): void {
  const subject = `the ${method} request`;
  rejectOversized(scanner, USER_CONTEXT_FIELD, subject, 'user_context');
  const seen = scanner.fields.filter((entry) => entry.field === USER_CONTEXT_FIELD).length;
  const count = seen + (inserted ? 1 : 0);
  if (count > 1) {
    throw new GatewayError(
      'GW_BAD_REQUEST',
      `${subject} carries user_context ${count} times; the gateway sets the user id and accepts one user_context per request`,
    );
  }
}

/**
 * Re-encodes a UserContext with `user_id` set to `userId`, written first; every other field (user_name,
 * extensions, unknown fields) keeps its bytes and order. Every earlier user_id is dropped.
 */
export function replaceUserId(userContext: Buffer, userId: string): Buffer {
  const kept: Uint8Array[] = [];
  forEachField(userContext, 'the user_context', (field, wireType, reader, start) => {
    reader.skip(wireType, field);
    if (field !== USER_ID_FIELD) kept.push(userContext.subarray(start, reader.pos));
  });
  const writer = new BinaryWriter().tag(USER_ID_FIELD, WireType.LengthDelimited).string(userId);
  for (const bytes of kept) writer.raw(bytes);
  return toBuffer(writer.finish());
}

/**
 * Rewrites the start of a request so its user_context carries `newUserId`. `prefix` holds the
 * message from byte 0 through at least `field2.end`; the bytes after it stream on unchanged, and the
 * caller adds `delta` to the gRPC length prefix. A request without user_context gets one inserted
 * at byte 0: any parser accepts fields in any order, and the position then depends on nothing the
 * scanner may not have seen yet. Call `assertSingleUserContext` once the message has ended.
 */
export function rewriteRequestPrefix(
  prefix: Buffer,
  field2: CapturedField | undefined,
  newUserId: string,
): { bytes: Buffer; delta: number } {
  if (field2 === undefined) {
    const inserted = encodeLenField(USER_CONTEXT_FIELD, replaceUserId(Buffer.alloc(0), newUserId));
    return { bytes: Buffer.concat([inserted, prefix]), delta: inserted.length };
  }
  if (field2.field !== USER_CONTEXT_FIELD || prefix.length < field2.end) {
    throw new GatewayError(
      'GW_INTERNAL',
      `rewriteRequestPrefix needs field 2 within the prefix (field ${field2.field} ends at ${field2.end}, prefix has ${prefix.length} bytes)`,
    );
  }
  if (field2.wireType !== WIRE_LEN) {
    throw new GatewayError(
      'GW_MALFORMED_MESSAGE',
      `malformed protobuf in the request at byte ${field2.start}: user_context (field 2) is not a message`,
    );
  }
  const replacement = encodeLenField(USER_CONTEXT_FIELD, replaceUserId(field2.value, newUserId));
  const bytes = Buffer.concat([
    prefix.subarray(0, field2.start),
    replacement,
    prefix.subarray(field2.end),
  ]);
  return { bytes, delta: replacement.length - (field2.end - field2.start) };
}

function decodeUserContext(bytes: Buffer, subject: string): { userId?: string; userName?: string } {
  const user: { userId?: string; userName?: string } = {};
  forEachField(bytes, `the user_context of ${subject}`, (field, wireType, reader) => {
    if (wireType === WireType.LengthDelimited && field === USER_ID_FIELD)
      user.userId = readUtf8(reader);
    else if (wireType === WireType.LengthDelimited && field === USER_NAME_FIELD)
      user.userName = readUtf8(reader);
    else reader.skip(wireType, field);
  });
  return user;
}

function lastString(
  scanner: FieldScanner,
  field: number,
  subject: string,
  name: string,
): string | undefined {
  rejectOversized(scanner, field, subject, name);
  const entry = scanner.fields.findLast(
    (candidate) => candidate.field === field && candidate.wireType === WIRE_LEN,
  );
  if (entry === undefined) return undefined;
  try {
    return decodeUtf8(entry.value);
  } catch (error) {
    throw new GatewayError(
      'GW_MALFORMED_MESSAGE',
      `malformed protobuf in ${subject} at byte ${entry.start}: ${name} (field ${field}) is not valid UTF-8`,
      { cause: error },
    );
  }
}

/** An id too long to capture would be the one the server keeps, so reading on would misroute. */
function rejectOversized(
  scanner: FieldScanner,
  field: number,
  subject: string,
  name: string,
): void {
  if (scanner.oversized.includes(field)) {
    throw new GatewayError(
      'GW_BAD_REQUEST',
      `${subject} has a ${name} (field ${field}) too long for the gateway to read; Spark Connect sends ids of a few dozen bytes`,
    );
  }
}

// ---- Codecs for the messages the gateway's probes send and its tests exchange ----

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
