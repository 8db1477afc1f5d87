/**
 * What the judge modes and the sandbox_error policy leave behind: migration 0005 on a database with
 * executions, the judge recorded per execution, and a program that breaks its worker twice.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import type { SandboxBackend } from '../../main/sandbox/types.js';
import { MIGRATIONS } from '../../main/store/migrations/index.js';
import { Store } from '../../main/store/store.js';
import { sharedData, tempDir } from '../helpers/fs.js';
import { FAILED, PASSED, sample, seedRun, taskRowId } from '../helpers/lineage.js';
import { backendCases } from '../helpers/sandbox.js';

/** The executions table as migrations 1–4 left it (0001's DDL), to step a database back to version 4. */
const V4_EXECUTIONS = `
CREATE TABLE executions_v4 (
  id                INTEGER PRIMARY KEY,
  sample_id         INTEGER REFERENCES samples(id) ON DELETE CASCADE,
  refinement_id     INTEGER REFERENCES refinements(id) ON DELETE CASCADE,
  review_id         INTEGER REFERENCES reviews(id) ON DELETE CASCADE,
  status            TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'sandbox_error')),
  error_kind        TEXT CHECK (error_kind IN ('syntax_error', 'runtime_error', 'assertion_failure', 'timeout',
                                               'memory_limit', 'output_limit', 'sandbox_error')),
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
  CHECK ((sample_id IS NOT NULL) + (refinement_id IS NOT NULL) + (review_id IS NOT NULL) = 1),
  CHECK ((status = 'passed') = (error_kind IS NULL))
) STRICT;
INSERT INTO executions_v4 SELECT id, sample_id, refinement_id, review_id, status, error_kind, tests_passed, tests_total, test_results,
  exception_type, exception_message, traceback, stdout, stderr, output_truncated, duration_ms, backend, created_at FROM executions;
DROP TABLE executions;
ALTER TABLE executions_v4 RENAME TO executions;
`;

describe('migration 0005 (judge mode, new failure kinds)', () => {
  it('rebuilds executions on a version-4 database: rows, references and verdicts kept; judge and new kinds recorded after', async () => {
    const file = path.join(tempDir(), 'ilf.sqlite');
    let store = Store.open(file);
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const { runId } = seedRun(store, 'mbpp', 'train', 2);
    const task = taskRowId(store, 'mbpp', '311');
    store.transaction(() => store.runs.insertSamples(runId, [sample(task, 0), sample(task, 1)]));
    const [s0, s1] = store.db.prepare<[number], { id: number }>('SELECT id FROM samples WHERE run_id = ? ORDER BY id').all(runId).map((r) => r.id);
    if (s0 === undefined || s1 === undefined) throw new Error('no samples');
    const e0 = store.runs.recordSampleExecution(s0, PASSED);
    const e1 = store.runs.recordSampleExecution(s1, FAILED);
    // Back to version 4, the way an older build left the file (legacy rename keeps other tables' references by name).
    store.db.pragma('foreign_keys = OFF');
    store.db.pragma('legacy_alter_table = ON');
    store.db.exec(V4_EXECUTIONS);
    store.db.pragma('user_version = 4');
    const before = store.db.prepare('SELECT * FROM executions ORDER BY id').all();
    store.close();

    store = Store.open(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    expect(store.db.pragma('foreign_key_check')).toEqual([]);
    expect(store.db.prepare('SELECT * FROM executions ORDER BY id').all()).toEqual(before.map((row) => ({ ...(row as object), judge: null })));
    expect(store.db.prepare('SELECT id, passed, verdict_execution_id FROM samples ORDER BY id').all())
      .toEqual([{ id: s0, passed: 1, verdict_execution_id: e0 }, { id: s1, passed: 0, verdict_execution_id: e1 }]);
    const judged = store.runs.recordSampleExecution(s1, { ...FAILED, errorKind: 'not_plain_data', judge: 'separate-process' });
    expect(store.runs.execution(judged)).toMatchObject({ errorKind: 'not_plain_data', judge: 'separate-process' });
    const broke = store.runs.recordSampleExecution(s1, { ...FAILED, errorKind: 'broke_sandbox', judge: 'in-process' });
    expect(store.runs.execution(broke)).toMatchObject({ errorKind: 'broke_sandbox', judge: 'in-process' });
    expect(() => store.runs.recordSampleExecution(s1, { ...FAILED, judge: 'somewhere' as never })).toThrow(/CHECK/);
    store.close();
  });
});

/**
 * The real backend, with one change to its runner: a job whose program contains `marker` makes the
 * runner process exit, as a program that found a way to crash its worker would. Everything else
 * (processes, sandbox, pool) is real.
 */
function crashingBackend(real: SandboxBackend, marker: string): SandboxBackend {
  return {
    name: real.name,
    startWorker: (index, source, limits, tag) => real.startWorker(index, source.replace(
      '        try:\n            result = runner.run(job)',
      `        if ${JSON.stringify(marker)} in job["program"]:\n            os._exit(1)\n        try:\n            result = runner.run(job)`,
    ), limits, tag),
    dispose: () => real.dispose(),
  };
}

const [first] = (await backendCases()).filter((c) => c.available);

describe.runIf(first !== undefined)('a program that makes the sandbox fail', () => {
  it('twice on fresh workers while a canary passes → failed with broke_sandbox; the pool carries on', async () => {
    if (!first) return;
    const pool = await SandboxPool.create(crashingBackend(await first.open(), 'CRASH_THE_RUNNER'), { size: 1 });
    try {
      const r = await pool.run({ program: '# CRASH_THE_RUNNER\ndef f():\n    return 1\n', tests: ['assert f() == 1'] });
      expect(r).toMatchObject({ status: 'failed', errorKind: 'broke_sandbox' });
      expect(r.exceptionMessage).toMatch(/fail twice, on fresh workers .* a canary program passed/);
      const next = await pool.run({ program: 'def f():\n    return 1\n', tests: ['assert f() == 1'] });
      expect(next).toMatchObject({ status: 'passed' });
    } finally {
      await pool.dispose();
    }
  }, 60_000);

  it('when the canary fails too, the infrastructure is at fault: it stays a sandbox_error', async () => {
    if (!first) return;
    const pool = await SandboxPool.create(crashingBackend(await first.open(), 'def '), { size: 1 });
    try {
      const r = await pool.run({ program: 'def f():\n    return 1\n', tests: ['assert f() == 1'] });
      expect(r).toMatchObject({ status: 'sandbox_error', errorKind: 'sandbox_error' });
    } finally {
      await pool.dispose();
    }
  }, 60_000);
});
