// Where session affinity lives: (principal, user id, session id) → the backend the session was
// placed on, plus the operation-id index. The embedded store is an SQLite file under the state
// folder (in memory without one); every binding is written before the request that made it is
// forwarded, so a gateway killed with SIGKILL sends each session back to its server once it is up.
import type { StatementSync } from 'node:sqlite';
import { DatabaseSync } from 'node:sqlite';
import { openSqliteFile } from '../../core/sqlite-file.ts';
import { GatewayError } from '../errors.ts';

export interface SessionBinding {
  /** The identity the gateway verified ('' when the gateway does not authenticate). */
  readonly principal: string;
  readonly userId: string;
  readonly sessionId: string;
  /** Backend id, "host:port". */
  readonly backend: string;
  /** The backend's incarnation when the session was placed (its Spark application id). */
  readonly incarnation: string;
  readonly createdAt: number;
  lastSeenAt: number;
  /** Spark 4.x server_side_session_id, once a response carried it. */
  serverSideSessionId: string | undefined;
  readonly clientAddress: string;
}

export interface OperationBinding {
  readonly operationId: string;
  readonly sessionKey: string;
  readonly createdAt: number;
}

/** The store the session table writes through. Async, so a shared (networked) store fits too. */
export interface AffinityStore {
  readonly kind: 'sqlite' | 'memory' | 'redis';
  /** Where it lives, for logs (a file, or a Redis URL without its password). */
  readonly location: string | undefined;
  /**
   * Whether other gateways write to it too. The session table then asks the store about a session
   * or operation it does not hold in memory, since another gateway may have placed it.
   */
  readonly shared: boolean;
  loadSessions(): Promise<SessionBinding[]>;
  loadOperations(): Promise<OperationBinding[]>;
  findSession(key: string): Promise<SessionBinding | undefined>;
  findOperation(operationId: string): Promise<OperationBinding | undefined>;
  /** Binds the session unless it is bound already; resolves to the binding that holds. */
  bind(binding: SessionBinding): Promise<{ binding: SessionBinding; created: boolean }>;
  updateServerSideSessionId(key: string, serverSideSessionId: string): Promise<void>;
  touch(lastSeen: ReadonlyMap<string, number>): Promise<void>;
  remove(keys: readonly string[]): Promise<void>;
  /**
   * Removes those of `keys` whose stored last-seen time is before `before` (another gateway may
   * have seen them since this one last did); resolves to the keys it removed.
   */
  removeIdle(keys: readonly string[], before: number): Promise<string[]>;
  bindOperation(operation: OperationBinding): Promise<void>;
  /** Forgets operations created before `before`. */
  pruneOperations(before: number): Promise<void>;
  close(): Promise<void>;
}

export function sessionKey(principal: string, userId: string, sessionId: string): string {
  // Unit separators cannot appear in a verified identity, a user id or a UUID the gateway accepts.
  return `${principal}\u001f${userId}\u001f${sessionId}`;
}

export function keyOf(binding: Pick<SessionBinding, 'principal' | 'userId' | 'sessionId'>): string {
  return sessionKey(binding.principal, binding.userId, binding.sessionId);
}

