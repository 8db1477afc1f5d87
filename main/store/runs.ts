import { createHash } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import type { ErrorKind, ExecutionResult, FailureDetail, FailureItem } from '../../preload/contract.js';
import { Where } from './where.js';

/** Models, sampling runs, samples and their executions: the first half of the lineage. */

export interface NewSamplingRun {
  kind?: 'model' | 'import';
  purpose: 'ilf' | 'evaluation';
  modelId: number | null;
  adapterId?: number | null;
  datasetId: number;
  split: string;
  promptFormat: 'completion' | 'chat';
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  stop: readonly string[];
  seed: number;
  params?: Record<string, unknown>;
}

export interface NewSample {
  /** tasks.id (the store's id, not the dataset's task key). */
  taskId: number;
  sampleIndex: number;
  seed: number;
  prompt: string;
  completion: string;
  program: string;
  tokenCount?: number | null;
  finishReason?: string | null;
  /** The endpoint server's build, as it reported it (endpoints only). */
  systemFingerprint?: string | null;
}

/** What a sandbox reports for one program; written as one executions row. */
export type ExecutionRecord = ExecutionResult;

export interface FailureQuery {
  runId?: number | undefined;
  dataset?: string | undefined;
  split?: string | undefined;
  /** Keyset paging: only samples older (smaller id) than this one. */
  beforeSampleId?: number | undefined;
  /** Also failing samples of tasks that have a passing sample (not ILF candidates, flagged `taskSolved`). */
  includeSolved?: boolean | undefined;
  limit: number;
}

const nowIso = (): string => new Date().toISOString();

/** The deepest line of the program a traceback points at (the runner names the program's frames "<program>"). */
export function programLine(traceback: string): number | null {
  const lines = [...traceback.matchAll(/File "<program>", line (\d+)/g)];
  const last = lines.at(-1)?.[1];
  return last === undefined ? null : Number(last);
}

export class Runs {
  private readonly stmts: {
    promptId: Statement<[string], { id: number }>;
    insertPrompt: Statement<[string, string]>;
    insertSample: Statement<unknown[]>;
    insertExecution: Statement<unknown[]>;
    setVerdict: Statement<[number, number, number]>;
  };
  /** Prompts repeat n times in a row; remembering the last few saves a lookup per sample. */
  private readonly promptCache = new Map<string, number>();

