import { createHash } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import type { DatasetFormat, DatasetSummary, TaskDetail, TaskHistory, TaskSummary } from '../../preload/contract.js';
import { completionPrompt } from '../datasets/prompt.js';
import type { TaskRecord } from '../datasets/task-record.js';
import type { GoldTask } from '../sandbox/gold.js';
import { Where } from './where.js';

/** Datasets and their tasks: what the importers write and every screen lists. */

interface DatasetRow {
  id: number;
  name: string;
  format: DatasetFormat;
  source_path: string;
  source_sha256: string;
  created_at: string;
  updated_at: string;
}

interface TaskRow {
  id: number;
  dataset: string;
  task_key: string;
  split: string;
  text: string;
  code_prefix: string | null;
  entry_point: string | null;
  example_test: string | null;
  tests: string;
  setup_code: string;
  challenge_tests: string;
  reference_solution: string | null;
}

export interface TaskQuery {
  dataset?: string | undefined;
  split?: string | undefined;
  search?: string | undefined;
  offset: number;
  limit: number;
}

export interface UpsertCounts {
  added: number;
  updated: number;
  unchanged: number;
}

function contentHash(ordinal: number, t: TaskRecord): string {
  const canonical = JSON.stringify([
    ordinal, t.split, t.text, t.codePrefix, t.entryPoint, t.exampleTest, t.tests, t.setupCode, t.challengeTests,
    t.referenceSolution,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** FTS5 query from free text: each word quoted, so punctuation cannot become query syntax. */
function ftsQuery(search: string): string | undefined {
  const words = search.match(/[\p{L}\p{N}_]+/gu);
  return words && words.length > 0 ? words.map((w) => `"${w}"`).join(' ') : undefined;
}

function parseStringArray(json: string): string[] {
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new Error('corrupt task row: expected a JSON array of strings');
  }
  return value;
}

export class Catalog {
  private readonly stmts: {
    datasetByName: Statement<[string], DatasetRow>;
    insertDataset: Statement<[string, DatasetFormat, string, string, string, string]>;
    touchDataset: Statement<[string, string, string, number]>;
    taskHashes: Statement<[number], { task_key: string; content_sha256: string }>;
    insertTask: Statement<unknown[]>;
    updateTask: Statement<unknown[]>;
    taskByKey: Statement<[string, string], TaskRow>;
  };

  constructor(private readonly db: Database) {
    this.stmts = {
      datasetByName: db.prepare('SELECT * FROM datasets WHERE name = ?'),
      insertDataset: db.prepare(
        `INSERT INTO datasets (name, format, source_path, source_sha256, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      touchDataset: db.prepare('UPDATE datasets SET source_path = ?, source_sha256 = ?, updated_at = ? WHERE id = ?'),
      taskHashes: db.prepare('SELECT task_key, content_sha256 FROM tasks WHERE dataset_id = ?'),
      insertTask: db.prepare(
        `INSERT INTO tasks (dataset_id, task_key, ordinal, split, text, code_prefix, entry_point, example_test, tests,
                            setup_code, challenge_tests, reference_solution, content_sha256, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      updateTask: db.prepare(
        `UPDATE tasks SET ordinal = ?, split = ?, text = ?, code_prefix = ?, entry_point = ?, example_test = ?, tests = ?,
                          setup_code = ?, challenge_tests = ?, reference_solution = ?, content_sha256 = ?, updated_at = ?
         WHERE dataset_id = ? AND task_key = ?`,
      ),
      taskByKey: db.prepare(
        `SELECT t.*, d.name AS dataset FROM tasks t JOIN datasets d ON d.id = t.dataset_id
         WHERE d.name = ? AND t.task_key = ?`,
      ),
    };
  }

  dataset(name: string): { id: number; format: DatasetFormat; sourceSha256: string } | undefined {
    const row = this.stmts.datasetByName.get(name);
    return row && { id: row.id, format: row.format, sourceSha256: row.source_sha256 };
  }

  /** Creates the dataset, or records a new source for it. Call inside the import's transaction. */
  saveDataset(name: string, format: DatasetFormat, sourcePath: string, sha256: string, now: string): number {
    const existing = this.stmts.datasetByName.get(name);
    if (!existing) return Number(this.stmts.insertDataset.run(name, format, sourcePath, sha256, now, now).lastInsertRowid);
    if (existing.source_sha256 !== sha256 || existing.source_path !== sourcePath) {
      this.stmts.touchDataset.run(sourcePath, sha256, now, existing.id);
    }
    return existing.id;
  }

  /** Inserts new tasks and rewrites changed ones; identical tasks are not touched at all. */
  upsertTasks(datasetId: number, tasks: readonly TaskRecord[], now: string): UpsertCounts & { notInFile: number } {
    const known = new Map(this.stmts.taskHashes.all(datasetId).map((r) => [r.task_key, r.content_sha256]));
    const counts = { added: 0, updated: 0, unchanged: 0 };
    tasks.forEach((t, ordinal) => {
      const sha = contentHash(ordinal, t);
      const previous = known.get(t.taskKey);
      known.delete(t.taskKey);
      const fields = [
        t.split, t.text, t.codePrefix, t.entryPoint, t.exampleTest, JSON.stringify(t.tests), t.setupCode,
        JSON.stringify(t.challengeTests), t.referenceSolution, sha,
      ];
      if (previous === undefined) {
        this.stmts.insertTask.run(datasetId, t.taskKey, ordinal, ...fields, now, now);
        counts.added += 1;
      } else if (previous !== sha) {
        this.stmts.updateTask.run(ordinal, ...fields, now, datasetId, t.taskKey);
        counts.updated += 1;
      } else {
        counts.unchanged += 1;
      }
    });
    return { ...counts, notInFile: known.size };
  }

  splitCounts(datasetId: number): Record<string, number> {
    const rows = this.db
      .prepare<[number], { split: string; n: number }>(
        'SELECT split, COUNT(*) AS n FROM tasks WHERE dataset_id = ? GROUP BY split ORDER BY MIN(ordinal)',
      )
      .all(datasetId);
    return Object.fromEntries(rows.map((r) => [r.split, r.n]));
  }

  listDatasets(): DatasetSummary[] {
    const rows = this.db.prepare<[], DatasetRow>('SELECT * FROM datasets ORDER BY name').all();
    return rows.map((r) => {
      const splits = this.splitCounts(r.id);
      return {
        name: r.name,
        format: r.format,
        sourcePath: r.source_path,
        taskCount: Object.values(splits).reduce((a, b) => a + b, 0),
        splits,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      };
    });
  }

  listTasks(query: TaskQuery): { total: number; tasks: TaskSummary[] } {
    let match: string | undefined;
    if (query.search !== undefined) {
      match = ftsQuery(query.search);
      if (match === undefined) return { total: 0, tasks: [] };
    }
    const where = new Where()
      .when('d.name = ?', query.dataset)
      .when('t.split = ?', query.split)
      .when('t.id IN (SELECT rowid FROM task_search WHERE task_search MATCH ?)', match);
    const { params } = where;
    const fromSql = `FROM tasks t JOIN datasets d ON d.id = t.dataset_id ${where.sql}`;
    const total = this.db.prepare<unknown[], { n: number }>(`SELECT COUNT(*) AS n ${fromSql}`).get(...params)?.n ?? 0;
    const rows = this.db
      .prepare<unknown[], TaskRow>(
        `SELECT t.*, d.name AS dataset ${fromSql} ORDER BY d.name, t.ordinal LIMIT ? OFFSET ?`,
      )
      .all(...params, query.limit, query.offset);
    return { total, tasks: rows.map(toSummary) };
  }

  /** The tasks of a split with what prompting needs, in file order. */
  tasksForPrompting(dataset: string, split: string | undefined): { id: number; taskKey: string; text: string; exampleTest: string | null; codePrefix: string | null }[] {
    const where = new Where('d.name = ?').when('t.split = ?', split);
    const whereSql = where.sql;
    return this.db
      .prepare<unknown[], { id: number; task_key: string; text: string; example_test: string | null; code_prefix: string | null }>(
        `SELECT t.id, t.task_key, t.text, t.example_test, t.code_prefix FROM tasks t JOIN datasets d ON d.id = t.dataset_id ${whereSql} ORDER BY t.ordinal`,
      )
      .all(dataset, ...where.params)
      .map((r) => ({ id: r.id, taskKey: r.task_key, text: r.text, exampleTest: r.example_test, codePrefix: r.code_prefix }));
  }

  /** Every task of a dataset with its known-good program and tests, in file order. */
  goldTasks(dataset: string): GoldTask[] {
    return this.db
      .prepare<[string], { task_key: string; reference_solution: string | null; tests: string; setup_code: string }>(
        `SELECT t.task_key, t.reference_solution, t.tests, t.setup_code
         FROM tasks t JOIN datasets d ON d.id = t.dataset_id WHERE d.name = ? ORDER BY t.ordinal`,
      )
      .all(dataset)
      .map((r) => ({ taskId: r.task_key, referenceSolution: r.reference_solution, tests: parseStringArray(r.tests), setupCode: r.setup_code }));
  }

  getTask(dataset: string, taskKey: string): TaskDetail | undefined {
    const row = this.stmts.taskByKey.get(dataset, taskKey);
    if (!row) return undefined;
    const tests = parseStringArray(row.tests);
    return {
      ...toSummary(row),
      codePrefix: row.code_prefix,
      entryPoint: row.entry_point,
      exampleTest: row.example_test,
      tests,
      setupCode: row.setup_code,
      challengeTests: parseStringArray(row.challenge_tests),
      referenceSolution: row.reference_solution,
      prompt: completionPrompt({ text: row.text, exampleTest: row.example_test, codePrefix: row.code_prefix }),
    };
  }

  /** What happened to one task across runs: sampling and evaluation runs, feedback, refinements and their reviews. */
  taskHistory(dataset: string, taskKey: string): TaskHistory | undefined {
    const task = this.db
      .prepare<[string, string], { id: number; text: string }>('SELECT t.id, t.text FROM tasks t JOIN datasets d ON d.id = t.dataset_id WHERE d.name = ? AND t.task_key = ?')
      .get(dataset, taskKey);
    if (!task) return undefined;
    const runs = this.db
      .prepare<[number], { run_id: number; purpose: 'ilf' | 'evaluation'; model_id: number | null; adapter_id: number | null; samples: number; passed: number; created_at: string }>(
        `SELECT r.id AS run_id, r.purpose, r.model_id, r.adapter_id, COUNT(*) AS samples, COALESCE(SUM(s.passed), 0) AS passed, r.created_at
         FROM samples s JOIN sampling_runs r ON r.id = s.run_id WHERE s.task_id = ? GROUP BY r.id ORDER BY r.id`,
      )
      .all(task.id)
      .map((r) => ({ runId: r.run_id, purpose: r.purpose, modelId: r.model_id, adapterId: r.adapter_id, samples: r.samples, passed: r.passed, createdAt: r.created_at }));
    const feedback = this.db
      .prepare<[number], { id: number; sample_id: number; source: string; author: string; text: string }>(
        'SELECT f.id, f.sample_id, f.source, f.author, f.text FROM feedback f JOIN samples s ON s.id = f.sample_id WHERE s.task_id = ? ORDER BY f.id',
      )
      .all(task.id)
      .map((f) => ({ id: f.id, sampleId: f.sample_id, source: f.source, author: f.author, text: f.text }));
    const refinements = this.db
      .prepare<[number], { id: number; feedback_id: number; origin: 'model' | 'human'; passed: number | null; decision: 'accepted' | 'rejected' | null }>(
        `SELECT rf.id, rf.feedback_id, rf.origin, rf.passed,
                (SELECT rv.decision FROM reviews rv WHERE rv.refinement_id = rf.id ORDER BY rv.id DESC LIMIT 1) AS decision
         FROM refinements rf JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id WHERE s.task_id = ? ORDER BY rf.id`,
      )
      .all(task.id)
      .map((r) => ({ id: r.id, feedbackId: r.feedback_id, origin: r.origin, passed: r.passed === null ? null : r.passed === 1, decision: r.decision }));
    return { dataset, taskId: taskKey, text: task.text, runs, feedback, refinements };
  }

}

function toSummary(row: TaskRow): TaskSummary {
  return {
    dataset: row.dataset,
    taskId: row.task_key,
    split: row.split,
    text: row.text,
    testCount: parseStringArray(row.tests).length,
  };
}
