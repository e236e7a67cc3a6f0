// Executor and application cleanup on real trees: what goes, what stays, and that neither follows
// a symlink nor reaches outside the allowed roots.
import assert from 'node:assert/strict';
import { access, mkdir, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createBlockResolver,
  type BlockResolver,
} from '../../../../src/shuffle/resolver/block-resolver.ts';
import type { ExecutorShuffleInfo } from '../../../../src/shuffle/resolver/disk-layout.ts';
import { codeOf, makeTemp, removeTemp, writeFileAt } from './map-output.ts';

let root = '';
let outside = '';
let localDir = '';
let info: ExecutorShuffleInfo;
let resolver: BlockResolver;

function executor(...localDirs: string[]): ExecutorShuffleInfo {
  return { localDirs, subDirsPerLocalDir: 64, shuffleManager: 'sort' };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Every file under `dir`, relative, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

beforeEach(async () => {
  root = await makeTemp('cleanup');
  outside = await makeTemp('cleanup-outside');
  localDir = path.join(root, 'blockmgr-1');
  info = executor(localDir);
  resolver = createBlockResolver({ allowedRoots: [root] });
  for (const file of [
    '0c/shuffle_0_0_0.data',
    '30/shuffle_0_0_0.index',
    '34/shuffle_0_0_0.checksum.ADLER32',
    '1b/rdd_2_5',
    '11/temp_shuffle_6a1f',
    '22/temp_local_0b2e',
    '0c/broadcast_0_piece0',
  ]) {
    await writeFileAt(path.join(localDir, file), 'x');
  }
  await mkdir(path.join(localDir, '3f'));
});

afterEach(async () => {
  await removeTemp(root);
  await removeTemp(outside);
});

describe('cleanupExecutorFiles', () => {
  it('keeps shuffle .index/.data and rdd_* files, deletes the rest and the dirs left empty', async () => {
    const result = await resolver.cleanupExecutorFiles(info);
    assert.deepEqual(result, { removed: 4, failures: [] });
    assert.deepEqual(await listFiles(localDir), [
      '0c/shuffle_0_0_0.data',
      '1b/rdd_2_5',
      '30/shuffle_0_0_0.index',
    ]);
    assert.deepEqual((await readdir(localDir)).sort(), ['0c', '1b', '30']);
  });

  it('deletes rdd_* files too when told not to keep them', async () => {
    const result = await resolver.cleanupExecutorFiles(info, { keepRddFiles: false });
    assert.equal(result.removed, 5);
    assert.deepEqual(await listFiles(localDir), [
      '0c/shuffle_0_0_0.data',
      '30/shuffle_0_0_0.index',
    ]);
  });

  it('removes a local dir left with nothing in it, as Spark’s filtered delete does', async () => {
    const empty = path.join(root, 'blockmgr-2');
    await writeFileAt(path.join(empty, '0a', 'temp_shuffle_1'), 'x');
    const result = await resolver.cleanupExecutorFiles(executor(empty));
    assert.deepEqual(result, { removed: 1, failures: [] });
    assert.equal(await exists(empty), false);
  });

  it('leaves a symlink that leads out, and what it points at, and reports it', async () => {
    const secret = path.join(outside, 'secret');
    await writeFileAt(secret, 'keep me');
    await symlink(secret, path.join(localDir, '11', 'temp_link'));
    await symlink(outside, path.join(localDir, 'subdir_link'));
    const result = await resolver.cleanupExecutorFiles(info);
    assert.equal(await exists(secret), true);
    assert.equal(await exists(path.join(localDir, '11', 'temp_link')), true);
    assert.equal(await exists(path.join(localDir, 'subdir_link')), true);
    const refused = result.failures
      .map((failure) => `${path.basename(failure.path)} ${codeOf(failure.error)}`)
      .sort();
    assert.deepEqual(refused, [
      'subdir_link ESS_PATH_NOT_ALLOWED',
      'temp_link ESS_PATH_NOT_ALLOWED',
    ]);
  });

  it('unlinks a symlink that stays inside, not what it points at', async () => {
    const target = path.join(root, 'elsewhere', 'shuffle_9_9_0.data');
    await writeFileAt(target, 'kept');
    await symlink(target, path.join(localDir, '11', 'temp_inside_link'));
    const result = await resolver.cleanupExecutorFiles(info);
    assert.deepEqual(result.failures, []);
    assert.equal(await exists(path.join(localDir, '11', 'temp_inside_link')), false);
    assert.equal(await exists(target), true);
  });

  it('touches nothing of a registration outside the roots, and reports it', async () => {
    const away = path.join(outside, 'blockmgr-9');
    await writeFileAt(path.join(away, '11', 'temp_shuffle_1'), 'x');
    const result = await resolver.cleanupExecutorFiles(executor(away));
    assert.equal(result.removed, 0);
    assert.equal(result.failures.length, 1);
    assert.equal(codeOf(result.failures[0]?.error), 'ESS_PATH_NOT_ALLOWED');
    assert.equal(await exists(path.join(away, '11', 'temp_shuffle_1')), true);
  });

  it('passes over a local dir that is already gone', async () => {
    const result = await resolver.cleanupExecutorFiles(executor(path.join(root, 'gone')));
    assert.deepEqual(result, { removed: 0, failures: [] });
  });
});

describe('removeLocalDirs', () => {
  it('deletes the executor’s dirs and nothing beside them', async () => {
    const second = path.join(root, 'disk2', 'blockmgr-1');
    const neighbour = path.join(root, 'blockmgr-other-executor');
    await writeFileAt(path.join(second, '0c', 'shuffle_1_1_0.data'), 'x');
    await writeFileAt(path.join(neighbour, '0c', 'shuffle_1_1_0.data'), 'x');
    const result = await resolver.removeLocalDirs(executor(localDir, second));
    assert.deepEqual(result, { removed: 2, failures: [] });
    assert.equal(await exists(localDir), false);
    assert.equal(await exists(second), false);
    assert.equal(await exists(path.join(neighbour, '0c', 'shuffle_1_1_0.data')), true);
  });

  it('does not follow symlinks inside the tree', async () => {
    const secret = path.join(outside, 'data', 'secret');
    await writeFileAt(secret, 'keep me');
    await symlink(path.join(outside, 'data'), path.join(localDir, 'link-dir'));
    await symlink(secret, path.join(localDir, '0c', 'link-file'));
    const result = await resolver.removeLocalDirs(info);
    assert.deepEqual(result, { removed: 1, failures: [] });
    assert.equal(await exists(localDir), false);
    assert.equal(await exists(secret), true);
  });

  it('refuses a dir outside the roots, and one that escapes by `..`, deleting neither', async () => {
    const away = path.join(outside, 'blockmgr-9');
    await writeFileAt(path.join(away, 'f'), 'x');
    const escaping = `${root}/../${path.basename(outside)}/blockmgr-9`;
    const result = await resolver.removeLocalDirs(executor(away, escaping));
    assert.equal(result.removed, 0);
    assert.deepEqual(
      result.failures.map((failure) => codeOf(failure.error)),
      ['ESS_PATH_NOT_ALLOWED', 'ESS_PATH_NOT_ALLOWED'],
    );
    assert.equal(await exists(path.join(away, 'f')), true);
  });

  it('refuses to delete an allowed root itself', async () => {
    const result = await resolver.removeLocalDirs(executor(root, `${root}/`));
    assert.equal(result.removed, 0);
    assert.equal(result.failures.length, 2);
    for (const failure of result.failures)
      assert.match(failure.error.message, /is the allowed root/);
    assert.equal(await exists(path.join(localDir, '0c', 'shuffle_0_0_0.data')), true);
  });

  it('counts nothing for a dir already gone', async () => {
    assert.deepEqual(await resolver.removeLocalDirs(executor(path.join(root, 'gone'))), {
      removed: 0,
      failures: [],
    });
  });
});
