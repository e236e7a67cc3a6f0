// What the gateway knows of Spark Connect's protocol: its methods, the few fields of each request
// and response it reads to route a call (session, user, operation), the one field it rewrites
// (user_context.user_id). Whole-message codecs are in spark-connect-codecs.ts.
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
export const USER_ID_FIELD = 1;
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
    // Not in 3.5's client stub nor its server jar.
    since: '4.0',
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
/** The Spark Connect method a path names, or undefined for another service's method. */
export function sparkConnectMethodOf(path: {
  readonly service: string;
  readonly method: string;
}): SparkConnectMethodName | undefined {
  return path.service === SPARK_CONNECT_SERVICE && isSparkConnectMethod(path.method)
    ? path.method
    : undefined;
}

export function parseMethodPath(path: string): { service: string; method: string } | undefined {
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (match === null) return undefined;
  const [, service = '', method = ''] = match;
  return { service, method };
}

const definedFields = (...fields: (number | undefined)[]): number[] =>
  fields.filter((field): field is number => field !== undefined);

const requestSpecs = new Map<SparkConnectMethodName, ScanSpec>();
const responseSpecs = new Map<SparkConnectMethodName, ScanSpec>();

export function requestScanSpec(method: SparkConnectMethodName): ScanSpec {
  let spec = requestSpecs.get(method);
  if (spec === undefined) {
    spec = buildRequestScanSpec(method);
    requestSpecs.set(method, spec);
  }
  return spec;
}

export function responseScanSpec(method: SparkConnectMethodName): ScanSpec {
  let spec = responseSpecs.get(method);
  if (spec === undefined) {
    spec = buildResponseScanSpec(method);
    responseSpecs.set(method, spec);
  }
  return spec;
}

/** Whether a response of `method` can carry ids beyond the server-side session id. */
export function responseNamesOperations(method: SparkConnectMethodName): boolean {
  const { response } = SPARK_CONNECT_METHODS[method];
  return response.operationId !== undefined || response.newSessionId !== undefined;
}

function buildRequestScanSpec(method: SparkConnectMethodName): ScanSpec {
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

function buildResponseScanSpec(method: SparkConnectMethodName): ScanSpec {
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

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

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
