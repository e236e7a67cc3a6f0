// Where an executor keeps a block on disk (spec §4.1): the file name's Java hash picks one of the
// executor's local dirs and a two-hex-digit subdir. Executors reading host-local blocks compute the
// same path from the dirs we report, so this must match Spark bit for bit.
import { ShuffleError } from '../errors.ts';

/** What an executor registers (spec §2.3): its blockmgr-* dirs, as it sent them. */
export interface ExecutorShuffleInfo {
  readonly localDirs: readonly string[];
  readonly subDirsPerLocalDir: number;
  readonly shuffleManager: string;
}

/** Java's `String.hashCode`: over UTF-16 code units, wrapping at 32 bits. */
export function javaStringHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
  }
  return hash;
}

/** Spark's `nonNegativeHash`: |hash|, with Integer.MIN_VALUE (whose |x| overflows) mapped to 0. */
export function nonNegativeHash(text: string): number {
  const hash = javaStringHash(text);
  return hash === -(2 ** 31) ? 0 : Math.abs(hash);
}

/** What `new java.io.File(path).getPath()` gives on Unix: repeated `/` collapsed, trailing `/` dropped. */
export function normalizeLikeJavaFile(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed;
}

/** Two lower-case hex digits at least, as Java's `%02x`. */
export function subDirName(subDirId: number): string {
  return subDirId.toString(16).padStart(2, '0');
}

/**
 * The path of `fileName` among the executor's dirs. Not resolved against the file system: `..` and
 * symlinks are left to the kernel, exactly as Spark leaves them; confinement checks the real path.
 */
export function blockFilePath(info: ExecutorShuffleInfo, fileName: string): string {
  const dirCount = info.localDirs.length;
  if (dirCount === 0) {
    throw new ShuffleError(
      'ESS_BAD_MESSAGE',
      `Cannot locate ${fileName}: the executor registered no local dirs; it must send its blockmgr-* dirs in RegisterExecutor`,
    );
  }
  const subDirs = info.subDirsPerLocalDir;
  if (!Number.isInteger(subDirs) || subDirs < 1 || subDirs > 2 ** 31 - 1) {
    throw new ShuffleError(
      'ESS_BAD_MESSAGE',
      `Cannot locate ${fileName}: the executor registered subDirsPerLocalDir=${subDirs}; spark.diskStore.subDirectories must be a positive int`,
    );
  }
  const hash = nonNegativeHash(fileName);
  const dir = info.localDirs[hash % dirCount] ?? '';
  const subDirId = Math.floor(hash / dirCount) % subDirs;
  return normalizeLikeJavaFile(`${dir}/${subDirName(subDirId)}/${fileName}`);
}
