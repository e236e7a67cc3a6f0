// The first request message of a call, read as its bytes arrive from any transport: the gRPC
// framing is decoded, the message's fields scanned (a compressed one inflated first), and the call
// is routable once the fields the gateway routes by are known. Small first messages are read whole,
// so operation ids are known too; a large one (a big plan, an artifact chunk) is routable as soon
// as the encoder is past field 2 and scanned on while it is forwarded.
import zlib from 'node:zlib';
import { formatSize } from '../../core/units.ts';
import { GatewayError } from '../errors.ts';
import { createGrpcMessageDecoder, type GrpcMessageDecoder } from '../wire/grpc-frame.ts';
import {
  createFieldScanner,
  scanMessage,
  type FieldScanner,
  type ScanSpec,
} from '../wire/proto-scanner.ts';

export interface PeekOptions {
  readonly spec: ScanSpec;
  readonly maxMessageBytes: number;
  /** A first message up to this size is read whole before routing. */
  readonly wholeMessageBytes: number;
  /** grpc-encoding of the request, for a compressed first message. */
  readonly encoding: string | undefined;
}

export interface FirstMessagePeek {
  readonly decoder: GrpcMessageDecoder;
  /** Defined once the first message started (for a compressed one, once it was inflated). */
  readonly scanner: FieldScanner | undefined;
  readonly firstMessageDone: boolean;
  /** Feeds request bytes; throws a GatewayError for a malformed or oversize message. */
  push(chunk: Buffer): void;
  /** Whether the routing fields are known. */
  routable(): boolean;
}

export function createFirstMessagePeek(options: PeekOptions): FirstMessagePeek {
  return new Peek(options);
}

// A class, not closures: one is made for every call, so its methods are shared, not allocated.
class Peek implements FirstMessagePeek {
  readonly decoder: GrpcMessageDecoder;
  scanner: FieldScanner | undefined;
  firstMessageDone = false;
  private readonly options: PeekOptions;
  private compressedBody: Buffer[] | undefined;
  private firstLength = 0;

  constructor(options: PeekOptions) {
    this.options = options;
    this.decoder = createGrpcMessageDecoder({ maxMessageBytes: options.maxMessageBytes });
  }

  push(chunk: Buffer): void {
    for (const event of this.decoder.push(chunk)) {
      if (this.firstMessageDone) continue;
      if (event.kind === 'start') {
        this.firstLength = event.length;
        if (event.compressed) this.compressedBody = [];
        else this.scanner = createFieldScanner(this.options.spec, event.length);
      } else if (event.kind === 'data') {
        if (this.compressedBody !== undefined) this.compressedBody.push(event.bytes);
        else this.scanner?.push(event.bytes);
      } else {
        if (this.compressedBody !== undefined)
          this.scanner = scanMessage(
            inflate(Buffer.concat(this.compressedBody), this.options),
            this.options.spec,
          );
        else this.scanner?.end();
        this.firstMessageDone = true;
      }
    }
  }

  routable(): boolean {
    return (
      this.scanner !== undefined &&
      (this.firstMessageDone ||
        (this.scanner.passed > 2 && this.firstLength > this.options.wholeMessageBytes))
    );
  }
}

function inflate(body: Buffer, options: PeekOptions): Buffer {
  const limits = { maxOutputLength: options.maxMessageBytes };
  try {
    switch (options.encoding) {
      case 'gzip':
        return zlib.gunzipSync(body, limits);
      case 'deflate':
        return zlib.inflateSync(body, limits);
      default:
        throw new GatewayError(
          'GW_UNIMPLEMENTED',
          `the request message is compressed with "${options.encoding ?? '(no grpc-encoding)'}", which the sparkplane gateway cannot read; use gzip, deflate or no compression`,
        );
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError(
      'GW_MALFORMED_MESSAGE',
      `the compressed request message does not decompress (limit ${formatSize(options.maxMessageBytes)}): ${String(error)}`,
      { cause: error },
    );
  }
}
