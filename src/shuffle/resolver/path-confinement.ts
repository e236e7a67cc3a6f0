// Keeps the shuffle service inside the directories it was allowed to serve. Executors tell us where
// their files are, so every dir and file is resolved to its real path (`..` and symlinks followed by
// the kernel) and must lie under an allowed root, itself resolved the same way.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { describeSystemError, systemErrorCode } from '../../core/system-errors.ts';
import { ShuffleError } from '../errors.ts';

const FIX =
  'start the service with --allowed-root covering spark.local.dir (the executors’ blockmgr-* dirs live under it)';

/** Lexical containment of `candidate` in `root`, both absolute; meant for real paths. */
export function isUnder(candidate: string, root: string): boolean {
  if (!path.isAbsolute(candidate) || !path.isAbsolute(root)) return false;
  const file = path.resolve(candidate);
  const base = path.resolve(root);
  if (file === base || base === '/') return true;
  return file.startsWith(`${base}/`);
}

function rootsText(roots: readonly string[]): string {
  return roots.map((root) => JSON.stringify(root)).join(', ');
}

/** The error for a path outside every root; names the path, what it resolved to, and the fix. */
export function pathNotAllowed(
  subject: string,
  resolved: string | undefined,
  roots: readonly string[],
): ShuffleError {
  if (roots.length === 0) {
    return new ShuffleError(
      'ESS_PATH_NOT_ALLOWED',
      `Refusing ${subject}: no --allowed-root is configured, so the shuffle service serves no files; ${FIX}`,
    );
  }
  const target =
    resolved === undefined ? 'it' : `it resolves to ${JSON.stringify(resolved)}, which`;
  return new ShuffleError(
    'ESS_PATH_NOT_ALLOWED',
    `Refusing ${subject}: ${target} is not under any allowed root (${rootsText(roots)}); ${FIX}`,
  );
}

/**
 * Synchronous check before each open or delete: the real path lies under one of the real roots.
 * `requested` is the path as computed from the registration, for the message.
 */
export function assertConfined(
  realFilePath: string,
  allowedRealRoots: readonly string[],
  requested?: string,
): void {
  if (allowedRealRoots.some((root) => isUnder(realFilePath, root))) return;
  if (requested === undefined || requested === realFilePath) {
    throw pathNotAllowed(JSON.stringify(realFilePath), undefined, allowedRealRoots);
  }
  throw pathNotAllowed(JSON.stringify(requested), realFilePath, allowedRealRoots);
}

/** Throws unless `text` is a usable absolute path: non-empty, no NUL byte. */
export function checkAbsolutePath(text: string, what: string): void {
  const problem =
    text.length === 0
      ? 'it is empty'
      : text.includes('\0')
        ? 'it contains a NUL byte'
        : !path.isAbsolute(text)
          ? 'it is not absolute'
          : undefined;
  if (problem !== undefined) {
    throw new ShuffleError(
      'ESS_PATH_NOT_ALLOWED',
      `Refusing ${what} ${JSON.stringify(text)}: ${problem}; executors register absolute blockmgr-* dirs`,
    );
  }
}

export interface RealPath {
  /** The kernel's answer for the existing part, plus the missing rest normalised. */
  readonly real: string;
  /** False when some trailing part of the path does not exist (yet). */
  readonly exists: boolean;
}

/**
 * `realpath`, also for paths that do not exist yet: the nearest existing ancestor is resolved and
 * the rest appended and normalised (it cannot hold symlinks while it does not exist).
 */
export async function resolveRealPath(target: string): Promise<RealPath> {
  const rest: string[] = [];
  let current = target;
  for (;;) {
    try {
      const real = await realpath(current);
      return { real: path.resolve(real, ...rest.reverse()), exists: rest.length === 0 };
    } catch (error) {
      const code = systemErrorCode(error);
      const parent = path.dirname(current);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) {
        const info = describeSystemError(error);
        throw new ShuffleError(
          'ESS_PATH_NOT_ALLOWED',
          `Refusing ${JSON.stringify(target)}: its real path cannot be resolved (${info.code}: ${info.summary}); ${info.hint}`,
          { cause: error },
        );
      }
      rest.push(path.basename(current));
      current = parent;
    }
  }
}

/** Real paths of the configured roots; each must be absolute (a root may not exist yet). */
export async function resolveAllowedRoots(allowedRoots: readonly string[]): Promise<string[]> {
  const resolved: string[] = [];
  for (const root of allowedRoots) {
    checkAbsolutePath(root, 'allowed root');
    resolved.push((await resolveRealPath(root)).real);
  }
  return resolved;
}

async function confineOne(
  dir: string,
  realRoots: readonly string[],
  configuredRoots: readonly string[],
): Promise<string> {
  checkAbsolutePath(dir, 'local dir');
  if (realRoots.length === 0)
    throw pathNotAllowed(`local dir ${JSON.stringify(dir)}`, undefined, []);
  const { real } = await resolveRealPath(dir);
  if (!realRoots.some((root) => isUnder(real, root))) {
    const shown = configuredRoots.map((root, i) =>
      root === realRoots[i] ? root : `${root} (real path ${String(realRoots[i])})`,
    );
    throw pathNotAllowed(`local dir ${JSON.stringify(dir)}`, real, shown);
  }
  return real;
}

/**
 * Checks an executor's local dirs against the allowed roots and returns their real paths, in order.
 * Keep the dirs as registered for the wire (GetLocalDirsForExecutors must echo them exactly).
 */
export async function confineLocalDirs(
  localDirs: readonly string[],
  allowedRoots: readonly string[],
): Promise<string[]> {
  const realRoots = await resolveAllowedRoots(allowedRoots);
  const confined: string[] = [];
  for (const dir of localDirs) confined.push(await confineOne(dir, realRoots, allowedRoots));
  return confined;
}
