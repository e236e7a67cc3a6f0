// The block resolver of the external shuffle service: from a registered executor's dirs and a
// block, the file and byte range to send (spec §3–§4), plus the deletes and checks Spark asks the
// service for. Every file it opens or deletes is first confined to the allowed roots.
import { fstatSync } from 'node:fs';
import { ShuffleError } from '../errors.ts';
import {
  isInt32Id,
  isMapId,
  isRemovableBlockFile,
  rddFile,
  shuffleChecksumFile,
  shuffleDataFile,
  shuffleIndexFile,
} from './block-id.ts';
import { isChecksumAlgorithm } from './checksum.ts';
import { openConfined, planUnlink, unlinkEntry, type OpenedFile } from './confined-fs.ts';
import {
  checksumOfRange,
  decideCause,
  readStoredChecksum,
  type CorruptionCause,
} from './corruption-diagnosis.ts';
import { blockFilePath, type ExecutorShuffleInfo } from './disk-layout.ts';
import {
  createFileCache,
  type FileCache,
  type FileCacheOptions,
  type SharedFile,
} from './file-cache.ts';
import { checkReduceRange, indexRangeOf, type FileSegment } from './index-file.ts';
import { cleanupExecutorDirs, removeDirs, type CleanupResult } from './local-dir-cleanup.ts';
import { checkAbsolutePath, resolveAllowedRoots } from './path-confinement.ts';

export { CORRUPTION_CAUSE_ORDINAL, type CorruptionCause } from './corruption-diagnosis.ts';
export type { CleanupFailure, CleanupResult } from './local-dir-cleanup.ts';

export interface BlockResolver {
  /**
   * Byte range of partitions [startReduceId, endReduceId) of one map output; checks the data file
   * exists and is long enough (ESS_FILE_MISSING / ESS_FILE_TRUNCATED with the path). The segment's
   * path is the data file's real path.
   */
  shuffleSegment(
    info: ExecutorShuffleInfo,
    shuffleId: number,
    mapId: bigint,
    startReduceId: number,
    endReduceId: number,
  ): Promise<FileSegment>;
  /** Whole rdd_R_P file, or undefined when it does not exist (Spark answers "Chunk was not found"). */
  rddSegment(
    info: ExecutorShuffleInfo,
    rddId: number,
    splitIndex: number,
  ): Promise<FileSegment | undefined>;
  /**
   * Opens a segment's file for sending, confined again at open time (the tree may have changed
   * since the segment was resolved) and checked to still hold the range. The caller releases it;
   * the open file is shared with other fetches of the same file.
   */
  openSegment(segment: FileSegment): Promise<SharedFile>;
  /**
   * Deletes the named files (rdd_R_P, shuffle_S_M_0.index/.data names); returns how many were
   * deleted. Names that are not such block/file names are skipped, never turned into paths.
   * Every path is checked before any is deleted, so a refused one leaves all in place.
   */
  removeBlocks(info: ExecutorShuffleInfo, blockIds: readonly string[]): Promise<number>;
  /**
   * Spec §4.5. Failures to read the map output or its checksum file give UNKNOWN_ISSUE as in Spark;
   * a path outside the allowed roots still throws ESS_PATH_NOT_ALLOWED. `checksum` is the
   * reader's i64 from the wire.
   */
  diagnoseCorruption(
    info: ExecutorShuffleInfo,
    shuffleId: number,
    mapId: bigint,
    reduceId: number,
    checksum: bigint,
    algorithm: string,
  ): Promise<CorruptionCause>;
  /**
   * executorRemoved (spec §3.7): deletes files under the local dirs that do not end `.index` /
   * `.data`; `rdd_*` files are kept unless `keepRddFiles` is false.
   */
  cleanupExecutorFiles(
    info: ExecutorShuffleInfo,
    options?: { readonly keepRddFiles?: boolean },
  ): Promise<CleanupResult>;
  /** applicationRemoved with cleanup: deletes the local dirs recursively. */
  removeLocalDirs(info: ExecutorShuffleInfo): Promise<CleanupResult>;
  /** Closes the files kept open between fetches of an executor that is gone. */
  forget(info: ExecutorShuffleInfo): void;
  readonly cache: FileCache;
  close(): Promise<void>;
}

