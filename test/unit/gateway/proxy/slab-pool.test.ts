import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { describe, it } from 'node:test';
import {
  createFrameOutput,
  type FrameOutput,
} from '../../../../src/gateway/proxy/pinned/frame-output.ts';
import {
  LARGE_SLAB_BYTES,
  SMALL_SLAB_BYTES,
  createSlabPool,
  type SlabPool,
} from '../../../../src/gateway/proxy/pinned/slab-pool.ts';

/** A socket that holds what it is given until told it wrote it, as one with a full buffer does. */
class HeldSocket extends EventEmitter {
  destroyed = false;
  writableLength = 0;
  readonly written: Buffer[] = [];
  write(bytes: Buffer): boolean {
    this.written.push(bytes);
    this.writableLength += bytes.length;
    return false;
  }
  corked = 0;
  cork(): void {
    this.corked++;
  }
  uncork(): void {
    this.corked--;
  }
  /** Everything left: 'drain'. */
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
}

describe('slab pool', () => {
  it('lends the smaller slab that holds what is asked for', () => {
    const pool = createSlabPool({ small: 4, large: 4 });
    assert.equal(pool.take(1).length, SMALL_SLAB_BYTES);
    assert.equal(pool.take(SMALL_SLAB_BYTES).length, SMALL_SLAB_BYTES);
    assert.equal(pool.take(SMALL_SLAB_BYTES + 1).length, LARGE_SLAB_BYTES);
    assert.equal(pool.take(LARGE_SLAB_BYTES).length, LARGE_SLAB_BYTES);
    assert.throws(() => pool.take(LARGE_SLAB_BYTES + 1), /no slab holds 262145 bytes/);
  });

  it('lends a slab given back again, and a new one while none is free', () => {
    const pool = createSlabPool({ small: 4, large: 4 });
    const first = pool.take(100);
    const second = pool.take(100);
    assert.notEqual(first.buffer, second.buffer);
    pool.giveBack(first.subarray(100, 200));
    assert.equal(pool.free, 1);
    assert.notEqual(pool.take(SMALL_SLAB_BYTES + 1).buffer, first.buffer, 'not for a large one');
    assert.equal(pool.take(100).buffer, first.buffer);
    assert.equal(pool.free, 0);
  });

  it('counts a slab given back twice once, and ignores buffers it did not lend', () => {
    const pool = createSlabPool({ small: 4, large: 4 });
    const slab = pool.take(100);
    pool.giveBack(slab);
    pool.giveBack(slab);
    pool.giveBack(Buffer.alloc(SMALL_SLAB_BYTES));
    pool.giveBack(Buffer.from('a small pooled buffer'));
    assert.equal(pool.free, 1);
    assert.equal(pool.take(100).buffer, slab.buffer);
    assert.notEqual(pool.take(100).buffer, slab.buffer);
  });

  it('keeps no more free slabs of each size than its limit', () => {
    const pool = createSlabPool({ small: 2, large: 1 });
    const slabs = [pool.take(100), pool.take(100), pool.take(100)];
    const large = [pool.take(LARGE_SLAB_BYTES), pool.take(LARGE_SLAB_BYTES)];
    for (const slab of [...slabs, ...large]) pool.giveBack(slab);
    assert.equal(pool.free, 3);
  });
});

/** A frame output on a socket that holds its writes, with a pool of its own. */
function outputOnHeldSocket(): {
  pool: SlabPool;
  socket: HeldSocket;
  output: FrameOutput;
} {
  const pool = createSlabPool({ small: 8, large: 8 });
  const socket = new HeldSocket();
  return {
    pool,
    socket,
    output: createFrameOutput(() => socket as unknown as net.Socket, pool),
  };
}

describe('frame output', () => {
  it('gives a slab back only once its socket wrote what was pushed from it', () => {
    const { pool, socket, output } = outputOnHeldSocket();
    const read = pool.take(100);
    output.push(read.subarray(0, 100));
    output.retain(read);
    assert.equal(pool.free, 0, 'not while the bytes are gathered');
    output.flush();
    assert.equal(socket.written.length, 1);
    assert.equal(pool.free, 0, 'not while the socket holds them');
    socket.drain();
    assert.equal(pool.free, 1);
  });

  it('gives a slab back at once when the socket holds nothing', () => {
    const { pool, output } = outputOnHeldSocket();
    output.retain(pool.take(100));
    assert.equal(pool.free, 1);
  });

  it('copies a few slices into one slab, which goes back after the write', () => {
    const { pool, socket, output } = outputOnHeldSocket();
    output.push(Buffer.from('abc'));
    output.push(Buffer.from('def'));
    output.flush();
    assert.deepEqual(
      socket.written.map((bytes) => bytes.toString()),
      ['abcdef'],
    );
    assert.equal(pool.free, 0);
    socket.drain();
    assert.equal(pool.free, 1);
  });

  it('leaves the slabs of a destroyed socket to the collector', () => {
    const { pool, socket, output } = outputOnHeldSocket();
    const read = pool.take(100);
    output.push(read.subarray(0, 10));
    output.flush();
    output.retain(read);
    socket.destroyed = true;
    socket.drain();
    assert.equal(pool.free, 0);
  });
});
