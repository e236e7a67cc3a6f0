// Bytes cut into the chunks a socket might deliver them in, for push decoders' tests.

/** `bytes` cut at `cuts` (ascending offsets): the pieces between them, in order. */
export function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const end of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(from, end));
    from = end;
  }
  return pieces;
}