export interface BlockResolverOptions {
  /** Directories the service may read and delete under; resolved once, on first use. */
  readonly allowedRoots: readonly string[];
  readonly cache?: FileCacheOptions;
}

function badIds(what: string): ShuffleError {
  return new ShuffleError(
    'ESS_BAD_BLOCK_ID',
    `Invalid ${what}: ids are non-negative Java ints (map ids non-negative longs)`,
  );
}

function checkRegisteredDirs(info: ExecutorShuffleInfo): void {
  for (const dir of info.localDirs) checkAbsolutePath(dir, 'local dir');
}

async function withFile<T>(file: OpenedFile, use: (file: OpenedFile) => Promise<T>): Promise<T> {
  try {
    return await use(file);
  } finally {
    await file.handle.close();
  }
}

export function createBlockResolver(options: BlockResolverOptions): BlockResolver {
  const configuredRoots = [...options.allowedRoots];
  const cache = createFileCache(options.cache);
  let resolvedRoots: Promise<string[]> | undefined;

  function realRoots(): Promise<string[]> {
    resolvedRoots ??= resolveAllowedRoots(configuredRoots).catch((error: unknown) => {
      resolvedRoots = undefined;
      throw error;
    });
    return resolvedRoots;
  }

  async function shuffleSegment(
    info: ExecutorShuffleInfo,
    shuffleId: number,
    mapId: bigint,
    startReduceId: number,
    endReduceId: number,
  ): Promise<FileSegment> {
    if (!isInt32Id(shuffleId) || !isMapId(mapId)) {
      throw badIds(`shuffle block shuffleId=${shuffleId} mapId=${mapId}`);
    }
    checkReduceRange(startReduceId, endReduceId);
    checkRegisteredDirs(info);
    const roots = await realRoots();
    const indexPath = blockFilePath(info, shuffleIndexFile(shuffleId, mapId));
    const index = await cache.index(indexPath, roots);
    if (index === undefined) {
      throw new ShuffleError('ESS_FILE_MISSING', `Failed to open file: ${indexPath}`);
    }
    const range = await indexRangeOf(index, indexPath, startReduceId, endReduceId);
    const dataPath = blockFilePath(info, shuffleDataFile(shuffleId, mapId));
    const data = await cache.acquire(dataPath, roots);
    if (data === undefined) {
      throw new ShuffleError(
        'ESS_FILE_MISSING',
        `Failed to open file: ${dataPath} (the shuffle data file is missing although its index ${indexPath} exists; the map output is incomplete and Spark will recompute it after the fetch failure)`,
      );
    }
    data.release();
    const end = range.offset + range.length;
    if (data.size < end) {
      throw new ShuffleError(
        'ESS_FILE_TRUNCATED',
        `Shuffle data file ${dataPath} is ${data.size} bytes, but its index ${indexPath} puts partitions [${startReduceId}, ${endReduceId}) at bytes [${range.offset}, ${end}); the map output is truncated (disk full or a crashed writer?) and Spark will recompute it after the fetch failure`,
      );
    }
    // The path as computed: later opens of the segment find the file already open under it.
    return { path: dataPath, offset: range.offset, length: range.length };
  }

  async function rddSegment(
    info: ExecutorShuffleInfo,
    rddId: number,
    splitIndex: number,
  ): Promise<FileSegment | undefined> {
    if (!isInt32Id(rddId) || !isInt32Id(splitIndex)) {
      throw badIds(`rdd block rddId=${rddId} splitIndex=${splitIndex}`);
    }
    checkRegisteredDirs(info);
    const roots = await realRoots();
    const path = blockFilePath(info, rddFile(rddId, splitIndex));
    const file = await cache.acquire(path, roots);
    if (file === undefined) return undefined;
    file.release();
    return { path, offset: 0, length: file.size };
  }

  async function openSegment(segment: FileSegment): Promise<SharedFile> {
    const roots = await realRoots();
    let file = await cache.acquire(segment.path, roots);
    // A file kept open may have been deleted or cut since: one fstat tells both. It is a
    // synchronous call on purpose: a handful of microseconds, where a trip through the thread
    // pool costs more than sending a small block.
    let stats = file === undefined ? undefined : fstatSync(file.handle.fd);
    if (file !== undefined && stats?.nlink === 0) {
      file.release();
      cache.invalidateUnder([segment.path]);
      file = await cache.acquire(segment.path, roots);
      stats = file === undefined ? undefined : fstatSync(file.handle.fd);
    }
    if (file === undefined || stats === undefined) {
      throw new ShuffleError('ESS_FILE_MISSING', `Failed to open file: ${segment.path}`);
    }
    const end = segment.offset + segment.length;
    if (stats.size < end) {
      file.release();
      throw new ShuffleError(
        'ESS_FILE_TRUNCATED',
        `File ${segment.path} is ${stats.size} bytes but the block to send ends at byte ${end}; it was truncated after the block was located`,
      );
    }
    return file;
  }

  async function removeBlocks(
    info: ExecutorShuffleInfo,
    blockIds: readonly string[],
  ): Promise<number> {
    checkRegisteredDirs(info);
    const roots = await realRoots();
    const entries: string[] = [];
    for (const name of new Set(blockIds)) {
      if (!isRemovableBlockFile(name)) continue;
      const entry = await planUnlink(blockFilePath(info, name), roots);
      if (entry !== undefined) entries.push(entry);
    }
    let removed = 0;
    for (const entry of entries) if (await unlinkEntry(entry)) removed++;
    if (removed > 0) cache.invalidateUnder(info.localDirs);
    return removed;
  }

  async function storedChecksum(
    info: ExecutorShuffleInfo,
    roots: readonly string[],
    shuffleId: number,
    mapId: bigint,
    reduceId: number,
    algorithm: string,
  ): Promise<bigint | undefined> {
    const checksumPath = blockFilePath(info, shuffleChecksumFile(shuffleId, mapId, algorithm));
    const file = await openConfined(checksumPath, roots);
    if (file === undefined) return undefined;
    return withFile(file, (opened) => readStoredChecksum(opened.handle, opened.size, reduceId));
  }

  async function diagnoseCorruption(
    info: ExecutorShuffleInfo,
    shuffleId: number,
    mapId: bigint,
    reduceId: number,
    checksum: bigint,
    algorithm: string,
  ): Promise<CorruptionCause> {
    // Checked first, and before the name reaches a path: only these three names are ever used.
    if (!isChecksumAlgorithm(algorithm)) return 'UNSUPPORTED_CHECKSUM_ALGORITHM';
    try {
      const roots = await realRoots();
      const segment = await shuffleSegment(info, shuffleId, mapId, reduceId, reduceId + 1);
      const stored = await storedChecksum(info, roots, shuffleId, mapId, reduceId, algorithm);
      if (stored === undefined) return 'UNKNOWN_ISSUE';
      const data = await openConfined(segment.path, roots);
      if (data === undefined) return 'UNKNOWN_ISSUE';
      const recomputed = await withFile(data, (opened) =>
        checksumOfRange(opened.handle, segment.offset, segment.length, algorithm),
      );
      if (recomputed === undefined) return 'UNKNOWN_ISSUE';
      return decideCause(stored, recomputed, checksum);
    } catch (error) {
      if (error instanceof ShuffleError && error.code === 'ESS_PATH_NOT_ALLOWED') throw error;
      return 'UNKNOWN_ISSUE';
    }
  }

  return {
    shuffleSegment,
    rddSegment,
    openSegment,
    removeBlocks,
    diagnoseCorruption,
    cache,
    forget(info) {
      cache.invalidateUnder(info.localDirs);
    },
    close: () => cache.close(),
    async cleanupExecutorFiles(info, cleanupOptions) {
      cache.invalidateUnder(info.localDirs);
      return cleanupExecutorDirs(
        info.localDirs,
        await realRoots(),
        cleanupOptions?.keepRddFiles ?? true,
      );
    },
    async removeLocalDirs(info) {
      cache.invalidateUnder(info.localDirs);
      return removeDirs(info.localDirs, await realRoots());
    },
  };
}
