// Open files and parsed indexes kept between fetches. A reducer asks for many blocks of the same
// map output; opening, confining and statting its files for every block costs more than sending
// a small block. Files are opened (and confined) once, shared by the fetches in flight, and
// closed when idle, when the cache is full, or when their directory is cleaned up. Index files
// are kept whole, bounded in total bytes, as Spark's service keeps them.
import { ShuffleError } from '../errors.ts';
import { openConfined, type OpenedFile } from './confined-fs.ts';

export interface SharedFile extends OpenedFile {
  /** Gives the file back; it stays open for the next fetch until evicted. */
  release(): void;
}

interface Entry {
  readonly file: OpenedFile;
  refs: number;
  lastUsed: number;
  evicted: boolean;
}

export interface FileCacheOptions {
  /** Files kept open at most (file descriptors). */
  readonly maxOpenFiles: number;
  /** A file unused this long is closed. */
  readonly idleMs: number;
  /** Bytes of index files kept in memory at most. */
  readonly maxIndexBytes: number;
  /** An index larger than this is never cached (read in place instead). */
  readonly maxCachedIndexBytes: number;
}

export const FILE_CACHE_DEFAULTS: FileCacheOptions = {
  maxOpenFiles: 512,
  idleMs: 30_000,
  // spark.shuffle.service.index.cache.size defaults to 100m.
  maxIndexBytes: 100 * 1024 * 1024,
  maxCachedIndexBytes: 8 * 1024 * 1024,
};

export interface FileCache {
  /** The open file at `path`, confined to `roots`; undefined when it does not exist. */
  acquire(path: string, roots: readonly string[]): Promise<SharedFile | undefined>;
  /** The whole index file at `path`; undefined when it does not exist. */
  index(path: string, roots: readonly string[]): Promise<Buffer | undefined>;
  /** Forgets (and closes once unused) everything under these directories. */
  invalidateUnder(dirs: readonly string[]): void;
  readonly openFiles: number;
  readonly indexBytes: number;
  close(): Promise<void>;
}

export function createFileCache(options: FileCacheOptions = FILE_CACHE_DEFAULTS): FileCache {
  const files = new Map<string, Entry>();
  const opening = new Map<string, Promise<Entry | undefined>>();
  const indexes = new Map<string, Buffer>();
  let indexBytes = 0;

  const closeEntry = (entry: Entry): void => {
    entry.evicted = true;
    if (entry.refs === 0) void entry.file.handle.close().catch(() => undefined);
  };

  const evict = (key: string): void => {
    const entry = files.get(key);
    if (entry === undefined) return;
    files.delete(key);
    closeEntry(entry);
  };

  const makeRoom = (): void => {
    while (files.size >= options.maxOpenFiles) {
      // Map order is insertion order, refreshed on use: the first key is the least recently used.
      const oldest = files.keys().next();
      if (oldest.done === true) return;
      evict(oldest.value);
    }
  };

  const sweeper = setInterval(
    () => {
      const cutoff = Date.now() - options.idleMs;
      for (const [key, entry] of files) if (entry.refs === 0 && entry.lastUsed < cutoff) evict(key);
    },
    Math.max(1000, Math.min(options.idleMs, 10_000)),
  );
  sweeper.unref();

  const share = (key: string, entry: Entry): SharedFile => {
    entry.refs++;
    entry.lastUsed = Date.now();
    // Re-insert to mark it most recently used.
    if (!entry.evicted) {
      files.delete(key);
      files.set(key, entry);
    }
    let released = false;
    return {
      ...entry.file,
      release() {
        if (released) return;
        released = true;
        entry.refs--;
        if (entry.evicted && entry.refs === 0)
          void entry.file.handle.close().catch(() => undefined);
      },
    };
  };

  const under = (path: string, dirs: readonly string[]): boolean =>
    dirs.some((dir) => path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`));

  return {
    async acquire(path, roots) {
      const cached = files.get(path);
      if (cached !== undefined) return share(path, cached);
      let pending = opening.get(path);
      if (pending === undefined) {
        pending = openConfined(path, roots).then((file) => {
          if (file === undefined) return undefined;
          makeRoom();
          const entry: Entry = { file, refs: 0, lastUsed: Date.now(), evicted: false };
          files.set(path, entry);
          return entry;
        });
        opening.set(path, pending);
        void pending.finally(() => opening.delete(path)).catch(() => undefined);
      }
      const entry = await pending;
      return entry === undefined ? undefined : share(path, entry);
    },
    async index(path, roots) {
      const cached = indexes.get(path);
      if (cached !== undefined) {
        indexes.delete(path);
        indexes.set(path, cached);
        return cached;
      }
      const file = await openConfined(path, roots);
      if (file === undefined) return undefined;
      try {
        if (file.size > options.maxCachedIndexBytes) {
          throw new ShuffleError(
            'ESS_FILE_TRUNCATED',
            `Shuffle index file ${path} is ${file.size} bytes, more than the ${options.maxCachedIndexBytes} an index of a real map output takes; refusing to load it`,
          );
        }
        const data = Buffer.alloc(file.size);
        let filled = 0;
        while (filled < data.length) {
          const { bytesRead } = await file.handle.read(data, filled, data.length - filled, filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        const index = data.subarray(0, filled);
        indexes.set(path, index);
        indexBytes += index.length;
        while (indexBytes > options.maxIndexBytes) {
          const oldest = indexes.keys().next();
          if (oldest.done === true) break;
          indexBytes -= indexes.get(oldest.value)?.length ?? 0;
          indexes.delete(oldest.value);
        }
        return index;
      } finally {
        await file.handle.close();
      }
    },
    invalidateUnder(dirs) {
      for (const key of [...files.keys()]) if (under(key, dirs)) evict(key);
      for (const key of [...indexes.keys()]) {
        if (!under(key, dirs)) continue;
        indexBytes -= indexes.get(key)?.length ?? 0;
        indexes.delete(key);
      }
    },
    get openFiles() {
      return files.size;
    },
    get indexBytes() {
      return indexBytes;
    },
    async close() {
      clearInterval(sweeper);
      for (const key of [...files.keys()]) evict(key);
      indexes.clear();
      indexBytes = 0;
      await Promise.resolve();
    },
  };
}
