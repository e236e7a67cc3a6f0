// The gateway's own answers to calls on a pinned connection: an error status, a message with OK
// (ReleaseSession of a session it never had, a health check), whatever state the call is in. A
// call already at its server is cancelled there; DATA the call had sent but the server never
// got is refunded to the client; DATA the gateway sends itself is kept out of the client's later
// connection refunds, since the server never sent it and must not get the credit.
import { GrpcStatus } from '../../errors.ts';
import { H2Error, encodeRstStream, encodeWindowUpdate } from '../../wire/h2-frames.ts';
import type { SessionTable } from '../../routing/session-table.ts';
import type { FrameOutput } from './frame-output.ts';
import { messageResponse, trailers, trailersOnly } from './answers.ts';
import { completeCall, noteFailure, type PinnedStream } from './pinned-stream.ts';

export interface CallAnswersLink {
  readonly sessions: SessionTable;
  readonly toClient: FrameOutput;
  readonly toUpstream: FrameOutput;
  flushClient(): void;
  flushUpstream(): void;
  /** Forgets the call on the connection. */
  drop(stream: PinnedStream): void;
  maybeEnd(): void;
}

export interface CallAnswers {
  /** Ends a call with these frames of the gateway's own, in whatever state it is. */
  readonly answer: (stream: PinnedStream, frames: Buffer[]) => void;
  readonly answerError: (stream: PinnedStream, error: unknown) => void;
  readonly answerMessage: (stream: PinnedStream, body: Uint8Array) => void;
  /** Gives the client back connection credit for request DATA the server never got. */
  readonly refundClient: (bytes: number) => void;
  /** What of a client's connection WINDOW_UPDATE is the server's: the rest covered injected DATA. */
  readonly serversShare: (increment: number) => number;
}

export function createCallAnswers(link: CallAnswersLink): CallAnswers {
  /** Bytes of DATA the gateway sent the client itself, not yet refunded by it. */
  let injected = 0;

  const refundClient = (bytes: number): void => {
    if (bytes > 0) link.toClient.push(encodeWindowUpdate(0, bytes));
  };

  const answer = (stream: PinnedStream, frames: Buffer[]): void => {
    if (stream.state === 'upstream') {
      link.toUpstream.push(encodeRstStream(stream.upstreamId, H2Error.CANCEL));
      link.flushUpstream();
    }
    refundClient(stream.heldDataBytes);
    link.drop(stream);
    for (const frame of frames) link.toClient.push(frame);
    // RFC 9113 §8.1: a complete answer to a request still being sent ends it with NO_ERROR.
    if (!stream.clientEnded) link.toClient.push(encodeRstStream(stream.clientId, H2Error.NO_ERROR));
    link.flushClient();
    stream.state = 'answered';
    completeCall(link.sessions, stream);
    link.maybeEnd();
  };

  return {
    answer,
    refundClient,
    answerError: (stream, error) => {
      noteFailure(stream, error);
      const { status, message } = stream.call;
      answer(
        stream,
        stream.responseStarted
          ? trailers(stream.clientId, status, message)
          : trailersOnly(stream.clientId, status, message),
      );
    },
    answerMessage: (stream, body) => {
      const response = messageResponse(stream.clientId, body);
      injected += response.dataBytes;
      stream.call.status = GrpcStatus.OK;
      answer(stream, response.frames);
    },
    serversShare: (increment) => {
      const kept = Math.min(increment, injected);
      injected -= kept;
      return increment - kept;
    },
  };
}
