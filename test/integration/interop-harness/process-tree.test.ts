// The interop harness must leave nothing running: a process tree whose members ignore SIGTERM,
// or whose parent already exited, still ends completely.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { killTree, processTree, startProcess } from '../../interop/harness/process-tree.ts';
import { waitUntil } from '../../interop/harness/wait.ts';

const logDir = mkdtempSync(join(tmpdir(), 'sparkplane-process-tree-'));
after(() => {
  rmSync(logDir, { recursive: true, force: true });
});

function start(name: string, script: string) {
  return startProcess({
    name,
    command: 'bash',
    args: ['-c', script],
    env: process.env,
    cwd: logDir,
    logDir,
  });
}

describe('process tree', () => {
  it('ends a parent and its children, and logs their output', async () => {
    const parent = start('parent', 'echo ready; sleep 300 & sleep 300 & wait');
    await parent.waitForLog(/ready/, 5000);
    const tree = await waitUntil(
      () => (processTree(parent.pid).length >= 3 ? processTree(parent.pid) : undefined),
      {
        what: 'both children to start',
        timeoutMs: 5000,
      },
    );
    assert.ok(tree.includes(parent.pid));
    await parent.stop(2000);
    assert.deepEqual(processTree(parent.pid), []);
    assert.equal((await parent.exited).signal, 'SIGTERM');
  });

  it('kills with SIGKILL what ignores SIGTERM', async () => {
    const stubborn = start('stubborn', "trap '' TERM; echo ready; sleep 300 & wait; sleep 300");
    await stubborn.waitForLog(/ready/, 5000);
    const started = performance.now();
    await killTree(stubborn.pid, 300);
    assert.deepEqual(processTree(stubborn.pid), []);
    assert.ok(
      performance.now() - started >= 300,
      'SIGKILL should come only after the grace period',
    );
  });

  it('kills with SIGKILL at once, no SIGTERM first, when there is no grace', async () => {
    // It would exit 0 on SIGTERM: only a SIGKILL leaves the exit a signal.
    const graceful = start('graceful', "trap 'exit 0' TERM; echo ready; sleep 300 & wait");
    await graceful.waitForLog(/ready/, 5000);
    await killTree(graceful.pid, 0);
    assert.deepEqual(processTree(graceful.pid), []);
    assert.equal((await graceful.exited).signal, 'SIGKILL');
  });

  it('finds children whose parent has exited (same process group)', async () => {
    const orphaning = start('orphaning', 'sleep 300 & echo "child $!"');
    const match = await orphaning.waitForLog(/child (\d+)/, 5000);
    await orphaning.exited;
    const child = Number(match[1]);
    assert.ok(
      processTree(orphaning.pid).includes(child),
      'the orphan is still in the process group',
    );
    await orphaning.stop(2000);
    assert.deepEqual(processTree(orphaning.pid), []);
  });

  it('waitForLog fails at once when the process exits first', async () => {
    const quitter = start('quitter', 'echo bye; exit 3');
    await assert.rejects(quitter.waitForLog(/never/, 10_000), /quitter exited \(code 3\)/);
  });
});
