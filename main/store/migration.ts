import type { Database } from 'better-sqlite3';
import { AppError } from '../errors.js';

/** One schema step. `up` runs inside the runner's transaction; it must not manage transactions itself. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database): void;
}

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function checkOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
}

/**
 * Brings the database up to `target` (default: the newest migration), one transaction per
 * migration, each recording its version in user_version. A database from a newer build is refused
 * untouched rather than guessed at.
 */
export function migrate(db: Database, migrations: readonly Migration[], target = migrations.length, file = 'the database'): number {
  checkOrdered(migrations);
  const latest = migrations.length;
  const found = schemaVersion(db);
  if (found > latest) {
    throw new AppError(
      'DB_FROM_FUTURE',
      `${file} has schema version ${found}, but this build of ILF Studio only knows versions up to ${latest}`,
      'it was written by a newer ILF Studio: update the app, or point --data-dir (ILF_DATA_DIR) at another folder',
    );
  }
  for (const m of migrations) {
    if (m.version > target) break;
    // IMMEDIATE takes the write lock first, so two processes opening the same file at once cannot
    // both run the same step; the version is re-read under the lock.
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return;
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}
