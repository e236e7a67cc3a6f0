import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBufferPool } from '../../../../src/shuffle/server/buffer-pool.ts';

describe('buffer pool', () => {
  it('hands out at most its capacity and makes the next caller wait for a release', async () => {
    const pool = createBufferPool({ pieceBytes: 1024, pieces: 2 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    assert.equal(a.length, 1024);
    assert.notEqual(a, b);
    assert.equal(pool.inUse, 2);
    let third: Buffer | undefined;
    const waiting = pool.acquire().then((piece) => {
      third = piece;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(third, undefined, 'a third piece must wait');
    pool.release(a);
    await waiting;
    assert.equal(third, a, 'the released piece goes to the waiter');
    assert.equal(pool.inUse, 2);
    pool.release(b);
    pool.release(a);
    assert.equal(pool.inUse, 0);
  });

  it('reuses pieces instead of allocating new ones', async () => {
    const pool = createBufferPool({ pieceBytes: 64, pieces: 4 });
    const first = await pool.acquire();
    pool.release(first);
    assert.equal(await pool.acquire(), first);
  });

  it('tryAcquire keeps the reserve for replies in turn', () => {
    const pool = createBufferPool({ pieceBytes: 64, pieces: 4 });
    const taken = [pool.tryAcquire(1), pool.tryAcquire(1), pool.tryAcquire(1)];
    assert.ok(taken.every((piece) => piece !== undefined));
    assert.equal(pool.tryAcquire(1), undefined, 'the last piece is kept in reserve');
    assert.equal(pool.inUse, 3);
  });
});
