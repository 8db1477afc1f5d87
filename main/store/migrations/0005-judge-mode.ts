import type { Migration } from '../migration.js';

/**
 * Executions record which mode judged them (`judge`: 'separate-process' | 'in-process'; NULL for
 * rows from before judge modes existed), and two new failure kinds: `not_plain_data` and
 * `broke_sandbox`. SQLite cannot widen a CHECK in place, so the table is rebuilt. Other tables
 * refer to executions(id); with foreign keys deferred, dropping the old table leaves their
 * references pending and re-inserting the same ids settles them before the commit.
 */
const SQL = /* sql */ `
CREATE TEMP TABLE executions_0005 AS SELECT * FROM executions;
DROP TABLE executions;
CREATE TABLE executions (
  id                INTEGER PRIMARY KEY,
  sample_id         INTEGER REFERENCES samples(id) ON DELETE CASCADE,
  refinement_id     INTEGER REFERENCES refinements(id) ON DELETE CASCADE,
  review_id         INTEGER REFERENCES reviews(id) ON DELETE CASCADE,
  status            TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'sandbox_error')),
  error_kind        TEXT CHECK (error_kind IN ('syntax_error', 'runtime_error', 'assertion_failure', 'timeout',
                                               'memory_limit', 'output_limit', 'sandbox_error',
                                               'not_plain_data', 'broke_sandbox')),
  tests_passed      INTEGER NOT NULL DEFAULT 0,
  tests_total       INTEGER NOT NULL DEFAULT 0,
  test_results      TEXT NOT NULL DEFAULT '[]',
  exception_type    TEXT,
  exception_message TEXT,
  traceback         TEXT,
  stdout            TEXT NOT NULL DEFAULT '',
  stderr            TEXT NOT NULL DEFAULT '',
  output_truncated  INTEGER NOT NULL DEFAULT 0 CHECK (output_truncated IN (0, 1)),
  duration_ms       REAL NOT NULL,
  backend           TEXT NOT NULL,
  created_at        TEXT NOT NULL,
  -- which mode judged it; NULL: recorded before judge modes existed
  judge             TEXT CHECK (judge IN ('separate-process', 'in-process')),
  CHECK ((sample_id IS NOT NULL) + (refinement_id IS NOT NULL) + (review_id IS NOT NULL) = 1),
  CHECK ((status = 'passed') = (error_kind IS NULL))
) STRICT;
INSERT INTO executions (id, sample_id, refinement_id, review_id, status, error_kind, tests_passed, tests_total, test_results,
                        exception_type, exception_message, traceback, stdout, stderr, output_truncated, duration_ms, backend, created_at)
  SELECT id, sample_id, refinement_id, review_id, status, error_kind, tests_passed, tests_total, test_results,
         exception_type, exception_message, traceback, stdout, stderr, output_truncated, duration_ms, backend, created_at
  FROM executions_0005;
DROP TABLE executions_0005;
CREATE INDEX executions_by_sample ON executions (sample_id) WHERE sample_id IS NOT NULL;
CREATE INDEX executions_by_refinement ON executions (refinement_id) WHERE refinement_id IS NOT NULL;
CREATE INDEX executions_by_review ON executions (review_id) WHERE review_id IS NOT NULL;
`;

export const judgeMode: Migration = {
  version: 5,
  name: 'judge-mode',
  up(db) {
    db.pragma('defer_foreign_keys = ON');
    db.exec(SQL);
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0) throw new Error(`rebuilding executions left ${broken.length} dangling references`);
  },
};
