// A bare protocol peer for comparing shuffle services: sends frames on one connection and
// collects the messages that come back (with the raw bytes that follow a StreamResponse), with no
// client logic in between, so two services' answers can be compared message by message.
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { createFrameDecoder } from '../../../src/shuffle/protocol/frame-decoder.ts';
import type { TransportMessage } from '../../../src/shuffle/protocol/messages.ts';

export interface Received {
  readonly message: TransportMessage;
  /** Bytes that followed the frame (StreamResponse body). */
  readonly raw?: Buffer;
}

export interface Exchange {
  /** Sends the frames, then resolves with the next `count` messages. */
  send(frames: readonly Buffer[], count: number, timeoutMs?: number): Promise<Received[]>;
  close(): void;
}

export async function openExchange(host: string, port: number): Promise<Exchange> {
  const socket: Socket = connect({ host, port, noDelay: true });
  await once(socket, 'connect');
  const received: Received[] = [];
  let rawParts: Buffer[] | undefined;
  let waiter: (() => void) | undefined;
  let failure: Error | undefined;
  const decoder = createFrameDecoder(
    {
      message(message) {
        if (message.type === 'StreamResponse' && message.byteCount > 0n) {
          rawParts = [];
          received.push({ message });
          return;
        }
        received.push({ message });
        waiter?.();
      },
      rawBody(chunk) {
        rawParts?.push(chunk);
      },
      rawBodyEnd() {
        const last = received.at(-1);
        if (last !== undefined && rawParts !== undefined)
          received[received.length - 1] = { ...last, raw: Buffer.concat(rawParts) };
        rawParts = undefined;
        waiter?.();
      },
    },
    { maxFrameBytes: 256 * 1024 * 1024 },
  );
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
  });
  socket.on('error', (error) => {
    failure = error;
    waiter?.();
  });
  socket.on('close', () => {
    failure ??= new Error('connection closed');
    waiter?.();
  });
  return {
    async send(frames, count, timeoutMs = 30_000) {
      for (const frame of frames) socket.write(frame);
      const deadline = Date.now() + timeoutMs;
      while (received.length < count || rawParts !== undefined) {
        if (failure !== undefined)
          throw new Error(`after ${received.length} of ${count} replies: ${failure.message}`);
        if (Date.now() > deadline)
          throw new Error(`timed out with ${received.length} of ${count} replies`);
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, 100);
        });
      }
      return received.splice(0, count);
    },
    close() {
      socket.destroy();
    },
  };
}
