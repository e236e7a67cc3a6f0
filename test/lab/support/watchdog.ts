// As root, named namespaces outlive the process that made them. A detached watchdog deletes the
// ones listed in its file once the test process is gone, however it died (SIGKILL included); a
// normal teardown stops it first. Rootless labs need none: they die with their holder.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Watchdog {
  /** The namespaces to delete if this process dies without its teardown. */
  record(namespaces: readonly string[]): void;
  stop(): void;
}

const SCRIPT =
  'while [ -d "/proc/$1" ]; do sleep 1; done; ' +
  'while read -r ns; do ip netns del "$ns" 2>/dev/null; done < "$2"; rm -rf "$3"';

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
    record(namespaces) {
      writeFileSync(list, namespaces.map((name) => `${name}\n`).join(''));
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
