// The gateway's native core (native/, Rust through N-API), when it was built: the pinned relay's
// protocol logic compiled, for the CPU it saves per call. It is optional: without it (no Rust
// toolchain where sparkplane was installed) everything runs in TypeScript, which the native core
// is held to by parity tests.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { SecretMasker } from '../proxy/secret-masker.ts';

/** Where `scripts/build-native` puts the addon: native/ at the top of the checkout. */
export const NATIVE_ADDON_PATH = fileURLToPath(
  new URL('../../../native/sparkplane-native.node', import.meta.url),
);

export const NATIVE_BUILD_HINT =
  'build it with scripts/build-native (needs Rust: cargo, from rustup.rs or the distribution)';

/** An HPACK decoder mirroring one peer encoder's table, as createHpackDecoder in wire/hpack.ts. */
export interface NativeHpackDecoder {
  /** The fields of one complete block, as [name0, value0, name1, value1, …] (latin1). Throws. */
  decode(block: Buffer): string[];
  allowTableSize(size: number): void;
  readonly tableChanges: number;
}

/** The routing fields of one request message, as readRoutingFields in wire/spark-connect.ts. */
export interface NativeRoutingFields {
  sessionId?: string;
  userId?: string;
  userName?: string;
  operationId?: string;
  observedServerSideSessionId?: string;
  newSessionId?: string;
}

/** The ids of a call's first response, as ResponseIds in wire/spark-connect.ts. */
export interface NativeResponseIds {
  sessionId?: string;
  serverSideSessionId?: string;
  operationId?: string;
  newSessionId?: string;
  newServerSideSessionId?: string;
}

/** One HTTP/2 frame as the native parser saw it. */
export interface NativeFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** What a pinned connection is set up with (see native/addon/src/relay_api.rs). */
export interface PinnedEngineConfig {
  maxConcurrentStreams: number;
  maxMessageBytes: number;
  wholeFirstMessageBytes: number;
  backendToken?: string | undefined;
  authenticating: boolean;
  rewriteUserId: boolean;
  /** OK unary calls of cached sessions are reported in summaries (kind CALLS), not one by one. */
  summarizePlainCalls: boolean;
}

/** What the numbers of a pinned connection's event do not say; fields by event kind. */
export interface PinnedEventDetails {
  path?: string;
  principal?: string;
  sessionId?: string;
  userId?: string;
  operationId?: string;
  /** Route of a compressed first message: the message, gRPC-framed, and its grpc-encoding. */
  compressedMessage?: Buffer;
  encoding?: string;
  authorization?: string;
  kind?: string;
  httpMethod?: string;
  contentType?: string;
  message?: string;
  fault?: string;
  responseSessionId?: string;
  serverSideSessionId?: string;
  responseOperationId?: string;
  newSessionId?: string;
}

/**
 * One pinned client connection in the native core. Each method that takes `io` and `scratch`
 * writes its output there (layout in relay_api.rs) and returns 0, or the length `io` must have,
 * after which `output` gives the same output again.
 */
export interface NativePinnedEngine {
  clientBytes(chunk: Buffer, now: number, epoch: number, io: Float64Array, scratch: Buffer): number;
  serverBytes(chunk: Buffer, now: number, io: Float64Array, scratch: Buffer): number;
  output(io: Float64Array, scratch: Buffer): number;
  takeScratch(): Buffer;
  pin(authority: string, io: Float64Array, scratch: Buffer): number;
  forward(
    stream: number,
    slot: number,
    cache: boolean,
    serverSideKnown: boolean,
    io: Float64Array,
    scratch: Buffer,
  ): number;
  authenticated(
    stream: number,
    principal: string,
    validUntil: number,
    now: number,
    io: Float64Array,
    scratch: Buffer,
  ): number;
  answerError(
    stream: number,
    status: number,
    message: string,
    now: number,
    io: Float64Array,
    scratch: Buffer,
  ): number;
  answerFrames(
    stream: number,
    frames: Buffer,
    dataBytes: number,
    status: number,
    now: number,
    io: Float64Array,
    scratch: Buffer,
  ): number;
  /**
   * The call's session is on another server: -1 when the call is gone (the client retries it on
   * a new connection), 0 when the gateway must answer it, or the length `io` needs (then
   * `sentAway` says which).
   */
  sendAway(stream: number, io: Float64Array, scratch: Buffer): number;
  readonly sentAway: boolean;
  close(reason: string, io: Float64Array, scratch: Buffer): number;
  /** Ends the connection for a fault of the gateway's own (GOAWAY INTERNAL_ERROR). */
  fail(detail: string, io: Float64Array, scratch: Buffer): number;
  serverGone(reason: string, now: number, io: Float64Array, scratch: Buffer): number;
  clientClosed(now: number, io: Float64Array, scratch: Buffer): number;
  expire(timeoutMs: number, now: number, io: Float64Array, scratch: Buffer): number;
  eventDetails(index: number): PinnedEventDetails;
  /**
   * Takes over the client's socket (a duplicate of `clientFd`; the caller closes its own): the
   * engine then reads and writes it itself, every method's output goes to the sockets rather
   * than into `io`, and `onNotice` says when the gateway has something to do (PinnedNotice).
   * `epochCell[0]` is the route epoch `clientBytes` is otherwise given.
   */
  adopt(
    clientFd: number,
    epochCell: Uint32Array,
    now: number,
    onNotice: (notice: number, detail: string) => void,
  ): void;
  /** Takes over the server's socket once connected; what was meant for it meanwhile goes first. */
  adoptServer(serverFd: number): void;
  /** Closes the server's socket now and the client's once written to. */
  endSockets(): void;
  /** Closes both sockets now; no notice follows. */
  release(): void;
  /** Whether the adopted server socket has read anything. */
  readonly serverSpoke: boolean;
  /** When the adopted client socket last read or wrote (performance.now() clock). */
  readonly clientActiveAt: number;
  /**
   * Whether OK calls summed up wait to be reported: with sockets, reads that JavaScript would
   * hear of only for summaries leave them to gather, and a STEP notice follows within 5 ms.
   */
  readonly holdsSummaries: boolean;
  /** A step that reports the calls summed up so far. */
  flushSummaries(io: Float64Array, scratch: Buffer): number;
  readonly heldBytes: number;
  readonly openCalls: number;
  readonly closed: boolean;
}

