// Forgets applications whose local dirs are all gone: when nobody tells the service that an app
// ended (no Worker or NodeManager in front of it), the disappearance of its files is the sign.
import { access } from 'node:fs/promises';
import { shuffleChannels } from '../observability.ts';
import type { ExecutorRegistry } from './executor-registry.ts';

export interface Sweeper {
  /** One pass; resolves with the apps it removed. */
  sweep(): Promise<string[]>;
  stop(): void;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export function startSweeper(registry: ExecutorRegistry, intervalMs: number): Sweeper {
  const sweep = async (): Promise<string[]> => {
    const removed: string[] = [];
    for (const appId of registry.applications()) {
      const before = registry.executorsOf(appId);
      const dirs = before.flatMap((entry) => entry.info.localDirs);
      const present = await Promise.all(dirs.map(exists));
      if (present.some(Boolean)) continue;
      // An executor that registered while the dirs were checked keeps the app alive.
      const now = registry.executorsOf(appId);
      const unchanged =
        now.length === before.length && now.every((entry, index) => entry === before[index]);
      if (!unchanged) continue;
      const executors = registry.removeApplication(appId);
      shuffleChannels.applicationRemoved.publish({
        appId,
        executors: executors.length,
        cleanup: false,
      });
      removed.push(appId);
    }
    return removed;
  };
  const timer = intervalMs > 0 ? setInterval(() => void sweep(), intervalMs) : undefined;
  timer?.unref();
  return {
    sweep,
    stop() {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
