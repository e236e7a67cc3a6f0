// Opens the embedded SQLite file a component keeps its state in: creates the state folder, turns
// on WAL, checks the schema version, and sets aside a file that is not a readable database so the
// service still starts (with a warning saying what was lost).
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { channels } from './diagnostics.ts';

export interface SqliteFileOptions {
  readonly stateDir: string;
  readonly file: string;
  readonly schemaVersion: string;
  /** What the file holds, for messages: "the executor registry". */
  readonly what: string;
  /** What is lost when an unreadable file is set aside: "executors registered before must register again". */
  readonly lossOnReset: string;
  /** FULL: durable across a power cut; NORMAL: across a process kill. */
  readonly synchronous: 'FULL' | 'NORMAL';
  /** CREATE TABLE IF NOT EXISTS … statements. */
  readonly schema: readonly string[];
  /** Builds the component's own error for a problem the user must fix. */
  readonly fail: (message: string, cause?: unknown) => Error;
}

export interface SqliteFile {
  readonly db: DatabaseSync;
  readonly path: string;
}

export function openSqliteFile(options: SqliteFileOptions): SqliteFile {
  try {
    mkdirSync(options.stateDir, { recursive: true });
  } catch (error) {
    throw options.fail(
      `cannot create the state folder ${options.stateDir}: ${String(error)}; check --state-dir and its permissions`,
      error,
    );
  }
  const path = join(options.stateDir, options.file);
  try {
    return { db: openDatabase(path, options), path };
  } catch (error) {
    if (error instanceof SchemaMismatch || !existsSync(path)) throw unwrap(error);
    const aside = `${path}.corrupt-${String(Date.now())}`;
    renameSync(path, aside);
    channels.warning.publish({
      message: `${options.what} ${path} could not be read (${String(error)}); it was moved to ${aside} and a new one started: ${options.lossOnReset}`,
    });
    return { db: openDatabase(path, options), path };
  }
}

class SchemaMismatch extends Error {
  readonly error: Error;
  constructor(error: Error) {
    super(error.message);
    this.error = error;
  }
}

function unwrap(error: unknown): unknown {
  return error instanceof SchemaMismatch ? error.error : error;
}

function openDatabase(path: string, options: SqliteFileOptions): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${options.synchronous}`);
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    for (const statement of options.schema) db.exec(statement);
    const version = db.prepare('SELECT value FROM meta WHERE key = ?').get('schemaVersion') as
      { value: string } | undefined;
    if (version === undefined)
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(
        'schemaVersion',
        options.schemaVersion,
      );
    else if (version.value !== options.schemaVersion)
      throw new SchemaMismatch(
        options.fail(
          `${options.what} ${path} has schema version ${version.value}, this sparkplane reads version ${options.schemaVersion}; use the sparkplane version that wrote it or another --state-dir`,
        ),
      );
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
