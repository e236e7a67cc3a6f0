// What a client's bytes can break on a pinned connection before any call is read: the preface,
// and the faults that end the connection with an HTTP/2 error (RFC 9113 §5.4.1) — a frame too
// large, a frame out of the protocol's order, a header block its HPACK table cannot decode.
// Anything else is the gateway's own fault.
import {
  CLIENT_PREFACE,
  FrameProtocolError,
  FrameSizeError,
  H2Error,
} from '../../wire/h2-frames.ts';
import { HpackError } from '../../wire/hpack.ts';

/** The HTTP/2 error code for a fault of the client's, or undefined when `error` is not one. */
export function clientFaultCode(error: unknown): number | undefined {
  if (error instanceof FrameSizeError) return H2Error.FRAME_SIZE_ERROR;
  if (error instanceof FrameProtocolError) return H2Error.PROTOCOL_ERROR;
  if (error instanceof HpackError) return H2Error.COMPRESSION_ERROR;
  return undefined;
}

/**
 * The client connection preface (RFC 9113 §3.4), which may come in pieces: `read` returns the
 * bytes after it once it is complete, `undefined` while it is not, and 'wrong' when it is not
 * HTTP/2's.
 */
export function createPrefaceReader(): { read(chunk: Buffer): Buffer | undefined | 'wrong' } {
  let seen = Buffer.alloc(0);
  let done = false;
  return {
    read(chunk) {
      if (done) return chunk;
      const need = CLIENT_PREFACE.length - seen.length;
      seen = Buffer.concat([seen, chunk.subarray(0, need)]);
      if (seen.length < CLIENT_PREFACE.length) return undefined;
      if (!seen.equals(CLIENT_PREFACE)) return 'wrong';
      done = true;
      return chunk.subarray(need);
    },
  };
}
