// The sweeper forgets an application once every local dir of every one of its executors is gone,
// and not while any one of them is still there.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ExecutorShuffleInfo } from '../../../../src/shuffle/protocol/block-transfer.ts';
import { shuffleChannels } from '../../../../src/shuffle/observability.ts';
import {
  openExecutorRegistry,
  type ExecutorRegistry,
} from '../../../../src/shuffle/registry/executor-registry.ts';
import { startSweeper, type Sweeper } from '../../../../src/shuffle/registry/sweeper.ts';

function info(localDirs: string[]): ExecutorShuffleInfo {
  return {
    localDirs,
    subDirsPerLocalDir: 64,
    shuffleManager: 'org.apache.spark.shuffle.sort.SortShuffleManager',
  };
}

describe('sweeper', () => {
  let root: string;
  let registry: ExecutorRegistry;
  let sweeper: Sweeper;

  const dir = async (name: string, create: boolean): Promise<string> => {
    const path = join(root, name);
    if (create) await mkdir(path);
    return path;
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sparkplane-sweeper-'));
    registry = openExecutorRegistry({ stateDir: undefined });
    sweeper = startSweeper(registry, 0);
  });

  afterEach(async () => {
    sweeper.stop();
    registry.close();
    await rm(root, { recursive: true, force: true });
  });

  it('removes apps whose every local dir is gone and keeps apps with one left', async () => {
    // app-gone: two executors, every dir missing.
    registry.register('app-gone', '0', info([await dir('g0', false), await dir('g1', false)]));
    registry.register('app-gone', '1', info([await dir('g2', false)]));
    // app-one-left: one dir of one executor still exists.
    registry.register('app-one-left', '0', info([await dir('o0', false), await dir('o1', true)]));
    // app-other-executor: its first executor's dirs are gone, its second's are not.
    registry.register('app-other-executor', '0', info([await dir('x0', false)]));
    registry.register('app-other-executor', '1', info([await dir('x1', true)]));

    const removedEvents: { appId: string; executors: number; cleanup: boolean }[] = [];
    const stop = shuffleChannels.applicationRemoved.subscribe((event) =>
      removedEvents.push({ ...event }),
    );
    let removed: string[];
    try {
      removed = await sweeper.sweep();
    } finally {
      stop();
    }
    assert.deepEqual(removed, ['app-gone']);
    assert.deepEqual(removedEvents, [{ appId: 'app-gone', executors: 2, cleanup: false }]);
    assert.deepEqual([...registry.applications()].sort(), ['app-one-left', 'app-other-executor']);
    assert.equal(registry.executorCount, 3);
  });

  it('removes an app on a later sweep once its last dir is deleted', async () => {
    const last = await dir('last', true);
    registry.register('app-1', '0', info([await dir('gone', false), last]));
    assert.deepEqual(await sweeper.sweep(), []);
    assert.notEqual(registry.get('app-1', '0'), undefined);
    await rm(last, { recursive: true });
    assert.deepEqual(await sweeper.sweep(), ['app-1']);
    assert.equal(registry.applicationCount, 0);
    assert.deepEqual(await sweeper.sweep(), []);
  });

  it('keeps an executor that registers while its app is being swept', async () => {
    registry.register('app-1', '0', info([await dir('gone', false)]));
    const fresh = await dir('fresh', true);
    const sweeping = sweeper.sweep();
    // Registered after the sweep read the app's dirs, before it decided.
    registry.register('app-1', '1', info([fresh]));
    await sweeping;
    assert.deepEqual(registry.get('app-1', '1'), info([fresh]));
  });
});
