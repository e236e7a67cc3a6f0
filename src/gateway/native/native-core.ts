// The gateway's native core (native/, Rust through N-API), when it was built: the pinned relay's
// protocol logic compiled, for the CPU it saves per call. It is optional: without it (no Rust
// toolchain where sparkplane was installed) everything runs in TypeScript, which the native core
// is held to by parity tests.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

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

/** One HTTP/2 frame as the native parser saw it. */
export interface NativeFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export interface NativeCore {
  version(): string;
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
