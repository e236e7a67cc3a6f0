// Back-pressure between a pinned connection's two sockets: one side stops being read while the
// other holds more than MAX_UNSENT_BYTES not yet written, and is read again once that drained.
// Pausing at a socket's own 16 KiB mark would stop and restart a streamed result at every chunk.
import type net from 'node:net';

const MAX_UNSENT_BYTES = 1024 * 1024;

/** Pauses `reader` until `writer` drains, when `writer` holds too much unsent. */
export function holdBackWhileBacklogged(writer: net.Socket, reader: net.Socket | undefined): void {
  if (reader === undefined || writer.writableLength <= MAX_UNSENT_BYTES || reader.isPaused())
    return;
  reader.pause();
  writer.once('drain', () => reader.resume());
}