/** What an engine with sockets (`adopt`) tells the gateway. */
export const PinnedNotice = {
  /** A step's output is ready: fetch it with `output`. */
  STEP: 0,
  /** The client's socket ended or failed (the detail: its error); the engine's sockets are closed. */
  CLIENT_GONE: 1,
  /** The server's socket ended or failed (the detail: its error). */
  SERVER_GONE: 2,
  /** The engine caught a fault of its own; its sockets are closed. */
  FAULT: 3,
} as const;

export interface NativeCore {
  version(): string;
  PinnedEngine: new (config: PinnedEngineConfig, now: number) => NativePinnedEngine;
  /** Pinned connections whose engine holds sockets (`adopt`) not yet closed. */
  pinnedLinksOpen(): number;
  /** SparkConnectService method names in the order pinned events number them, from 1. */
  pinnedMethodNames(): string[];
  HpackDecoder: new (maxTableSize: number, maxHeaderListBytes: number) => NativeHpackDecoder;
  /** The stateless encoder of wire/hpack.ts: the same bytes for the same fields. */
  encodeHeaderBlock(fields: string[]): Buffer;
  /**
   * The routing fields of a Spark Connect request message (the protobuf body, not gRPC-framed)
   * of `method` (a SparkConnectService method name); throws as the TypeScript scan does.
   */
  scanRequest(method: string, message: Buffer): NativeRoutingFields;
  /** Every whole frame in `chunks` fed in order to one parser; throws as createFrameParser does. */
  parseFrames(chunks: Buffer[], maxPayload: number): NativeFrame[];
  /**
   * The first request message of a call of `method` read as its bytes arrive, as
   * createFirstMessagePeek in proxy/first-message-peek.ts with requestScanSpec(method) (a method
   * the table does not know: GENERIC_ROUTING). It does not inflate: once `compressed` is true it
   * reads no more of the first message (only the framing of what follows), and the call's bytes,
   * from the first, go to the TypeScript peek. Limits are integers from 0 to 2^53 - 1.
   */
  FirstMessagePeek: new (
    method: string,
    maxMessageBytes: number,
    wholeMessageBytes: number,
  ) => {
    /** Feeds request bytes; throws as the TypeScript peek does, and again on every push after. */
    push(chunk: Buffer): void;
    /** Whether the routing fields are known. */
    routable(): boolean;
    readonly firstMessageDone: boolean;
    /** The first message is compressed, so this peek leaves it to the TypeScript one. */
    readonly compressed: boolean;
    /** The routing fields captured so far, as readRoutingFields reads the peek's scanner. */
    routingFields(): NativeRoutingFields;
  };
  /**
   * The scan of a call's first response message for its ids, as createResponseScan in
   * proxy/session-bookkeeping.ts. `method` must be a SparkConnectService method name (another is
   * refused with ERR_INVALID_ARG_VALUE); the response bytes never make it throw.
   */
  ResponseScan: new (method: string) => {
    /** Feeds response bytes, gRPC-framed, cut anywhere; once `done`, they are not looked at. */
    push(chunk: Buffer): void;
    /** The first message was read, or could not be (compressed, malformed). */
    readonly done: boolean;
    /** The first message's ids: undefined until it was read, and when it could not be. */
    readonly ids: NativeResponseIds | undefined;
  };
  /** responseNamesOperations of wire/spark-connect.ts, for a SparkConnectService method name. */
  responseNamesOperations(method: string): boolean;
  /**
   * The backend token kept out of a call's response bytes, as createSecretMasker in
   * proxy/secret-masker.ts does it. Each secret below must be latin1 (characters up to U+00FF, as
   * a header value is): another is refused (ERR_INVALID_ARG_VALUE), where the TypeScript would
   * mask bodies with its characters cut to their low byte.
   */
  SecretMasker: new (secret: string) => SecretMasker;
  /** As maskInText in proxy/secret-masker.ts, over latin1 strings. */
  maskInText(text: string, secret: string): string;
  /** As maskHeaderValue in proxy/secret-masker.ts, over latin1 names and values. */
  maskHeaderValue(name: string, value: string, secret: string): string;
  /** As headerNamesSecret in proxy/secret-masker.ts, over latin1 names and values. */
  headerNamesSecret(name: string, value: string, secret: string): boolean;
}

export type NativeLoad =
  | { readonly core: NativeCore; readonly missing?: undefined }
  | { readonly core?: undefined; readonly missing: string };

let loaded: NativeLoad | undefined;

/** The native core, or why there is none (with what to do). */
export function loadNativeCore(): NativeLoad {
  loaded ??= load();
  return loaded;
}

function load(): NativeLoad {
  if (!existsSync(NATIVE_ADDON_PATH))
    return {
      missing: `the gateway's native core ${NATIVE_ADDON_PATH} is not built; ${NATIVE_BUILD_HINT}`,
    };
  try {
    const core = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeCore;
    return { core };
  } catch (error) {
    return {
      missing: `the gateway's native core ${NATIVE_ADDON_PATH} does not load (${error instanceof Error ? error.message : String(error)}); rebuild it: scripts/build-native`,
    };
  }
}
