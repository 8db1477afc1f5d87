import type { Migration } from '../migration.js';

/**
 * Full-text search over task descriptions (the Tasks screen and `ilf tasks --search`).
 * An external-content FTS5 index kept in step with `tasks` by triggers; rows already present
 * when upgrading are indexed here.
 */
const SQL = /* sql */ `
CREATE VIRTUAL TABLE task_search USING fts5(text, content = 'tasks', content_rowid = 'id', tokenize = 'porter unicode61');
INSERT INTO task_search (rowid, text) SELECT id, text FROM tasks;

CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN
  INSERT INTO task_search (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
  INSERT INTO task_search (task_search, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER tasks_search_update AFTER UPDATE OF text ON tasks BEGIN
  INSERT INTO task_search (task_search, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO task_search (rowid, text) VALUES (new.id, new.text);
END;
`;

export const taskSearch: Migration = {
  version: 2,
  name: 'task-search',
  up(db) {
    db.exec(SQL);
  },
};
