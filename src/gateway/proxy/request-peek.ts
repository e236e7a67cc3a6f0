// Reads a client's request stream until the gateway knows where it goes: the first message's
// session id and user context (protobuf fields 1 and 2, which every Spark Connect request carries
// first). Small first messages are read whole, so operation ids are known too; a large one (a big
// plan, an artifact chunk) is routed as soon as the encoder is past field 2 and scanned on while it
// is forwarded. What was read is kept, in order, to be sent on first.
import type http2 from 'node:http2';
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

export interface PeekedRequest {
  /** Raw bytes read from the client so far, to forward before anything else. */
  readonly chunks: Buffer[];
  readonly decoder: GrpcMessageDecoder;
  /** The first message's scanner; still fed while forwarding when `firstMessageDone` is false. */
  readonly scanner: FieldScanner;
  firstMessageDone: boolean;
  /** The client already ended its side. */
  readonly ended: boolean;
}

export interface PeekOptions {
  readonly spec: ScanSpec;
  readonly maxMessageBytes: number;
  /** A first message up to this size is read whole before routing. */
  readonly wholeMessageBytes: number;
  readonly timeoutMs: number;
  /** grpc-encoding of the request, for a compressed first message. */
  readonly encoding: string | undefined;
}

/** Feeds the rest of the first message to the scanner, for bytes forwarded after routing. */
export function continueScan(peeked: PeekedRequest, chunk: Buffer): void {
  for (const event of peeked.decoder.push(chunk)) {
    if (peeked.firstMessageDone) continue;
    if (event.kind === 'data') peeked.scanner.push(event.bytes);
    else if (event.kind === 'end') {
      peeked.scanner.end();
      peeked.firstMessageDone = true;
    }
  }
}

export function peekRequest(
  stream: http2.ServerHttp2Stream,
  options: PeekOptions,
): Promise<PeekedRequest> {
  const decoder = createGrpcMessageDecoder({ maxMessageBytes: options.maxMessageBytes });
  const chunks: Buffer[] = [];
  let scanner: FieldScanner | undefined;
  let compressedBody: Buffer[] | undefined;
  let firstLength = 0;
  let firstDone = false;

  return new Promise((resolve, reject) => {
    if (stream.closed || stream.destroyed) {
      reject(new GatewayError('GW_CANCELLED', 'the client closed the call before its request'));
      return;
    }
    const timer = setTimeout(() => {
      finish(
        new GatewayError(
          'GW_BAD_REQUEST',
          `no complete request message arrived within ${String(options.timeoutMs)} ms`,
        ),
      );
    }, options.timeoutMs);
    const finish = (error?: unknown, ended = false): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      if (error !== undefined) {
        reject(error instanceof Error ? error : new Error('the request could not be read'));
        return;
      }
      if (!ended) stream.pause();
      if (scanner === undefined) {
        reject(new GatewayError('GW_BAD_REQUEST', 'the request carried no message'));
        return;
      }
      resolve({
        chunks,
        decoder,
        scanner,
        firstMessageDone: firstDone,
        ended,
      });
    };
    const routable = (): boolean =>
      scanner !== undefined &&
      (firstDone || (scanner.passed > 2 && firstLength > options.wholeMessageBytes));
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      try {
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
      } catch (error) {
        finish(error);
        return;
      }
      if (routable()) finish();
    };
    const onEnd = (): void => {
      if (scanner !== undefined && firstDone) {
        finish(undefined, true);
        return;
      }
      finish(
        new GatewayError(
          'GW_BAD_REQUEST',
          decoder.messages === 0 && chunks.length === 0
            ? 'the request carried no message; a Spark Connect call sends one request message'
            : 'the request ended in the middle of its first message',
        ),
      );
    };
    const onClose = (): void => {
      finish(new GatewayError('GW_CANCELLED', 'the client cancelled the call'));
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onClose);
  });
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
