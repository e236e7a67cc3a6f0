// Graceful shutdown with fake services: what is published on the diagnostics channels, that a
// shutdown closes each service once, and how signals start it (and a second one cuts it short).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  channels,
  type ProcessWarning,
  type ServiceClosed,
  type ServiceClosing,
} from '../../../src/core/diagnostics.ts';
import { closeAll, handleShutdownSignals, type Closeable } from '../../../src/core/lifecycle.ts';

interface FakeService extends Closeable {
  /** The deadline of every close() call. */
  readonly closes: number[];
}

function fakeService(name: string, closeMs = 0, drained = true): FakeService {
  const closes: number[] = [];
  return {
    name,
    closes,
    async close(deadlineMs) {
      closes.push(deadlineMs);
      if (closeMs > 0) await sleep(closeMs);
      return drained;
    },
  };
}

type Event =
  | ({ readonly type: 'closing' } & ServiceClosing)
  | ({ readonly type: 'closed' } & ServiceClosed)
  | ({ readonly type: 'warning' } & ProcessWarning);

let events: Event[] = [];
let stops: (() => void)[] = [];

beforeEach(() => {
  events = [];
  stops = [
    channels.serviceClosing.subscribe((event) => events.push({ type: 'closing', ...event })),
    channels.serviceClosed.subscribe((event) => events.push({ type: 'closed', ...event })),
    channels.warning.subscribe((event) => events.push({ type: 'warning', ...event })),
  ];
});
afterEach(() => {
  for (const stop of stops) stop();
});

/** The events without their timings, which vary from run to run. */
function timeless(): unknown[] {
  return events.map((event) => {
    if (event.type !== 'closed') return event;
    const { durationMs, ...rest } = event;
    assert.ok(durationMs >= 0);
    return rest;
  });
}

/**
 * Runs `body` as the only SIGTERM/SIGINT listener: process.emit() must reach the handler under
 * test, never one of the test runner's (it has some when files share a process).
 */
async function aloneOnSignals(body: () => Promise<void>): Promise<void> {
  const saved = (['SIGTERM', 'SIGINT'] as const).map(
    (signal) => [signal, process.listeners(signal)] as const,
  );
  for (const [signal, listeners] of saved)
    for (const listener of listeners) process.off(signal, listener);
  try {
    await body();
  } finally {
    for (const [signal, listeners] of saved)
      for (const listener of listeners) process.on(signal, listener);
  }
}

describe('closeAll', () => {
  it('closes every service with the deadline and publishes closing then closed', async () => {
    const gateway = fakeService('gateway', 20);
    const shuffle = fakeService('shuffle');
    assert.equal(await closeAll([gateway, shuffle], 'test over', 1234), true);
    assert.deepEqual(gateway.closes, [1234]);
    assert.deepEqual(shuffle.closes, [1234]);
    assert.deepEqual(timeless(), [
      { type: 'closing', service: 'gateway', reason: 'test over' },
      { type: 'closing', service: 'shuffle', reason: 'test over' },
      { type: 'closed', service: 'shuffle', drained: true },
      { type: 'closed', service: 'gateway', drained: true },
    ]);
  });

  it('is false when one service was cut off, and says which', async () => {
    const result = await closeAll([fakeService('a'), fakeService('b', 0, false)], 'r', 10);
    assert.equal(result, false);
    assert.deepEqual(
      events
        .filter((event) => event.type === 'closed')
        .map((event) => [event.service, event.drained]),
      [
        ['a', true],
        ['b', false],
      ],
    );
  });

  it('measures how long each close took', async () => {
    await closeAll([fakeService('slow', 50)], 'r', 1000);
    const closed = events.find((event) => event.type === 'closed');
    assert.ok(closed !== undefined);
    assert.ok(closed.durationMs >= 45, `durationMs ${closed.durationMs}`);
  });

  it('is true with nothing to close', async () => {
    assert.equal(await closeAll([], 'r', 10), true);
    assert.deepEqual(events, []);
  });
});

