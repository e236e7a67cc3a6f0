// The half-open watch fed with table text instead of /proc: a SYN_RECV on a watched port is
// reported once it outlives the threshold, once, and listed for a coordinator asking later.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startHalfOpenDetector } from '../../../../src/doctor/agent/half-open-detector.ts';
import type { HalfOpenEntry } from '../../../../src/doctor/agent/messages.ts';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue';
// 10.231.2.2:7008 ← 10.231.1.2:33950 half-open (the spec's lab tuple), and a listener.
const SYN_RECV =
  '   2: 0202E70A:1B60 0201E70A:849E 03 00000000:00000000 01:00000032 00000000     0        0 0';
const LISTEN =
  '   0: 00000000:1B60 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1';
const ESTABLISHED =
  '   3: 0202E70A:1B60 0201E70A:849E 01 00000000:00000000 00:00000000 00000000     0        0 2';
const OTHER_PORT =
  '   4: 0202E70A:1CA9 0201E70A:849F 03 00000000:00000000 01:00000032 00000000     0        0 0';

function fed(ports: number[]) {
  let table = [HEADER, LISTEN].join('\n');
  let clock = 1_000_000;
  const reported: HalfOpenEntry[] = [];
  const detector = startHalfOpenDetector({
    ports,
    read: () => Promise.resolve(table),
    pollMs: 60_000,
    thresholdMs: 1000,
    now: () => clock,
    onHalfOpen: (entry) => reported.push(entry),
  });
  return {
    detector,
    reported,
    set: (...lines: string[]) => {
      table = [HEADER, ...lines].join('\n');
    },
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('startHalfOpenDetector', () => {
  it('reports a SYN_RECV on a watched port once it lasts past the threshold, and only once', async () => {
    const feed = fed([7008]);
    try {
      feed.set(LISTEN, SYN_RECV, OTHER_PORT);
      await feed.detector.poll();
      assert.equal(feed.reported.length, 0, 'a fresh SYN_RECV is a handshake in progress');
      assert.deepEqual(feed.detector.entries(), []);
      feed.advance(600);
      await feed.detector.poll();
      assert.equal(feed.reported.length, 0);
      feed.advance(600);
      await feed.detector.poll();
      assert.equal(feed.reported.length, 1);
      const entry = feed.reported[0];
      assert.ok(entry);
      assert.deepEqual(entry.local, { address: '10.231.2.2', port: 7008 });
      assert.deepEqual(entry.remote, { address: '10.231.1.2', port: 33950 });
      assert.equal(entry.ageMs, 1200);
      assert.equal(entry.current, true);
      feed.advance(1000);
      await feed.detector.poll();
      assert.equal(feed.reported.length, 1, 'reported once');
      assert.equal(feed.detector.entries()[0]?.ageMs, 2200);
    } finally {
      feed.detector.stop();
    }
  });

  it('keeps a reported entry listed after it leaves SYN_RECV, then forgets it', async () => {
    const feed = fed([7008]);
    try {
      feed.set(SYN_RECV);
      await feed.detector.poll();
      feed.advance(1500);
      await feed.detector.poll();
      feed.set(LISTEN);
      feed.advance(100);
      await feed.detector.poll();
      assert.equal(feed.detector.entries()[0]?.current, false);
      feed.advance(61_000);
      await feed.detector.poll();
      assert.deepEqual(feed.detector.entries(), []);
    } finally {
      feed.detector.stop();
    }
  });

  it('ignores other states and unwatched ports, and a handshake that completed in time', async () => {
    const feed = fed([7008]);
    try {
      feed.set(SYN_RECV, OTHER_PORT);
      await feed.detector.poll();
      feed.set(ESTABLISHED, OTHER_PORT);
      feed.advance(5000);
      await feed.detector.poll();
      assert.deepEqual(feed.reported, []);
      assert.deepEqual(feed.detector.entries(), []);
    } finally {
      feed.detector.stop();
    }
  });

  it('says when the tables cannot be read and keeps going', async () => {
    const errors: unknown[] = [];
    const detector = startHalfOpenDetector({
      ports: [7008],
      read: () => Promise.reject(new Error('EACCES')),
      pollMs: 60_000,
      onHalfOpen: () => undefined,
      onReadError: (error) => errors.push(error),
    });
    try {
      await detector.poll();
      await detector.poll();
      assert.equal(errors.length, 2);
    } finally {
      detector.stop();
    }
  });
});
