// Cleaning executors' local dirs when Spark says they are done (spec §3.7): after an executor exits,
// everything but the files the shuffle service still serves; after an application ends, the dirs
// themselves. Symlinks are never followed, and nothing outside the allowed roots is touched.
import { readdir, realpath, rm, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ShuffleError } from '../errors.ts';
import {
  assertConfined,
  checkAbsolutePath,
  resolveRealPath,
  type RealPath,
} from './path-confinement.ts';

export interface CleanupFailure {
  readonly path: string;
  readonly error: Error;
}

export interface CleanupResult {
  /** Files (executor cleanup) or dirs (application cleanup) deleted. */
  readonly removed: number;
  /** What was left in place and why; cleanup goes on past each one. */
  readonly failures: readonly CleanupFailure[];
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Names executor cleanup deletes: not shuffle output, and not cached RDD blocks when kept. */
export function isExecutorScratchFile(name: string, keepRddFiles: boolean): boolean {
  if (name.endsWith('.index') || name.endsWith('.data')) return false;
  return !(keepRddFiles && name.startsWith('rdd_'));
}

async function confinedDir(
  dir: string,
  realRoots: readonly string[],
  failures: CleanupFailure[],
): Promise<RealPath | undefined> {
  try {
    checkAbsolutePath(dir, 'local dir');
    const resolved = await resolveRealPath(dir);
    assertConfined(resolved.real, realRoots, dir);
    return resolved;
  } catch (error) {
    failures.push({ path: dir, error: asError(error) });
    return undefined;
  }
}

/** Deletes matching entries under `dir` (a real, confined path); returns how many. */
async function deleteScratch(
  dir: string,
  keepRddFiles: boolean,
  realRoots: readonly string[],
  failures: CleanupFailure[],
): Promise<number> {
  let removed = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    failures.push({ path: dir, error: asError(error) });
    return 0;
  }
  for (const entry of entries) {
    if (!isExecutorScratchFile(entry.name, keepRddFiles)) continue;
    const entryPath = path.join(dir, entry.name);
    try {
      if (entry.isDirectory()) {
        // Swapped for a symlink since readdir? Then its real path differs: leave it.
        if ((await realpath(entryPath)) !== entryPath) continue;
        removed += await deleteScratch(entryPath, keepRddFiles, realRoots, failures);
        await removeIfEmpty(entryPath, realRoots);
        continue;
      }
      if (entry.isSymbolicLink()) {
        assertConfined((await resolveRealPath(entryPath)).real, realRoots, entryPath);
      }
      await unlink(entryPath);
      removed++;
    } catch (error) {
      failures.push({ path: entryPath, error: asError(error) });
    }
  }
  return removed;
}

/** Removes an empty directory, as Spark's filtered delete does; an allowed root itself stays. */
async function removeIfEmpty(dir: string, realRoots: readonly string[]): Promise<void> {
  if (realRoots.includes(dir)) return;
  try {
    await rmdir(dir);
  } catch {
    // Not empty, or already gone: nothing to do.
  }
}

/**
 * executorRemoved: under each local dir, delete every file not ending `.index` / `.data` (and,
 * with `keepRddFiles`, not starting `rdd_`); directories left empty go too.
 */
export async function cleanupExecutorDirs(
  localDirs: readonly string[],
  realRoots: readonly string[],
  keepRddFiles: boolean,
): Promise<CleanupResult> {
  const failures: CleanupFailure[] = [];
  let removed = 0;
  for (const dir of new Set(localDirs)) {
    const resolved = await confinedDir(dir, realRoots, failures);
    if (resolved?.exists !== true) continue;
    removed += await deleteScratch(resolved.real, keepRddFiles, realRoots, failures);
    await removeIfEmpty(resolved.real, realRoots);
  }
  return { removed, failures };
}

/** applicationRemoved with cleanup: each local dir deleted recursively; an allowed root never. */
export async function removeDirs(
  localDirs: readonly string[],
  realRoots: readonly string[],
): Promise<CleanupResult> {
  const failures: CleanupFailure[] = [];
  let removed = 0;
  for (const dir of new Set(localDirs)) {
    const resolved = await confinedDir(dir, realRoots, failures);
    if (resolved?.exists !== true) continue;
    if (realRoots.includes(resolved.real)) {
      failures.push({
        path: dir,
        error: new ShuffleError(
          'ESS_PATH_NOT_ALLOWED',
          `Refusing to delete local dir ${JSON.stringify(dir)}: it is the allowed root ${JSON.stringify(resolved.real)} itself, not an executor's blockmgr-* dir under it; point spark.local.dir at a directory below the root`,
        ),
      });
      continue;
    }
    try {
      // rm does not follow symlinks inside the tree; it unlinks them.
      await rm(resolved.real, { recursive: true, force: true });
      removed++;
    } catch (error) {
      failures.push({ path: dir, error: asError(error) });
    }
  }
  return { removed, failures };
}
