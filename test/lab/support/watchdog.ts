// Named namespaces (as root) and processes started in their own process groups outlive the test
// process that made them. A detached watchdog kills the listed process groups and deletes the
// listed namespaces once the test process is gone, however it died (SIGKILL included); a normal
// teardown stops it first. Rootless namespaces need no deleting: they die with their holder.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Watchdog {
  /** What to end if this process dies without its teardown. */
  record(namespaces: readonly string[], processGroups: readonly number[]): void;
  stop(): void;
}

const SCRIPT =
  'while [ -d "/proc/$1" ]; do sleep 1; done; ' +
  'while read -r kind name; do case "$kind" in ' +
  'group) kill -KILL "-$name" 2>/dev/null ;; namespace) ip netns del "$name" 2>/dev/null ;; ' +
  'esac; done < "$2"; rm -rf "$3"';

export function startWatchdog(): Watchdog {
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-lab-watchdog-'));
  const list = join(dir, 'namespaces');
  writeFileSync(list, '');
  const child = spawn('sh', ['-c', SCRIPT, 'lab-watchdog', String(process.pid), list, dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  let stopped = false;
  return {
    record(namespaces, processGroups) {
      // Processes first: a namespace cannot go while something still runs in it.
      const lines = [
        ...processGroups.map((group) => `group ${String(group)}\n`),
        ...namespaces.map((name) => `namespace ${name}\n`),
      ];
      writeFileSync(list, lines.join(''));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // It ended already.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
