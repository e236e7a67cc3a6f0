// Things an interop test starts side by side: when one start fails, the others that did start are
// still kept (so stopped when the test ends), and the ports handed out never collide with each
// other or with the ports the kernel hands to processes that bind port 0. A process a test forgets
// is ended when the file's tests are done, and the file fails naming it, instead of keeping the
// run waiting.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { keepAll, type Started } from '../../interop/harness/run.ts';
import { processTree } from '../../interop/harness/process-tree.ts';
import { freePort } from '../../interop/harness/wait.ts';

function fake(name: string): Started & { readonly name: string } {
  return { name, stop: () => Promise.resolve() };
}

describe('starting side by side', () => {
  it('keeps every start that succeeded and fails with the first that did not', async () => {
    const kept: string[] = [];
    const keep = <S extends Started>(started: S): S => {
      kept.push((started as unknown as { name: string }).name);
      return started;
    };
    const late = new Promise<ReturnType<typeof fake>>((resolve) =>
      setTimeout(() => {
        resolve(fake('late'));
      }, 50),
    );
    await assert.rejects(
      keepAll(keep, [Promise.reject(new Error('port taken')), late, Promise.resolve(fake('b'))]),
      /port taken/,
    );
    assert.deepEqual(kept, ['late', 'b']);
  });

  it('returns the started things in order when all start', async () => {
    const kept: Started[] = [];
    const [a, b] = await keepAll(
      (started) => {
        kept.push(started);
        return started;
      },
      [Promise.resolve(fake('a')), Promise.resolve(fake('b'))],
    );
    assert.deepEqual([a.name, b.name], ['a', 'b']);
    assert.equal(kept.length, 2);
  });

  it('hands out ports below the ephemeral range', async () => {
    const ephemeralLow = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      assert.ok(port < ephemeralLow && port >= ephemeralLow - 8192, String(port));
    }
  });

  it('never hands out a port twice, so a service and its admin port never get the same one', async () => {
    // 400 draws from 8,192 ports repeat one with a probability of 99.99% unless a port handed
    // out is remembered.
    const ports = new Set<number>();
    for (let i = 0; i < 400; i++) ports.add(await freePort());
    assert.equal(ports.size, 400);
  });

  /** Runs the fixture file as a test run of its own. */
  function runFixture(mode: 'forget' | 'stop'): {
    status: number | null;
    stdout: string;
    pid: number;
  } {
    const dir = mkdtempSync(join(tmpdir(), 'sparkplane-forgotten-'));
    try {
      const fixture = join(import.meta.dirname, 'fixtures', 'leaves-a-process.ts');
      // Without this runner's NODE_TEST_CONTEXT, the child runs as a test run of its own.
      const env = { ...process.env };
      delete env.NODE_TEST_CONTEXT;
      const child = spawnSync(process.execPath, ['--test', '--test-reporter=spec', fixture], {
        env: {
          ...env,
          FIXTURE_LOG_DIR: dir,
          FIXTURE_MODE: mode,
          SPARKPLANE_SPARK_VERSIONS: 'none',
        },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(child.error, undefined, 'the fixture file did not end');
      return {
        status: child.status,
        stdout: child.stdout,
        pid: Number(readFileSync(join(dir, 'pid'), 'utf8')),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('ends a process a test file forgot, and fails that file naming it', () => {
    const run = runFixture('forget');
    assert.notEqual(run.status, 0);
    assert.match(run.stdout, /forgotten-sleeper \(pid \d+\)/);
    assert.deepEqual(processTree(run.pid), []);
  });

  it('does not take a process stopped by the last test for a forgotten one', () => {
    for (let i = 0; i < 3; i++) {
      const run = runFixture('stop');
      assert.equal(run.status, 0, run.stdout);
    }
  });
});
