// Bytes cut into the chunks a socket might deliver them in, and bytes mangled a little, for push
// decoders' tests.

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

/**
 * `bytes` with `edits` random one-byte edits anywhere: a byte changed (to anything, or to a small
 * value: `smallValues` ORs this into it), one inserted, or one removed. `random(n)` is in [0, n).
 */
export function mutated(
  bytes: Buffer<ArrayBuffer>,
  edits: number,
  random: (below: number) => number,
  smallValues: { readonly highBit: number } = { highBit: 0 },
): Buffer<ArrayBuffer> {
  let out = bytes;
  for (let left = edits; left > 0; left--) {
    const at = random(out.length + 1);
    const edit = random(4);
    if (edit <= 1 && at < out.length)
      out[at] = random(edit === 0 ? 256 : 0x20) | (edit === 0 ? 0 : smallValues.highBit);
    else if (edit === 2)
      out = Buffer.concat([out.subarray(0, at), Buffer.from([random(256)]), out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
  }
  return out;
}
