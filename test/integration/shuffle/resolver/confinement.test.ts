// Confinement on real trees: `..` and symlinks that lead out of the allowed roots are refused,
// nothing outside is read or deleted, and links that stay inside keep working.
import assert from 'node:assert/strict';
import { access, mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createBlockResolver,
  type BlockResolver,
} from '../../../../src/shuffle/resolver/block-resolver.ts';
import {
  blockFilePath,
  type ExecutorShuffleInfo,
} from '../../../../src/shuffle/resolver/disk-layout.ts';
import { confineLocalDirs } from '../../../../src/shuffle/resolver/path-confinement.ts';
import { indexBytes, makeTemp, rejectsWith, removeTemp, writeFileAt } from './map-output.ts';

let root = '';
let outside = '';
let localDir = '';
let info: ExecutorShuffleInfo;
let resolver: BlockResolver;

const NOT_ALLOWED = 'ESS_PATH_NOT_ALLOWED';

function executor(...localDirs: string[]): ExecutorShuffleInfo {
  return { localDirs, subDirsPerLocalDir: 64, shuffleManager: 'sort' };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function writeMapOutput(executorInfo: ExecutorShuffleInfo): Promise<void> {
  await writeFileAt(blockFilePath(executorInfo, 'shuffle_0_0_0.index'), indexBytes([3, 4]));
  await writeFileAt(blockFilePath(executorInfo, 'shuffle_0_0_0.data'), 'abcdefg');
  await writeFileAt(blockFilePath(executorInfo, 'rdd_2_5'), 'rdd');
}

beforeEach(async () => {
  root = await makeTemp('root');
  outside = await makeTemp('outside');
  localDir = path.join(root, 'blockmgr-1');
  info = executor(localDir);
  resolver = createBlockResolver({ allowedRoots: [root] });
});

afterEach(async () => {
  await removeTemp(root);
  await removeTemp(outside);
});

describe('confineLocalDirs', () => {
  it('returns the real path of each dir under a root, existing or not', async () => {
    await mkdir(path.join(root, 'real-dir'));
    await symlink(path.join(root, 'real-dir'), path.join(root, 'linked'));
    const confined = await confineLocalDirs(
      [path.join(root, 'linked'), `${root}/x/../not-yet/blockmgr-2`],
      [root],
    );
    assert.deepEqual(confined, [
      path.join(root, 'real-dir'),
      path.join(root, 'not-yet', 'blockmgr-2'),
    ]);
  });

  it('refuses a dir whose `..` climbs out of the root, saying where it leads', async () => {
    // Written out by hand: path.join would fold the `..` away before the code under test sees it.
    const escaping = `${root}/blockmgr-1/../../${path.basename(outside)}`;
    await rejectsWith(
      confineLocalDirs([escaping], [root]),
      NOT_ALLOWED,
      new RegExp(`resolves to "${outside}"`),
    );
  });

  it('refuses a dir that does not exist yet below a missing part that climbs out', async () => {
    const escaping = `${root}/missing/../../${path.basename(outside)}/new`;
    await rejectsWith(confineLocalDirs([escaping], [root]), NOT_ALLOWED);
  });

  it('refuses a dir reached through a symlink that leads out', async () => {
    await symlink(outside, path.join(root, 'escape'));
    await rejectsWith(
      confineLocalDirs([path.join(root, 'escape', 'blockmgr-1')], [root]),
      NOT_ALLOWED,
      /--allowed-root covering spark\.local\.dir/,
    );
  });

  it('accepts the roots given through a symlink', async () => {
    const linkToRoot = path.join(outside, 'root-link');
    await symlink(root, linkToRoot);
    assert.deepEqual(await confineLocalDirs([localDir], [linkToRoot]), [localDir]);
    assert.deepEqual(await confineLocalDirs([path.join(linkToRoot, 'blockmgr-1')], [root]), [
      localDir,
    ]);
  });

  it('refuses everything when no root is configured', async () => {
    await rejectsWith(
      confineLocalDirs([localDir], []),
      NOT_ALLOWED,
      /no --allowed-root is configured/,
    );
  });

  for (const [dir, reason] of [
    ['', /empty/],
    ['relative/blockmgr-1', /not absolute/],
    ['/tmp/a\0b', /NUL/],
  ] as const) {
    it(`refuses ${JSON.stringify(dir)}`, async () => {
      await rejectsWith(confineLocalDirs([dir], [root]), NOT_ALLOWED, reason);
    });
  }

  it('refuses a relative root', async () => {
    await rejectsWith(confineLocalDirs([localDir], ['spark-local']), NOT_ALLOWED, /not absolute/);
  });
});

describe('a registration outside the roots (made before the roots changed)', () => {
  let away: ExecutorShuffleInfo;
  beforeEach(async () => {
    away = executor(path.join(outside, 'blockmgr-9'));
    await writeMapOutput(away);
  });

  it('is refused for shuffle blocks', async () => {
    await rejectsWith(
      resolver.shuffleSegment(away, 0, 0n, 0, 1),
      NOT_ALLOWED,
      /not under any allowed root/,
    );
  });

  it('is refused for rdd blocks', async () => {
    await rejectsWith(resolver.rddSegment(away, 2, 5), NOT_ALLOWED);
  });

  it('is refused for corruption diagnosis', async () => {
    await rejectsWith(resolver.diagnoseCorruption(away, 0, 0n, 0, 0n, 'ADLER32'), NOT_ALLOWED);
  });

  it('deletes nothing', async () => {
    await rejectsWith(
      resolver.removeBlocks(away, ['rdd_2_5', 'shuffle_0_0_0.index', 'shuffle_0_0_0.data']),
      NOT_ALLOWED,
    );
    for (const name of ['rdd_2_5', 'shuffle_0_0_0.index', 'shuffle_0_0_0.data']) {
      assert.equal(await exists(blockFilePath(away, name)), true, name);
    }
  });

  it('is refused too when reached by `..` from inside a root', async () => {
    const escaping = executor(`${root}/../${path.basename(outside)}/blockmgr-9`);
    await rejectsWith(
      resolver.shuffleSegment(escaping, 0, 0n, 0, 1),
      NOT_ALLOWED,
      new RegExp(`resolves to "${outside}/blockmgr-9/`),
    );
  });
});

describe('a `..` that stays inside the root', () => {
  it('works', async () => {
    await writeMapOutput(info);
    const winding = executor(`${root}/other/../blockmgr-1`);
    await mkdir(path.join(root, 'other'));
    const segment = await resolver.shuffleSegment(winding, 0, 0n, 1, 2);
    assert.deepEqual({ offset: segment.offset, length: segment.length }, { offset: 3, length: 4 });
  });
});

describe('a symlink planted inside a local dir, leading out', () => {
  it('as a subdir: the data file behind it is refused and kept', async () => {
    await writeFileAt(blockFilePath(info, 'shuffle_0_0_0.index'), indexBytes([3, 4]));
    const secret = path.join(outside, '0c', 'shuffle_0_0_0.data');
    await writeFileAt(secret, 'abcdefg');
    await symlink(path.join(outside, '0c'), path.join(localDir, '0c'));
    await rejectsWith(resolver.shuffleSegment(info, 0, 0n, 0, 1), NOT_ALLOWED, /resolves to/);
    await rejectsWith(resolver.removeBlocks(info, ['shuffle_0_0_0.data']), NOT_ALLOWED);
    assert.equal(await readFile(secret, 'latin1'), 'abcdefg');
  });

  it('as the data file: refused for reading and deleting; nothing is deleted', async () => {
    const index = blockFilePath(info, 'shuffle_0_0_0.index');
    await writeFileAt(index, indexBytes([3, 4]));
    const secret = path.join(outside, 'secret');
    await writeFileAt(secret, 'abcdefg');
    const link = blockFilePath(info, 'shuffle_0_0_0.data');
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(secret, link);
    await rejectsWith(resolver.shuffleSegment(info, 0, 0n, 0, 1), NOT_ALLOWED);
    await rejectsWith(
      resolver.removeBlocks(info, ['shuffle_0_0_0.index', 'shuffle_0_0_0.data']),
      NOT_ALLOWED,
    );
    assert.equal(await exists(secret), true);
    assert.equal(await exists(link), true);
    // Every path is checked before any is deleted: the index survives too.
    assert.equal(await exists(index), true);
  });

  it('as the index file: refused', async () => {
    const secret = path.join(outside, 'secret.index');
    await writeFileAt(secret, indexBytes([3, 4]));
    await writeFileAt(blockFilePath(info, 'shuffle_0_0_0.data'), 'abcdefg');
    const link = blockFilePath(info, 'shuffle_0_0_0.index');
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(secret, link);
    await rejectsWith(resolver.shuffleSegment(info, 0, 0n, 0, 1), NOT_ALLOWED);
  });

  it('as an rdd block: refused', async () => {
    const secret = path.join(outside, 'secret');
    await writeFileAt(secret, 'x');
    const link = blockFilePath(info, 'rdd_2_5');
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(secret, link);
    await rejectsWith(resolver.rddSegment(info, 2, 5), NOT_ALLOWED);
    await rejectsWith(resolver.removeBlocks(info, ['rdd_2_5']), NOT_ALLOWED);
    assert.equal(await exists(secret), true);
  });

  it('dangling: missing while its target is missing, refused once the target appears', async () => {
    await writeFileAt(blockFilePath(info, 'shuffle_0_0_0.index'), indexBytes([3, 4]));
    const target = path.join(outside, 'later.data');
    const link = blockFilePath(info, 'shuffle_0_0_0.data');
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(target, link);
    await rejectsWith(resolver.shuffleSegment(info, 0, 0n, 0, 1), 'ESS_FILE_MISSING');
    await writeFileAt(target, 'abcdefg');
    await rejectsWith(resolver.shuffleSegment(info, 0, 0n, 0, 1), NOT_ALLOWED);
  });

  it('as the local dir itself: refused', async () => {
    await symlink(outside, path.join(root, 'blockmgr-link'));
    const linked = executor(path.join(root, 'blockmgr-link'));
    await writeMapOutput(executor(outside));
    await rejectsWith(resolver.shuffleSegment(linked, 0, 0n, 0, 1), NOT_ALLOWED);
  });
});

describe('a symlink that stays inside the roots', () => {
  it('is followed for reads and unlinked (not followed) for deletes', async () => {
    const realDir = path.join(root, 'disk2', 'blockmgr-1');
    await writeMapOutput(executor(realDir));
    await symlink(realDir, path.join(root, 'blockmgr-link'));
    const linked = executor(path.join(root, 'blockmgr-link'));
    const segment = await resolver.shuffleSegment(linked, 0, 0n, 0, 1);
    // Served through the link: the segment names the file as the executor's dirs lead to it.
    assert.equal(segment.path, blockFilePath(linked, 'shuffle_0_0_0.data'));
    assert.ok(segment.length > 0);
    assert.equal(await resolver.removeBlocks(linked, ['rdd_2_5']), 1);
    assert.equal(await exists(blockFilePath(executor(realDir), 'rdd_2_5')), false);
  });

  it('serves files under either of two roots', async () => {
    const second = path.join(outside, 'disk2');
    const both = createBlockResolver({ allowedRoots: [root, second] });
    const there = executor(path.join(second, 'blockmgr-2'));
    await writeMapOutput(there);
    assert.equal((await both.shuffleSegment(there, 0, 0n, 1, 2)).length, 4);
    await rejectsWith(resolver.shuffleSegment(there, 0, 0n, 1, 2), NOT_ALLOWED);
  });
});

describe('roots and registrations that cannot be used', () => {
  it('with no root configured, every read is refused and says why', async () => {
    await writeMapOutput(info);
    const closed = createBlockResolver({ allowedRoots: [] });
    await rejectsWith(
      closed.shuffleSegment(info, 0, 0n, 0, 1),
      NOT_ALLOWED,
      /no --allowed-root is configured/,
    );
    await rejectsWith(closed.rddSegment(info, 2, 5), NOT_ALLOWED, /no --allowed-root/);
    await rejectsWith(closed.removeBlocks(info, ['rdd_2_5']), NOT_ALLOWED);
    assert.equal(await exists(blockFilePath(info, 'rdd_2_5')), true);
  });

  it('refuses a relative local dir', async () => {
    await rejectsWith(
      resolver.shuffleSegment(executor('blockmgr-1'), 0, 0n, 0, 1),
      NOT_ALLOWED,
      /not absolute/,
    );
  });

  it('refuses a segment path forged outside the roots', async () => {
    const secret = path.join(outside, 'secret');
    await writeFileAt(secret, 'top secret');
    await rejectsWith(resolver.openSegment({ path: secret, offset: 0, length: 3 }), NOT_ALLOWED);
  });
});
