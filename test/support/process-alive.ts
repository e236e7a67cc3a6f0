// Whether a process still runs, for tests that check what a service started has stopped, and
// the cleanup of what a killed service left running.
import { readdirSync, readFileSync } from 'node:fs';

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills every process whose SPARK_HOME lies under `folder`: the Spark Connect servers a gateway
 * under test launched from a Spark home the test made. A gateway a failing test killed leaves
 * them running (as it would in production, for a restarted gateway to adopt).
 */
export function killLaunchedFrom(folder: string): number[] {
  const killed: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue;
    }
    const home = environ.split('\0').find((line) => line.startsWith('SPARK_HOME='));
    if (home?.slice('SPARK_HOME='.length).startsWith(folder) !== true) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return killed;
}