  constructor(private readonly db: Database) {
    this.stmts = {
      promptId: db.prepare('SELECT id FROM prompts WHERE sha256 = ?'),
      insertPrompt: db.prepare('INSERT INTO prompts (sha256, text) VALUES (?, ?)'),
      insertSample: db.prepare(
        `INSERT INTO samples (run_id, task_id, sample_index, seed, prompt_id, completion, program, token_count,
                              finish_reason, created_at, system_fingerprint)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertExecution: db.prepare(
        `INSERT INTO executions (sample_id, refinement_id, review_id, status, error_kind, tests_passed, tests_total,
                                 test_results, exception_type, exception_message, traceback, stdout, stderr,
                                 output_truncated, duration_ms, backend, created_at, judge)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      setVerdict: db.prepare('UPDATE samples SET passed = ?, verdict_execution_id = ? WHERE id = ?'),
    };
  }

  createSamplingRun(r: NewSamplingRun): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO sampling_runs (kind, purpose, model_id, adapter_id, dataset_id, split, prompt_format, n,
                                      temperature, top_p, max_tokens, stop, seed, params, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.kind ?? 'model', r.purpose, r.modelId, r.adapterId ?? null, r.datasetId, r.split, r.promptFormat, r.n,
          r.temperature, r.topP, r.maxTokens, JSON.stringify(r.stop), r.seed, JSON.stringify(r.params ?? {}),
          nowIso()).lastInsertRowid,
    );
  }

  samplingRun(id: number): (NewSamplingRun & { id: number; status: string }) | undefined {
    const r = this.db
      .prepare<[number], {
        id: number; kind: 'model' | 'import'; purpose: 'ilf' | 'evaluation'; model_id: number | null; adapter_id: number | null;
        dataset_id: number; split: string; prompt_format: 'completion' | 'chat'; n: number; temperature: number; top_p: number;
        max_tokens: number; stop: string; seed: number; params: string; status: string;
      }>('SELECT * FROM sampling_runs WHERE id = ?')
      .get(id);
    if (!r) return undefined;
    return {
      id: r.id, kind: r.kind, purpose: r.purpose, modelId: r.model_id, adapterId: r.adapter_id, datasetId: r.dataset_id,
      split: r.split, promptFormat: r.prompt_format, n: r.n, temperature: r.temperature, topP: r.top_p, maxTokens: r.max_tokens,
      stop: JSON.parse(r.stop) as string[], seed: r.seed, params: JSON.parse(r.params) as Record<string, unknown>, status: r.status,
    };
  }

  setRunStatus(id: number, status: 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted'): void {
    const finished = status === 'running' ? null : new Date().toISOString();
    this.db.prepare('UPDATE sampling_runs SET status = ?, finished_at = ? WHERE id = ?').run(status, finished, id);
  }

  /** Which sample indices of each task a run already has: what a resume must not redo. */
  storedSampleIndices(runId: number): Map<number, Set<number>> {
    const done = new Map<number, Set<number>>();
    for (const r of this.db.prepare<[number], { task_id: number; sample_index: number }>('SELECT task_id, sample_index FROM samples WHERE run_id = ?').iterate(runId)) {
      const set = done.get(r.task_id) ?? new Set<number>();
      set.add(r.sample_index);
      done.set(r.task_id, set);
    }
    return done;
  }

  /** The id of a prompt text, stored once however many samples or refinements share it. */
  internPrompt(text: string): number {
    const sha = createHash('sha256').update(text).digest('hex');
    const cached = this.promptCache.get(sha);
    if (cached !== undefined) return cached;
    const id = this.stmts.promptId.get(sha)?.id ?? Number(this.stmts.insertPrompt.run(sha, text).lastInsertRowid);
    if (this.promptCache.size > 256) this.promptCache.clear();
    this.promptCache.set(sha, id);
    return id;
  }

  /** Call inside a transaction for batches; returns the new sample ids in order. */
  insertSamples(runId: number, samples: readonly NewSample[]): number[] {
    const at = nowIso();
    return samples.map((s) =>
      Number(
        this.stmts.insertSample.run(runId, s.taskId, s.sampleIndex, s.seed, this.internPrompt(s.prompt), s.completion,
          s.program, s.tokenCount ?? null, s.finishReason ?? null, at, s.systemFingerprint ?? null).lastInsertRowid,
      ),
    );
  }

  /**
   * Records one execution of a sample. A conclusive one (passed/failed) becomes the sample's verdict;
   * a sandbox error is kept for the record but leaves the verdict alone.
   */
  recordSampleExecution(sampleId: number, e: ExecutionRecord): number {
    const id = this.insertExecution({ sampleId }, e);
    if (e.status !== 'sandbox_error') this.stmts.setVerdict.run(e.status === 'passed' ? 1 : 0, id, sampleId);
    return id;
  }

  /** Records a test of a refinement; a conclusive one sets the refinement's verdict (what review looks at). */
  recordRefinementExecution(refinementId: number, e: ExecutionRecord): number {
    const id = this.insertExecution({ refinementId }, e);
    if (e.status !== 'sandbox_error') this.db.prepare('UPDATE refinements SET passed = ? WHERE id = ?').run(e.status === 'passed' ? 1 : 0, refinementId);
    return id;
  }

  /** Records the test of a reviewer's edit, against the review that accepted it. */
  recordReviewExecution(reviewId: number, e: ExecutionRecord): number {
    return this.insertExecution({ reviewId }, e);
  }

  /** A failing sample with everything a person needs to write feedback on it. */
  failureDetail(sampleId: number): FailureDetail | undefined {
    const r = this.db
      .prepare<[number], { run_id: number; dataset: string; task_key: string; split: string; text: string; program: string; tests: string; verdict_execution_id: number | null }>(
        `SELECT s.run_id, d.name AS dataset, t.task_key, t.split, t.text, s.program, t.tests, s.verdict_execution_id
         FROM samples s JOIN tasks t ON t.id = s.task_id JOIN datasets d ON d.id = t.dataset_id WHERE s.id = ?`,
      )
      .get(sampleId);
    const execution = r?.verdict_execution_id == null ? undefined : this.execution(r.verdict_execution_id);
    if (!r || !execution) return undefined;
    const feedback = this.db
      .prepare<[number], { id: number; source: string; author: string; text: string; version: string; created_at: string }>(
        'SELECT id, source, author, text, COALESCE(edited_at, created_at) AS version, created_at FROM feedback WHERE sample_id = ? ORDER BY id',
      )
      .all(sampleId)
      .map((f) => ({ id: f.id, source: f.source, author: f.author, text: f.text, version: f.version, createdAt: f.created_at }));
    return {
      sampleId, runId: r.run_id, dataset: r.dataset, taskId: r.task_key, split: r.split, text: r.text, program: r.program,
      tests: JSON.parse(r.tests) as string[], execution, failingLine: programLine(execution.traceback ?? ''), feedback,
    };
  }

  /** An execution as the sandbox returned it (the stored, capped version). */
  execution(id: number): ExecutionRecord | undefined {
    const r = this.db
      .prepare<[number], {
        status: ExecutionRecord['status']; error_kind: ExecutionRecord['errorKind']; test_results: string; exception_type: string | null;
        exception_message: string | null; traceback: string | null; stdout: string; stderr: string; output_truncated: number; duration_ms: number; backend: string;
        judge: ExecutionRecord['judge'];
      }>('SELECT * FROM executions WHERE id = ?')
      .get(id);
    return r && {
      status: r.status, errorKind: r.error_kind, testResults: JSON.parse(r.test_results) as ExecutionRecord['testResults'],
      exceptionType: r.exception_type, exceptionMessage: r.exception_message, traceback: r.traceback, stdout: r.stdout, stderr: r.stderr,
      outputTruncated: r.output_truncated === 1, durationMs: r.duration_ms, backend: r.backend, judge: r.judge,
    };
  }

  private insertExecution(subject: { sampleId?: number; refinementId?: number; reviewId?: number }, e: ExecutionRecord): number {
    const passedCount = e.testResults.filter((t) => t.outcome === 'passed').length;
    return Number(
      this.stmts.insertExecution.run(subject.sampleId ?? null, subject.refinementId ?? null, subject.reviewId ?? null, e.status, e.errorKind,
        passedCount, e.testResults.length, JSON.stringify(e.testResults), e.exceptionType ?? null, e.exceptionMessage ?? null,
        e.traceback ?? null, e.stdout, e.stderr, e.outputTruncated ? 1 : 0, e.durationMs, e.backend, nowIso(), e.judge ?? null).lastInsertRowid,
    );
  }

  /**
   * The failures inbox: failing samples of tasks that have no passing sample in the same run
   * (the ones ILF asks a person about), newest first, keyset-paged.
   */
  failures(q: FailureQuery): FailureItem[] {
    const where = new Where('s.passed = 0')
      .when('s.run_id = ?', q.runId)
      .when('d.name = ?', q.dataset)
      .when('t.split = ?', q.split)
      .when('s.id < ?', q.beforeSampleId);
    const whereSql = where.sql;
    // Tasks with a passing sample in the same run are not ILF candidates: left out unless asked for, and flagged.
    const solvedSql = 'EXISTS (SELECT 1 FROM samples p WHERE p.task_id = s.task_id AND p.run_id = s.run_id AND p.passed = 1)';
    const candidatesSql = q.includeSolved ? '' : `AND NOT ${solvedSql}`;
    const rows = this.db
      .prepare<unknown[], {
        sample_id: number; run_id: number; dataset: string; task_key: string; split: string; sample_index: number;
        error_kind: ErrorKind | null; tests_passed: number; tests_total: number; feedback_count: number;
        created_at: string; solved: number;
      }>(
        `SELECT s.id AS sample_id, s.run_id, d.name AS dataset, t.task_key, t.split, s.sample_index,
                e.error_kind, e.tests_passed, e.tests_total, e.created_at,
                (SELECT COUNT(*) FROM feedback f WHERE f.sample_id = s.id) AS feedback_count, ${solvedSql} AS solved
         FROM samples s
         JOIN tasks t ON t.id = s.task_id
         JOIN datasets d ON d.id = t.dataset_id
         JOIN executions e ON e.id = s.verdict_execution_id
         ${whereSql} ${candidatesSql}
         ORDER BY s.id DESC
         LIMIT ?`,
      )
      .all(...where.params, q.limit);
    return rows.map((r) => ({
      sampleId: r.sample_id,
      runId: r.run_id,
      dataset: r.dataset,
      taskId: r.task_key,
      split: r.split,
      sampleIndex: r.sample_index,
      errorKind: r.error_kind,
      testsPassed: r.tests_passed,
      testsTotal: r.tests_total,
      feedbackCount: r.feedback_count,
      taskSolved: r.solved === 1,
      createdAt: r.created_at,
    }));
  }
}
