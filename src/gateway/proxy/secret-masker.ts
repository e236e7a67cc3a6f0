// Keeps a secret (the backend token the gateway injects) out of everything sent back to clients:
// occurrences in the response bytes are overwritten with '*' of the same length, so protobuf
// lengths stay valid. Only a tail of a chunk that could be the start of the secret is held back
// until the next chunk, so a response message is never delayed unless its last bytes look like
// the beginning of the secret.
export interface SecretMasker {
  /** The bytes safe to send now. */
  push(chunk: Buffer): Buffer;
  /** The bytes still held back, at the end of the stream. */
  flush(): Buffer;
}

export function createSecretMasker(secret: string): SecretMasker {
  const needle = Buffer.from(secret);
  const mask = Buffer.alloc(needle.length, '*');
  let held = Buffer.alloc(0);
  return {
    push(chunk) {
      const data = held.length === 0 ? Buffer.from(chunk) : Buffer.concat([held, chunk]);
      let at = data.indexOf(needle);
      while (at !== -1) {
        mask.copy(data, at);
        at = data.indexOf(needle, at + needle.length);
      }
      const keep = partialTail(data, needle);
      held = Buffer.from(data.subarray(data.length - keep));
      return data.subarray(0, data.length - keep);
    },
    flush() {
      const rest = held;
      held = Buffer.alloc(0);
      return rest;
    },
  };
}

/** Length of the longest suffix of `data` that is a proper prefix of `needle`. */
function partialTail(data: Buffer, needle: Buffer): number {
  const first = needle[0];
  const longest = Math.min(needle.length - 1, data.length);
  for (let length = longest; length > 0; length--) {
    const at = data.length - length;
    if (data[at] !== first) continue;
    if (data.subarray(at).equals(needle.subarray(0, length))) return length;
  }
  return 0;
}

export function maskInText(text: string, secret: string): string {
  return secret.length === 0 ? text : text.split(secret).join('*'.repeat(secret.length));
}