const SCHEMA_VERSION = '1';
export const SESSION_STORE_FILE = 'gateway-sessions.sqlite';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS sessions (
    session_key TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    server_side_session_id TEXT,
    client_address TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS operations (
    operation_id TEXT PRIMARY KEY,
    session_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
  )`,
  'CREATE INDEX IF NOT EXISTS operations_by_session ON operations (session_key)',
];

/** The embedded store: a file under `stateDir`, or an in-memory database without one. */
export function openSqliteAffinityStore(stateDir: string | undefined): AffinityStore {
  let db: DatabaseSync;
  let location: string | undefined;
  if (stateDir === undefined) {
    db = new DatabaseSync(':memory:');
    for (const statement of SCHEMA) db.exec(statement);
  } else {
    const file = openSqliteFile({
      stateDir,
      file: SESSION_STORE_FILE,
      schemaVersion: SCHEMA_VERSION,
      what: 'the gateway session store',
      lossOnReset:
        'sessions placed before are forgotten; their clients land on a new server and must recreate their Spark sessions',
      // A binding must survive the gateway process being killed; a power cut loses at most the
      // last moment's bindings, whose clients then see their session as gone.
      synchronous: 'NORMAL',
      schema: SCHEMA,
      fail: (message, cause) => new GatewayError('GW_INTERNAL', message, { cause }),
    });
    db = file.db;
    location = file.path;
  }
  const statements = prepare(db);
  const run = <T>(work: () => T): Promise<T> => {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(
        new GatewayError(
          'GW_INTERNAL',
          `the gateway session store${location === undefined ? '' : ` ${location}`} failed: ${String(error)}`,
          { cause: error },
        ),
      );
    }
  };
  return {
    kind: stateDir === undefined ? 'memory' : 'sqlite',
    location,
    shared: false,
    findSession: (key) =>
      run(() => {
        const row = statements.oneSession.get(key) as Record<string, unknown> | undefined;
        return row === undefined ? undefined : toBinding(row);
      }),
    findOperation: (operationId) =>
      run(() => {
        const row = statements.oneOperation.get(operationId) as Record<string, unknown> | undefined;
        return row === undefined ? undefined : toOperation(row);
      }),
    loadSessions: () =>
      run(() => (statements.allSessions.all() as Record<string, unknown>[]).map(toBinding)),
    loadOperations: () =>
      run(() => (statements.allOperations.all() as Record<string, unknown>[]).map(toOperation)),
    bind: (binding) =>
      run(() => {
        const key = keyOf(binding);
        const inserted = statements.insertSession.run(
          key,
          binding.principal,
          binding.userId,
          binding.sessionId,
          binding.backend,
          binding.incarnation,
          binding.serverSideSessionId ?? null,
          binding.clientAddress,
          binding.createdAt,
          binding.lastSeenAt,
        );
        if (Number(inserted.changes) > 0) return { binding, created: true };
        const row = statements.oneSession.get(key) as Record<string, unknown> | undefined;
        return { binding: row === undefined ? binding : toBinding(row), created: false };
      }),
    updateServerSideSessionId: (key, id) =>
      run(() => {
        statements.setServerSideId.run(id, key);
      }),
    touch: (lastSeen) =>
      run(() => {
        if (lastSeen.size === 0) return;
        db.exec('BEGIN');
        try {
          for (const [key, at] of lastSeen) statements.touch.run(at, key);
          db.exec('COMMIT');
        } catch (error) {
          db.exec('ROLLBACK');
          throw error;
        }
      }),
    remove: (keys) =>
      run(() => {
        if (keys.length === 0) return;
        db.exec('BEGIN');
        try {
          for (const key of keys) {
            statements.deleteSession.run(key);
            statements.deleteOperations.run(key);
          }
          db.exec('COMMIT');
        } catch (error) {
          db.exec('ROLLBACK');
          throw error;
        }
      }),
    removeIdle: (keys, before) =>
      run(() => {
        const removed: string[] = [];
        if (keys.length === 0) return removed;
        db.exec('BEGIN');
        try {
          for (const key of keys)
            if (Number(statements.deleteIdleSession.run(key, before).changes) > 0) {
              statements.deleteOperations.run(key);
              removed.push(key);
            }
          db.exec('COMMIT');
        } catch (error) {
          db.exec('ROLLBACK');
          throw error;
        }
        return removed;
      }),
    bindOperation: (operation) =>
      run(() => {
        statements.insertOperation.run(
          operation.operationId,
          operation.sessionKey,
          operation.createdAt,
        );
      }),
    pruneOperations: (before) =>
      run(() => {
        statements.pruneOperations.run(before);
      }),
    close: () =>
      run(() => {
        db.close();
      }),
  };
}

function prepare(db: DatabaseSync): {
  allSessions: StatementSync;
  allOperations: StatementSync;
  insertSession: StatementSync;
  oneSession: StatementSync;
  setServerSideId: StatementSync;
  touch: StatementSync;
  deleteSession: StatementSync;
  deleteIdleSession: StatementSync;
  oneOperation: StatementSync;
  deleteOperations: StatementSync;
  insertOperation: StatementSync;
  pruneOperations: StatementSync;
} {
  return {
    allSessions: db.prepare('SELECT * FROM sessions'),
    allOperations: db.prepare('SELECT * FROM operations'),
    insertSession: db.prepare(
      `INSERT INTO sessions (session_key, principal, user_id, session_id, backend, incarnation,
         server_side_session_id, client_address, created_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_key) DO NOTHING`,
    ),
    oneSession: db.prepare('SELECT * FROM sessions WHERE session_key = ?'),
    setServerSideId: db.prepare(
      'UPDATE sessions SET server_side_session_id = ? WHERE session_key = ?',
    ),
    touch: db.prepare(
      'UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE session_key = ?',
    ),
    deleteSession: db.prepare('DELETE FROM sessions WHERE session_key = ?'),
    deleteIdleSession: db.prepare(
      'DELETE FROM sessions WHERE session_key = ? AND last_seen_at < ?',
    ),
    oneOperation: db.prepare('SELECT * FROM operations WHERE operation_id = ?'),
    deleteOperations: db.prepare('DELETE FROM operations WHERE session_key = ?'),
    insertOperation: db.prepare(
      `INSERT INTO operations (operation_id, session_key, created_at) VALUES (?, ?, ?)
       ON CONFLICT (operation_id) DO NOTHING`,
    ),
    pruneOperations: db.prepare('DELETE FROM operations WHERE created_at < ?'),
  };
}

function toBinding(row: Record<string, unknown>): SessionBinding {
  return {
    principal: String(row.principal),
    userId: String(row.user_id),
    sessionId: String(row.session_id),
    backend: String(row.backend),
    incarnation: String(row.incarnation),
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    serverSideSessionId:
      typeof row.server_side_session_id === 'string' ? row.server_side_session_id : undefined,
    clientAddress: String(row.client_address),
  };
}

function toOperation(row: Record<string, unknown>): OperationBinding {
  return {
    operationId: String(row.operation_id),
    sessionKey: String(row.session_key),
    createdAt: Number(row.created_at),
  };
}
