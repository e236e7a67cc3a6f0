// The executor registry: what it persists survives a new instance on the same state folder, a
// file that is not a database is set aside instead of failing the service, and without a state
// folder nothing touches the disk.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { channels, type ProcessWarning } from '../../../../src/core/diagnostics.ts';
import type { ExecutorShuffleInfo } from '../../../../src/shuffle/protocol/block-transfer.ts';
import {
  REGISTRY_FILE,
  openExecutorRegistry,
  type ExecutorRegistry,
} from '../../../../src/shuffle/registry/executor-registry.ts';

const SORT = 'org.apache.spark.shuffle.sort.SortShuffleManager';

function info(localDirs: string[], subDirsPerLocalDir = 64): ExecutorShuffleInfo {
  return { localDirs, subDirsPerLocalDir, shuffleManager: SORT };
}

/** Every registration, sorted, as plain data. */
function entries(registry: ExecutorRegistry): [string, string, ExecutorShuffleInfo, number][] {
  return registry
    .applications()
    .flatMap((appId) => registry.executorsOf(appId))
    .map((entry): [string, string, ExecutorShuffleInfo, number] => [
      entry.appId,
      entry.execId,
      entry.info,
      entry.registeredAt,
    ])
    .sort((a, b) => `${a[0]}/${a[1]}`.localeCompare(`${b[0]}/${b[1]}`));
}

describe('executor registry', () => {
  let stateDir: string;
  const opened: ExecutorRegistry[] = [];

  /** A registry on the test's state folder, or in memory with `{ stateDir: undefined }`. */
  const open = (
    options: { readonly stateDir: string | undefined } = { stateDir },
  ): ExecutorRegistry => {
    const registry = openExecutorRegistry(options);
    opened.push(registry);
    return registry;
  };

  beforeEach(async () => {
    stateDir = join(await mkdtemp(join(tmpdir(), 'sparkplane-registry-')), 'state');
  });

  afterEach(async () => {
    for (const registry of opened.splice(0)) registry.close();
    await rm(join(stateDir, '..'), { recursive: true, force: true });
  });

  it('a new instance on the same state folder has every registration', () => {
    const first = open();
    assert.equal(first.path, join(stateDir, REGISTRY_FILE));
    first.register('app-1', '0', info(['/d/a', '/d/b'], 64));
    first.register('app-1', '1', info(['/d/c'], 32));
    first.register('app-2', '7', info(['/e/a']));
    const written = entries(first);
    first.close();
    opened.splice(0);

    const second = open();
    assert.deepEqual(entries(second), written);
    assert.equal(second.executorCount, 3);
    assert.equal(second.applicationCount, 2);
    assert.deepEqual(second.get('app-1', '1'), info(['/d/c'], 32));
    assert.equal(second.get('app-1', '9'), undefined);
    assert.equal(second.get('app-9', '0'), undefined);
  });

  it('keeps its own copy of what was registered', () => {
    const registry = open();
    const dirs = ['/d/a'];
    registry.register('app-1', '0', info(dirs));
    dirs.push('/elsewhere');
    assert.deepEqual(registry.get('app-1', '0')?.localDirs, ['/d/a']);
  });

  it('a second registration of an executor replaces the first, on disk too', async () => {
    const first = open();
    first.register('app-1', '0', info(['/old']));
    const registeredAt = first.executorsOf('app-1')[0]?.registeredAt ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 5));
    first.register('app-1', '0', info(['/new/a', '/new/b'], 16));
    assert.equal(first.executorCount, 1);
    assert.deepEqual(first.get('app-1', '0'), info(['/new/a', '/new/b'], 16));
    assert.ok((first.executorsOf('app-1')[0]?.registeredAt ?? 0) > registeredAt);
    first.close();
    opened.splice(0);

    const second = open();
    assert.equal(second.executorCount, 1);
    assert.deepEqual(second.get('app-1', '0'), info(['/new/a', '/new/b'], 16));
  });

  it('removeApplication forgets every executor of the app, on disk too', () => {
    const first = open();
    first.register('app-1', '0', info(['/a']));
    first.register('app-1', '1', info(['/b']));
    first.register('app-2', '0', info(['/c']));
    const removed = first.removeApplication('app-1');
    assert.deepEqual(removed.map((entry) => entry.execId).sort(), ['0', '1']);
    assert.deepEqual(first.applications(), ['app-2']);
    assert.equal(first.executorCount, 1);
    assert.deepEqual(first.removeApplication('app-1'), []);
    first.close();
    opened.splice(0);

    const second = open();
    assert.deepEqual(second.applications(), ['app-2']);
    assert.equal(second.get('app-1', '0'), undefined);
    assert.equal(second.executorCount, 1);
  });

  it('a file that is not a database is moved aside with a warning, and a new registry starts', async () => {
    const path = join(stateDir, REGISTRY_FILE);
    const garbage = Buffer.alloc(8192, 'not a sqlite database; ');
    open().close();
    opened.splice(0);
    await writeFile(path, garbage);

    const warnings: ProcessWarning[] = [];
    const stop = channels.warning.subscribe((warning) => warnings.push(warning));
    let registry: ExecutorRegistry;
    try {
      registry = open();
    } finally {
      stop();
    }
    assert.equal(registry.path, path);
    assert.equal(registry.executorCount, 0);
    const aside = (await readdir(stateDir)).filter((name) =>
      name.startsWith(`${REGISTRY_FILE}.corrupt-`),
    );
    assert.equal(aside.length, 1, `files: ${(await readdir(stateDir)).join(', ')}`);
    const asidePath = join(stateDir, aside[0] ?? '');
    assert.deepEqual(
      await readFile(asidePath),
      garbage,
      'the unreadable file was not kept as it was',
    );
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]?.message.includes(path), warnings[0]?.message);
    assert.ok(warnings[0]?.message.includes(asidePath), warnings[0]?.message);
    assert.match(warnings[0]?.message ?? '', /must register again/);

    // The new registry works and persists.
    registry.register('app-1', '0', info(['/a']));
    registry.close();
    opened.splice(0);
    assert.deepEqual(open().get('app-1', '0'), info(['/a']));
  });

  it('without a state folder it lives in memory only', () => {
    const registry = open({ stateDir: undefined });
    assert.equal(registry.path, undefined);
    registry.register('app-1', '0', info(['/a']));
    assert.deepEqual(registry.get('app-1', '0'), info(['/a']));
    assert.equal(registry.applicationCount, 1);
    registry.close();
    opened.splice(0);
    assert.equal(existsSync(stateDir), false, 'a memory-only registry created its state folder');
    assert.equal(open({ stateDir: undefined }).executorCount, 0);
  });
});
