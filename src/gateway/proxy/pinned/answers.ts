// Answers a pinned connection gives on its own, as HTTP/2 frames for the client: a gRPC status in
// a trailers-only response, one message with OK, or trailers after a response already started.
// Their header blocks never touch the connection's HPACK dynamic table, so they can sit between
// the server's own frames without disturbing the client's decoder.
import { encodeGrpcMessageText } from '../../wire/grpc-status-text.ts';
import { encodeGrpcMessage } from '../../wire/grpc-frame.ts';
import {
  DEFAULT_MAX_FRAME_PAYLOAD,
  FrameFlag,
  FrameType,
  encodeFrame,
  encodeHeaderFrames,
} from '../../wire/h2-frames.ts';
import { encodeHeaderBlock, type HeaderField } from '../../wire/hpack.ts';

const RESPONSE_HEADERS: HeaderField[] = [
  [':status', '200'],
  ['content-type', 'application/grpc'],
];

function statusFields(status: number, message: string): HeaderField[] {
  const fields: HeaderField[] = [['grpc-status', String(status)]];
  if (message !== '') fields.push(['grpc-message', encodeGrpcMessageText(message)]);
  return fields;
}

/** A trailers-only response: the call ends with this status before any response message. */
export function trailersOnly(streamId: number, status: number, message: string): Buffer[] {
  return encodeHeaderFrames(
    streamId,
    encodeHeaderBlock([...RESPONSE_HEADERS, ...statusFields(status, message)]),
    true,
    DEFAULT_MAX_FRAME_PAYLOAD,
  );
}

/** Trailers that end a call whose response headers (and maybe messages) went out already. */
export function trailers(streamId: number, status: number, message: string): Buffer[] {
  return encodeHeaderFrames(
    streamId,
    encodeHeaderBlock(statusFields(status, message)),
    true,
    DEFAULT_MAX_FRAME_PAYLOAD,
  );
}

/** One response message and OK; `dataBytes` is what the client's flow-control windows lose. */
export function messageResponse(
  streamId: number,
  body: Uint8Array,
): { frames: Buffer[]; dataBytes: number } {
  const message = encodeGrpcMessage(body);
  return {
    frames: [
      ...encodeHeaderFrames(
        streamId,
        encodeHeaderBlock(RESPONSE_HEADERS),
        false,
        DEFAULT_MAX_FRAME_PAYLOAD,
      ),
      encodeFrame(FrameType.DATA, 0, streamId, message),
      ...trailers(streamId, 0, ''),
    ],
    dataBytes: message.length,
  };
}

/** An HTTP response that is not gRPC, for a request that is not gRPC. */
export function plainResponse(streamId: number, status: number, text: string): Buffer[] {
  const body = Buffer.from(text, 'utf8');
  return [
    ...encodeHeaderFrames(
      streamId,
      encodeHeaderBlock([
        [':status', String(status)],
        ['content-type', 'text/plain; charset=utf-8'],
      ]),
      false,
      DEFAULT_MAX_FRAME_PAYLOAD,
    ),
    encodeFrame(FrameType.DATA, FrameFlag.END_STREAM, streamId, body),
  ];
}
