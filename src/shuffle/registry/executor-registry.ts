// Registered executors: (appId, execId) → the local dirs their shuffle files are under. Kept in
// memory for lookups and, with a state folder, in an embedded SQLite file written before the
// registration is acknowledged, so a service killed with SIGKILL serves every executor it had
// acknowledged once it is back, without any re-registration.
import type { StatementSync } from 'node:sqlite';
import { openSqliteFile } from '../../core/sqlite-file.ts';
import { ShuffleError } from '../errors.ts';
import type { ExecutorShuffleInfo } from '../protocol/block-transfer.ts';

export interface RegisteredExecutor {
  readonly appId: string;
  readonly execId: string;
  readonly info: ExecutorShuffleInfo;
  readonly registeredAt: number;
}

export interface ExecutorRegistry {
  /** Stores (or replaces) a registration; durable when this returns. */
  register(appId: string, execId: string, info: ExecutorShuffleInfo): void;
  get(appId: string, execId: string): ExecutorShuffleInfo | undefined;
  executorsOf(appId: string): readonly RegisteredExecutor[];
  applications(): readonly string[];
  /** Forgets every executor of the app; returns what was registered. */
  removeApplication(appId: string): readonly RegisteredExecutor[];
  readonly executorCount: number;
  readonly applicationCount: number;
  /** Where registrations persist, or undefined when they live in memory only. */
  readonly path: string | undefined;
  close(): void;
}

const SCHEMA_VERSION = '1';
export const REGISTRY_FILE = 'shuffle-executors.sqlite';

export function openExecutorRegistry(options: {
  readonly stateDir?: string | undefined;
}): ExecutorRegistry {
  const byApp = new Map<string, Map<string, RegisteredExecutor>>();
  let executorCount = 0;
  const store = options.stateDir === undefined ? undefined : openStore(options.stateDir);

  const put = (entry: RegisteredExecutor): void => {
    let executors = byApp.get(entry.appId);
    if (executors === undefined) {
      executors = new Map();
      byApp.set(entry.appId, executors);
    }
    if (!executors.has(entry.execId)) executorCount++;
    executors.set(entry.execId, entry);
  };

  if (store !== undefined) for (const entry of store.loadAll()) put(entry);

  return {
    path: store?.path,
    register(appId, execId, info) {
      const entry: RegisteredExecutor = {
        appId,
        execId,
        info: copyInfo(info),
        registeredAt: Date.now(),
      };
      store?.upsert(entry);
      put(entry);
    },
    get: (appId, execId) => byApp.get(appId)?.get(execId)?.info,
    executorsOf: (appId) => [...(byApp.get(appId)?.values() ?? [])],
    applications: () => [...byApp.keys()],
    removeApplication(appId) {
      const executors = byApp.get(appId);
      if (executors === undefined) return [];
      store?.deleteApp(appId);
      byApp.delete(appId);
      executorCount -= executors.size;
      return [...executors.values()];
    },
    get executorCount() {
      return executorCount;
    },
    get applicationCount() {
      return byApp.size;
    },
    close() {
      store?.close();
    },
  };
}

function copyInfo(info: ExecutorShuffleInfo): ExecutorShuffleInfo {
  return {
    localDirs: [...info.localDirs],
    subDirsPerLocalDir: info.subDirsPerLocalDir,
    shuffleManager: info.shuffleManager,
  };
}

interface Store {
  readonly path: string;
  loadAll(): RegisteredExecutor[];
  upsert(entry: RegisteredExecutor): void;
  deleteApp(appId: string): void;
  close(): void;
}

function openStore(stateDir: string): Store {
  const { db, path } = openSqliteFile({
    stateDir,
    file: REGISTRY_FILE,
    schemaVersion: SCHEMA_VERSION,
    what: 'the executor registry',
    lossOnReset: 'executors registered before must register again',
    // Every acknowledged registration must survive a power cut, not only a process kill.
    synchronous: 'FULL',
    schema: [
      `CREATE TABLE IF NOT EXISTS executors (
        app_id TEXT NOT NULL,
        exec_id TEXT NOT NULL,
        local_dirs TEXT NOT NULL,
        sub_dirs_per_local_dir INTEGER NOT NULL,
        shuffle_manager TEXT NOT NULL,
        registered_at INTEGER NOT NULL,
        PRIMARY KEY (app_id, exec_id)
      )`,
    ],
    fail: (message, cause) => new ShuffleError('ESS_STATE', message, { cause }),
  });
  const upsert: StatementSync = db.prepare(
    `INSERT INTO executors (app_id, exec_id, local_dirs, sub_dirs_per_local_dir, shuffle_manager, registered_at)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (app_id, exec_id) DO UPDATE SET local_dirs = excluded.local_dirs,
       sub_dirs_per_local_dir = excluded.sub_dirs_per_local_dir, shuffle_manager = excluded.shuffle_manager,
       registered_at = excluded.registered_at`,
  );
  const deleteApp = db.prepare('DELETE FROM executors WHERE app_id = ?');
  const selectAll = db.prepare(
    'SELECT app_id, exec_id, local_dirs, sub_dirs_per_local_dir, shuffle_manager, registered_at FROM executors',
  );
  return {
    path,
    loadAll() {
      return (selectAll.all() as Record<string, unknown>[]).map((row) => ({
        appId: String(row.app_id),
        execId: String(row.exec_id),
        info: {
          localDirs: JSON.parse(String(row.local_dirs)) as string[],
          subDirsPerLocalDir: Number(row.sub_dirs_per_local_dir),
          shuffleManager: String(row.shuffle_manager),
        },
        registeredAt: Number(row.registered_at),
      }));
    },
    upsert(entry) {
      upsert.run(
        entry.appId,
        entry.execId,
        JSON.stringify(entry.info.localDirs),
        entry.info.subDirsPerLocalDir,
        entry.info.shuffleManager,
        entry.registeredAt,
      );
    },
    deleteApp(appId) {
      deleteApp.run(appId);
    },
    close() {
      db.close();
    },
  };
}
