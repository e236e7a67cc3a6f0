// File access that stays under the allowed roots. Each open resolves the real path first and opens
// that (never following a final symlink), then asks the kernel which file it really opened, so a
// symlink planted or swapped inside a local dir cannot lead a read or delete outside the roots.
import { constants } from 'node:fs';
import { lstat, open, readlink, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { describeSystemError, systemErrorCode } from '../../core/system-errors.ts';
import { ShuffleError } from '../errors.ts';
import { assertConfined, pathNotAllowed, resolveRealPath } from './path-confinement.ts';

export interface OpenedFile {
  readonly handle: FileHandle;
  /** The real path that was opened. */
  readonly real: string;
  readonly size: number;
}

// O_NONBLOCK: opening a FIFO someone left in a local dir must not hang the service.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** `Failed to open file: <path>` as Spark words it, with the system reason when it is not ENOENT. */
export function cannotOpen(target: string, error: unknown): ShuffleError {
  const info = describeSystemError(error);
  return new ShuffleError(
    'ESS_FILE_MISSING',
    `Failed to open file: ${target} (${info.code}: ${info.summary}; ${info.hint})`,
    { cause: error },
  );
}

/** Where the kernel says descriptor `fd` points, or undefined without procfs. */
async function openedPath(fd: number): Promise<string | undefined> {
  try {
    const link = await readlink(`/proc/self/fd/${fd}`);
    return link.endsWith(' (deleted)') ? link.slice(0, -' (deleted)'.length) : link;
  } catch {
    return undefined;
  }
}

/**
 * Opens `target` for reading if it exists; undefined when it does not. Throws
 * ESS_PATH_NOT_ALLOWED when it (or its nearest existing ancestor) resolves outside the roots.
 */
export async function openConfined(
  target: string,
  allowedRealRoots: readonly string[],
): Promise<OpenedFile | undefined> {
  const { real, exists } = await resolveRealPath(target);
  assertConfined(real, allowedRealRoots, target);
  if (!exists) return undefined;
  let handle: FileHandle;
  try {
    handle = await open(real, OPEN_FLAGS);
  } catch (error) {
    const code = systemErrorCode(error);
    if (code === 'ENOENT') return undefined;
    // The last component turned into a symlink after it was resolved.
    if (code === 'ELOOP') throw pathNotAllowed(JSON.stringify(target), undefined, allowedRealRoots);
    throw cannotOpen(target, error);
  }
  try {
    const actual = await openedPath(handle.fd);
    if (actual !== undefined) assertConfined(actual, allowedRealRoots, target);
    const stats = await handle.stat();
    if (!stats.isFile()) {
      throw new ShuffleError(
        'ESS_FILE_MISSING',
        `Failed to open file: ${target} (not a regular file; remove whatever occupies that name)`,
      );
    }
    return { handle, real, size: stats.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The entry to unlink for `target` (its real directory plus its name), or undefined when there is
 * nothing to delete. A symlink is unlinked itself, never followed, and only if it also resolves
 * inside the roots.
 */
export async function planUnlink(
  target: string,
  allowedRealRoots: readonly string[],
): Promise<string | undefined> {
  const dir = await resolveRealPath(path.dirname(target));
  assertConfined(dir.real, allowedRealRoots, path.dirname(target));
  if (!dir.exists) return undefined;
  const entry = path.join(dir.real, path.basename(target));
  let stats;
  try {
    stats = await lstat(entry);
  } catch {
    return undefined;
  }
  if (stats.isDirectory()) return undefined;
  if (stats.isSymbolicLink()) {
    assertConfined((await resolveRealPath(entry)).real, allowedRealRoots, target);
  }
  return entry;
}

/** Unlinks an entry from {@link planUnlink}; true when this call deleted it. */
export async function unlinkEntry(entry: string): Promise<boolean> {
  try {
    await unlink(entry);
    return true;
  } catch {
    return false;
  }
}
