import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { AppError } from '../errors.js';
import { migrate } from './migration.js';
import { MIGRATIONS } from './migrations/index.js';

export interface OpenDatabaseOptions {
  /** Path of a better_sqlite3.node built for this runtime (Electron passes its own build). */
  nativeBinding?: string;
  readonly?: boolean;
}

/**
 * Opens (creating if needed) the store at `file`, sets the connection's pragmas and brings the
 * schema up to date. WAL lets the UI read while a job writes; synchronous=FULL makes every commit
 * of user-written data (feedback, reviews) durable across a power cut. Bulk machine output can
 * relax that per transaction with `withRelaxedSync`.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Database {
  if (!options.readonly) fs.mkdirSync(path.dirname(file), { recursive: true });
  let db: Database;
  try {
    db = new BetterSqlite3(file, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    });
  } catch (e) {
    throw new AppError('DB_OPEN_FAILED', `cannot open the database ${file}: ${(e as Error).message}`,
      'check that the folder is writable and the file is an ILF Studio database');
  }
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    if (!options.readonly) {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, expected wal`);
      db.pragma('synchronous = FULL');
    }
    // Reading a header that is not SQLite fails here, not at open.
    db.pragma('schema_version');
    if (!options.readonly) migrate(db, MIGRATIONS, MIGRATIONS.length, file);
    return db;
  } catch (e) {
    db.close();
    if (e instanceof AppError) throw e;
    throw new AppError('DB_OPEN_FAILED', `cannot use the database ${file}: ${(e as Error).message}`,
      'it may not be an ILF Studio database; choose another --data-dir');
  }
}

/**
 * Runs `fn` in one transaction with synchronous=NORMAL: for large batches of machine-made rows
 * (samples, executions) that a crash would only make us recompute. WAL keeps the file consistent;
 * only the last commits may be lost on power failure.
 */
export function withRelaxedSync<T>(db: Database, fn: () => T): T {
  db.pragma('synchronous = NORMAL');
  try {
    return db.transaction(fn)();
  } finally {
    db.pragma('synchronous = FULL');
  }
}
