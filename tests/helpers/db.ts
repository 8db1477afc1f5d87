import type { Database } from 'better-sqlite3';

/**
 * Every row of every table, in a stable order: two dumps are equal exactly when the database's
 * content is. Used to prove that a failed or repeated import changed nothing.
 */
export function dumpDatabase(db: Database): Record<string, unknown[]> {
  const tables = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'task_search_%' ORDER BY name",
    )
    .all();
  const dump: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    if (name === 'task_search') continue; // a virtual table; its shadow tables hold the index
    const tableSql = `"${name.replace(/"/g, '""')}"`;
    dump[name] = db.prepare(`SELECT * FROM ${tableSql} ORDER BY rowid`).all();
  }
  dump.__user_version = [db.pragma('user_version', { simple: true })];
  return dump;
}
