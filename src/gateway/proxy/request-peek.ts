// Reads a client's request stream (a node:http2 stream) until the gateway knows where the call
// goes; first-message-peek.ts decides when that is. What was read is kept, in order, to be sent on
// first.
import type http2 from 'node:http2';
import { GatewayError } from '../errors.ts';
import type { GrpcMessageDecoder } from '../wire/grpc-frame.ts';
import type { FieldScanner } from '../wire/proto-scanner.ts';
import {
  createFirstMessagePeek,
  type PeekOptions as MessagePeekOptions,
} from './first-message-peek.ts';

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

export interface PeekOptions extends MessagePeekOptions {
  readonly timeoutMs: number;
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
  const peek = createFirstMessagePeek(options);
  const chunks: Buffer[] = [];

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
      const scanner = peek.scanner;
      if (scanner === undefined) {
        reject(new GatewayError('GW_BAD_REQUEST', 'the request carried no message'));
        return;
      }
      resolve({
        chunks,
        decoder: peek.decoder,
        scanner,
        firstMessageDone: peek.firstMessageDone,
        ended,
      });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      try {
        peek.push(chunk);
      } catch (error) {
        finish(error);
        return;
      }
      if (peek.routable()) finish();
    };
    const onEnd = (): void => {
      if (peek.scanner !== undefined && peek.firstMessageDone) {
        finish(undefined, true);
        return;
      }
      finish(
        new GatewayError(
          'GW_BAD_REQUEST',
          peek.decoder.messages === 0 && chunks.length === 0
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