describe('handleShutdownSignals', () => {
  it('shutdown() closes a slow service and resolves done with 0', async () => {
    const slow = fakeService('slow', 50);
    const handle = handleShutdownSignals([slow], { deadlineMs: 5000 });
    try {
      assert.equal(await handle.shutdown('service failed'), 0);
      assert.equal(await handle.done, 0);
      assert.deepEqual(slow.closes, [5000]);
      assert.deepEqual(timeless(), [
        { type: 'closing', service: 'slow', reason: 'service failed' },
        { type: 'closed', service: 'slow', drained: true },
      ]);
    } finally {
      handle.dispose();
    }
  });

  it('shutdown() twice closes once', async () => {
    const service = fakeService('once', 10);
    const handle = handleShutdownSignals([service], { deadlineMs: 100 });
    try {
      const first = handle.shutdown('first');
      const second = handle.shutdown('second');
      assert.deepEqual(await Promise.all([first, second]), [0, 0]);
      assert.equal(await handle.shutdown('third'), 0);
      assert.equal(service.closes.length, 1);
      assert.deepEqual(
        events.map((event) => event.type),
        ['closing', 'closed'],
      );
    } finally {
      handle.dispose();
    }
  });

  it('SIGTERM starts the shutdown', async () => {
    await aloneOnSignals(async () => {
      const service = fakeService('svc', 10);
      const handle = handleShutdownSignals([service], { deadlineMs: 100 });
      try {
        assert.equal(process.listenerCount('SIGTERM'), 1);
        assert.equal(process.listenerCount('SIGINT'), 1);
        process.emit('SIGTERM', 'SIGTERM');
        assert.equal(await handle.done, 0);
        assert.deepEqual(service.closes, [100]);
        assert.deepEqual(events[0], {
          type: 'closing',
          service: 'svc',
          reason: 'received SIGTERM',
        });
      } finally {
        handle.dispose();
      }
      assert.equal(process.listenerCount('SIGTERM'), 0);
      assert.equal(process.listenerCount('SIGINT'), 0);
    });
  });

  it('a second signal ends at once with 130 and a warning', async () => {
    await aloneOnSignals(async () => {
      const slow = fakeService('slow', 200);
      const handle = handleShutdownSignals([slow], { deadlineMs: 1000 });
      try {
        process.emit('SIGINT', 'SIGINT');
        process.emit('SIGTERM', 'SIGTERM');
        const started = performance.now();
        assert.equal(await handle.done, 130);
        assert.ok(performance.now() - started < 150, 'done did not wait for the slow close');
        assert.equal(slow.closes.length, 1);
        assert.deepEqual(events, [
          { type: 'closing', service: 'slow', reason: 'received SIGINT' },
          {
            type: 'warning',
            message: 'received SIGTERM again: exiting without waiting for in-flight work',
          },
        ]);
        // The close still finishes; wait for it so no timer outlives the test.
        assert.equal(await handle.shutdown('again'), 0);
      } finally {
        handle.dispose();
      }
    });
  });

  it('listens only to the signals it is given, until disposed', () => {
    const counts = (): number[] =>
      (['SIGTERM', 'SIGINT', 'SIGUSR2'] as const).map((signal) => process.listenerCount(signal));
    const before = counts();
    const handle = handleShutdownSignals([], { deadlineMs: 1, signals: ['SIGUSR2'] });
    try {
      assert.deepEqual(counts(), [before[0], before[1], (before[2] ?? 0) + 1]);
    } finally {
      handle.dispose();
    }
    assert.deepEqual(counts(), before);
  });

  it('still settles when a service fails to close', async () => {
    const broken: Closeable = { name: 'broken', close: () => Promise.reject(new Error('disk')) };
    const handle = handleShutdownSignals([broken, fakeService('ok')], { deadlineMs: 10 });
    try {
      const code = await handle.shutdown('test');
      assert.equal(typeof code, 'number');
      assert.equal(await handle.done, code);
    } finally {
      handle.dispose();
    }
  });
});
