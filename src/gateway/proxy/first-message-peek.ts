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
  const decoder = createGrpcMessageDecoder({ maxMessageBytes: options.maxMessageBytes });
  let scanner: FieldScanner | undefined;
  let compressedBody: Buffer[] | undefined;
  let firstLength = 0;
  let firstDone = false;
  return {
    decoder,
    get scanner() {
      return scanner;
    },
    get firstMessageDone() {
      return firstDone;
    },
    push(chunk) {
      for (const event of decoder.push(chunk)) {
        if (firstDone) continue;
        if (event.kind === 'start') {
          firstLength = event.length;
          if (event.compressed) compressedBody = [];
          else scanner = createFieldScanner(options.spec, event.length);
        } else if (event.kind === 'data') {
          if (compressedBody !== undefined) compressedBody.push(event.bytes);
          else scanner?.push(event.bytes);
        } else {
          if (compressedBody !== undefined)
            scanner = scanMessage(inflate(Buffer.concat(compressedBody), options), options.spec);
          else scanner?.end();
          firstDone = true;
        }
      }
    },
    routable() {
      return (
        scanner !== undefined &&
        (firstDone || (scanner.passed > 2 && firstLength > options.wholeMessageBytes))
      );
    },
  };
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
