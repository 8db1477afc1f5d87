import { AppError } from '../errors.js';
import { passAtK } from '../evaluation/pass-at-k.js';
import { writeFileAtomic } from '../files/atomic.js';
import type { Store } from '../store/store.js';

/** Files other tools read: samples for EvalPlus/human-eval, feedback with its lineage, evaluation reports. */

/** The task id as human-eval and EvalPlus spell it: "HumanEval/0" as it is, MBPP's 11 as "Mbpp/11". */
export function evalPlusTaskId(format: string, taskKey: string): string {
  return format === 'mbpp' ? `Mbpp/${taskKey}` : taskKey;
}

/**
 * A sampling run as JSONL `{task_id, completion}` (human-eval / EvalPlus samples format): the
 * completion is what follows the prompt (for chat prompts, the extracted program); `solution`
 * carries the whole program too.
 */
export async function exportSamples(store: Store, runId: number, file: string): Promise<number> {
  const run = store.runs.samplingRun(runId);
  if (!run) throw new AppError('NOT_FOUND', `no sampling run ${runId}`, 'the run id is printed by `ilf sample`');
  const rows = store.db
    .prepare<[number], { format: string; task_key: string; completion: string; program: string; sample_index: number; passed: number | null }>(
      `SELECT d.format, t.task_key, s.completion, s.program, s.sample_index, s.passed
       FROM samples s JOIN tasks t ON t.id = s.task_id JOIN datasets d ON d.id = t.dataset_id WHERE s.run_id = ? ORDER BY t.ordinal, s.sample_index`,
    )
    .all(runId);
  await writeFileAtomic(file, rows.map((r) => JSON.stringify({
    task_id: evalPlusTaskId(r.format, r.task_key), completion: run.promptFormat === 'chat' ? r.program : r.completion, solution: r.program,
    sample_index: r.sample_index, passed: r.passed === null ? null : r.passed === 1,
  })).join('\n') + (rows.length ? '\n' : ''));
  return rows.length;
}

/** Every feedback (of one sampling run, or all) with the program it was given on, its refinements, their tests and reviews. */
export async function exportFeedback(store: Store, file: string, options: { runId?: number } = {}): Promise<number> {
  const runFilter = options.runId ?? null;
  const feedback = store.db
    .prepare<[number | null, number | null], {
      id: number; source: string; author: string; text: string; created_at: string; sample_id: number; run_id: number; program: string;
      task_key: string; dataset: string; split: string; status: string | null; error_kind: string | null;
    }>(
      `SELECT f.id, f.source, f.author, f.text, f.created_at, s.id AS sample_id, s.run_id, s.program, t.task_key, d.name AS dataset, t.split,
              e.status, e.error_kind
       FROM feedback f JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id JOIN datasets d ON d.id = t.dataset_id
       LEFT JOIN executions e ON e.id = f.execution_id
       WHERE (? IS NULL OR s.run_id = ?) ORDER BY f.id`,
    )
    .all(runFilter, runFilter);
  const refinements = store.db.prepare<[number], { id: number; origin: string; author: string | null; program: string; passed: number | null }>(
    'SELECT id, origin, author, program, passed FROM refinements WHERE feedback_id = ? ORDER BY id');
  const reviews = store.db.prepare<[number], { id: number; reviewer: string; decision: string; edited_program: string | null; note: string | null }>(
    'SELECT id, reviewer, decision, edited_program, note FROM reviews WHERE refinement_id = ? ORDER BY id');
  const lines = feedback.map((f) => JSON.stringify({
    task_id: f.task_key, dataset: f.dataset, split: f.split, program: f.program,
    execution: f.status === null ? null : { status: f.status, error_kind: f.error_kind },
    feedback: { id: f.id, source: f.source, author: f.author, text: f.text, created_at: f.created_at },
    refinements: refinements.all(f.id).map((r) => ({
      id: r.id, origin: r.origin, author: r.author, program: r.program, passed: r.passed === null ? null : r.passed === 1,
      reviews: reviews.all(r.id).map((v) => ({ id: v.id, reviewer: v.reviewer, decision: v.decision, edited_program: v.edited_program, note: v.note })),
    })),
    lineage: { sample_id: f.sample_id, run_id: f.run_id },
  }));
  await writeFileAtomic(file, lines.join('\n') + (lines.length ? '\n' : ''));
  return lines.length;
}

/** An evaluation report: JSON (settings, pass@k, per-task counts) or CSV (one row per task). */
export async function exportEvaluation(store: Store, evaluationId: number, file: string, format: 'json' | 'csv'): Promise<number> {
  const evaluation = store.evaluations.get(evaluationId);
  if (!evaluation) throw new AppError('NOT_FOUND', `no evaluation ${evaluationId}`, 'list them with `ilf eval --list`');
  const ks = Object.keys(evaluation.passAtK).map(Number);
  const tasks = store.evaluations.tasks(evaluationId).map((t) => ({
    task_id: t.taskKey, n: t.n, correct: t.correct, ...Object.fromEntries(ks.map((k) => [`pass@${k}`, passAtK(t.n, t.correct, k)])),
  }));
  if (format === 'json') {
    await writeFileAtomic(file, `${JSON.stringify({ ...evaluation, tasks }, null, 2)}\n`);
  } else {
    const header = ['task_id', 'n', 'correct', ...ks.map((k) => `pass@${k}`)];
    const quote = (v: unknown): string => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
    const body = tasks.map((t) => header.map((h) => quote((t as Record<string, unknown>)[h])).join(','));
    await writeFileAtomic(file, `${[header.join(','), ...body].join('\n')}\n`);
  }
  return tasks.length;
}
