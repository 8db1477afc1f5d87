import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { AppError } from '../../main/errors.js';
import { openDatabase } from '../../main/store/database.js';
import { migrate, schemaVersion, type Migration } from '../../main/store/migration.js';
import { MIGRATIONS } from '../../main/store/migrations/index.js';
import { Store } from '../../main/store/store.js';
import { dumpDatabase } from '../helpers/db.js';
import { sharedData, tempDir, writeLines } from '../helpers/fs.js';

const LATEST = MIGRATIONS.length;

describe('opening a store', () => {
  it('creates a fresh database with WAL, foreign keys, synchronous FULL and the latest schema', () => {
    const file = path.join(tempDir(), 'nested', 'ilf.sqlite');
    const store = Store.open(file);
    expect(fs.existsSync(file)).toBe(true);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(store.schemaVersion).toBe(LATEST);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    store.close();
  });

  it('enforces lineage with foreign keys: a sample of an unknown task is refused', () => {
    const store = Store.open(path.join(tempDir(), 'ilf.sqlite'));
    expect(() =>
      store.db.prepare("INSERT INTO samples (run_id, task_id, sample_index, seed, prompt_id, completion, program, created_at) VALUES (1, 1, 0, 0, 1, '', '', 'now')").run(),
    ).toThrow(/FOREIGN KEY/);
    store.close();
  });

  it('refuses a database written by a newer version, and leaves it untouched', () => {
    const file = path.join(tempDir(), 'ilf.sqlite');
    Store.open(file).close();
    const raw = new BetterSqlite3(file);
    raw.pragma(`user_version = ${LATEST + 5}`);
    raw.close();
    const bytes = fs.readFileSync(file);
    let error: unknown;
    try {
      Store.open(file).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('DB_FROM_FUTURE');
    expect((error as AppError).message).toMatch(new RegExp(`schema version ${LATEST + 5}.*up to ${LATEST}`));
    expect((error as AppError).hint).toMatch(/update the app|--data-dir/);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
  });

  it('gives a clear error for a file that is not a database', () => {
    const file = path.join(tempDir(), 'ilf.sqlite');
    fs.writeFileSync(file, 'this is not sqlite, just some text that is long enough to have a header');
    expect(() => Store.open(file)).toThrow(/cannot use the database .*ilf\.sqlite/);
  });
});

describe('migrations', () => {
  it('are numbered 1..N in order, one file each', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    const files = fs.readdirSync(path.resolve(import.meta.dirname, '../../main/store/migrations')).filter((f) => /^\d{4}-/.test(f));
    expect(files.map((f) => Number(f.slice(0, 4)))).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('upgrade a database from every earlier version to the latest, keeping its data', async () => {
    for (let from = 0; from < LATEST; from += 1) {
      const dir = tempDir();
      const file = path.join(dir, 'ilf.sqlite');
      const old = new BetterSqlite3(file);
      old.pragma('foreign_keys = ON');
      expect(migrate(old, MIGRATIONS, from)).toBe(from);
      if (from >= 1) {
        // Data as a user of version `from` would have it.
        old.prepare("INSERT INTO datasets (name, format, source_path, source_sha256, created_at, updated_at) VALUES ('old', 'mbpp', '/x', 'abc', 't', 't')").run();
        old.prepare(`INSERT INTO tasks (dataset_id, task_key, ordinal, split, text, tests, content_sha256, created_at, updated_at)
                     VALUES (1, '11', 0, 'test', 'Write a function to find the shared elements of two lists.', '["assert 1"]', 'h', 't', 't')`).run();
      }
      old.close();

      const store = Store.open(file);
      expect(store.schemaVersion).toBe(LATEST);
      expect(store.db.pragma('foreign_key_check')).toEqual([]);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      if (from >= 1) {
        expect(store.catalog.getTask('old', '11')?.text).toMatch(/shared elements/);
        // 0002 indexes rows that existed before it.
        expect(store.catalog.listTasks({ search: 'shared elements', offset: 0, limit: 5 }).total).toBe(1);
      }
      // And the upgraded store works for new data.
      await importTasks(store, writeLines(dir, 'more.jsonl', [JSON.stringify({ task_id: 1, text: 'Add one.', tests: ['assert f(1) == 2'] })]), { format: 'jsonl' });
      expect(store.catalog.listTasks({ search: 'add', offset: 0, limit: 5 }).total).toBe(1);
      store.close();
    }
  });

  it('run each step in its own transaction: a failing step leaves the database at the previous version', () => {
    const file = path.join(tempDir(), 'ilf.sqlite');
    Store.open(file).close();
    const broken: Migration = {
      version: LATEST + 1,
      name: 'broken',
      up(db) {
        db.exec('CREATE TABLE half_done (x INTEGER)');
        throw new Error('disk full, say');
      },
    };
    const db = new BetterSqlite3(file);
    const before = dumpDatabase(db);
    expect(() => migrate(db, [...MIGRATIONS, broken])).toThrow(/disk full/);
    expect(schemaVersion(db)).toBe(LATEST);
    expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_schema WHERE name = 'half_done'").get()).toEqual({ n: 0 });
    expect(dumpDatabase(db)).toEqual(before);
    db.close();
  });

  it('a real data set survives close and reopen unchanged', async () => {
    const file = path.join(tempDir(), 'ilf.sqlite');
    const store = Store.open(file);
    await importTasks(store, sharedData('humaneval.jsonl'), { format: 'humaneval' });
    const before = dumpDatabase(store.db);
    store.close();
    const db = openDatabase(file);
    expect(dumpDatabase(db)).toEqual(before);
    db.close();
  });
});
