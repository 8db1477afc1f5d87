import path from 'node:path';
import { BadLines, readJsonl } from '../datasets/jsonl.js';
import { buildPrompt } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { ExecutionRequest, ExecutionResult } from '../sandbox/types.js';
import type { Store } from '../store/store.js';

export const FEEDBACK_FIELDS = ['task_id', 'program', 'feedback', 'refinement', 'annotator'] as const;
export type FeedbackField = (typeof FEEDBACK_FIELDS)[number];
export type FieldMap = Partial<Record<FeedbackField, string>>;

/** Common names for each field, in order of preference, for files whose fields are not mapped explicitly. */
const ALIASES: Record<FeedbackField, readonly string[]> = {
  task_id: ['task_id', 'taskId', 'task', 'problem_id', 'question_id', 'id'],
  program: ['program', 'original_program', 'original', 'incorrect_program', 'code', 'completion', 'solution'],
  feedback: ['feedback', 'nl_feedback', 'annotation', 'critique', 'comment'],
  refinement: ['refinement', 'refined_program', 'refined', 'human_refinement', 'fixed_program', 'correction'],
  annotator: ['annotator', 'author', 'annotator_id', 'worker', 'user'],
};

/** Which key of the file holds each field: the explicit mapping first, else the first alias the file has. */
export function detectFields(keys: readonly string[], mapping: FieldMap = {}): FieldMap {
  const found: FieldMap = {};
  for (const field of FEEDBACK_FIELDS) {
    const explicit = mapping[field];
    if (explicit !== undefined) found[field] = explicit;
    else {
      const alias = ALIASES[field].find((a) => keys.includes(a) && !Object.values(found).includes(a));
      if (alias !== undefined) found[field] = alias;
    }
  }
  return found;
}

export interface ImportFeedbackReport {
  file: string;
  samplingRunId: number | null;
  fields: FieldMap;
  rows: number;
  imported: number;
  withRefinement: number;
  rejected: { line: number; reason: string }[];
}

interface Row { line: number; taskId: number; taskKey: string; program: string; feedback: string; refinement: string | null; annotator: string; tests: string[]; setupCode: string }

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

/**
 * Imports feedback annotations (task id, the original program, the feedback, optionally a human
 * refinement, the annotator) from JSONL. Every row is checked in the sandbox: the original must
 * fail its tests and a given refinement must pass; rows that do not are reported and left out.
 * The rest are stored as one import: samples with their executions, human feedback by its
 * annotator, and human refinements with theirs. A file already imported is refused.
 */
export async function importFeedback(store: Store, pool: SandboxPool, file: string, options: {
  dataset: string; mapping?: FieldMap; defaultAnnotator?: string; signal?: AbortSignal;
}): Promise<ImportFeedbackReport> {
  const dataset = store.catalog.dataset(options.dataset);
  if (!dataset) throw new AppError('NOT_FOUND', `no dataset "${options.dataset}"`, 'import the tasks first with `ilf import`');
  const absolute = path.resolve(file);
  const bad = new BadLines();
  const values: { line: number; value: Record<string, unknown> }[] = [];
  const lines = readJsonl(absolute, { onBadLine: bad.add, ...(options.signal ? { signal: options.signal } : {}) });
  let next = await lines.next();
  while (!next.done) {
    const v = next.value.value;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) values.push({ line: next.value.lineNo, value: v as Record<string, unknown> });
    else bad.add(next.value.lineNo, 'not a JSON object');
    next = await lines.next();
  }
  bad.throwIfAny(file, 'nothing was imported', 'fix the listed lines and import again');
  const sha256 = next.value.sha256;
  const earlier = store.db.prepare<[string], { id: number }>(`SELECT id FROM sampling_runs WHERE kind = 'import' AND json_extract(params, '$.sourceSha256') = ?`).get(sha256);
  if (earlier) throw new AppError('BAD_INPUT', `${file} was imported already (run ${earlier.id})`, 'nothing to do; change the file to import new rows');

  const fields = detectFields(Object.keys(values[0]?.value ?? {}), options.mapping);
  const missing = (['task_id', 'program', 'feedback'] as const).filter((f) => fields[f] === undefined);
  if (missing.length > 0) {
    throw new AppError('BAD_INPUT', `${file}: no field for ${missing.join(', ')} (found ${Object.keys(values[0]?.value ?? {}).join(', ') || 'no fields'})`,
      `map them, e.g. --map ${missing.map((m) => `${m}=YOUR_FIELD`).join(',')}`);
  }
  const report: ImportFeedbackReport = { file: absolute, samplingRunId: null, fields, rows: values.length, imported: 0, withRefinement: 0, rejected: [] };
  const rows: Row[] = [];
  for (const { line, value } of values) {
    const get = (f: FeedbackField): string | undefined => (fields[f] === undefined ? undefined : str(value[fields[f] ?? '']));
    const key = get('task_id')?.replace(/^Mbpp\//, '');
    const program = get('program');
    const feedback = get('feedback')?.trim();
    if (!key || !program || !feedback) {
      report.rejected.push({ line, reason: `${!key ? fields.task_id : !program ? fields.program : fields.feedback} is missing or empty` });
      continue;
    }
    const task = store.catalog.getTask(options.dataset, key);
    if (!task) {
      report.rejected.push({ line, reason: `no task ${key} in dataset "${options.dataset}"` });
      continue;
    }
    const taskId = store.db.prepare<[number, string], { id: number }>('SELECT id FROM tasks WHERE dataset_id = ? AND task_key = ?').get(dataset.id, key)?.id ?? 0;
    rows.push({ line, taskId, taskKey: key, program, feedback, refinement: get('refinement')?.trim() ? (get('refinement') ?? null) : null,
      annotator: get('annotator')?.trim() || options.defaultAnnotator || 'import', tests: task.tests, setupCode: task.setupCode });
  }

  // Originals and refinements in one pass through the sandbox.
  const requests: { row: number; kind: 'program' | 'refinement'; request: ExecutionRequest }[] = rows.flatMap((r, i) => [
    { row: i, kind: 'program' as const, request: { program: r.program, tests: r.tests, setupCode: r.setupCode } },
    ...(r.refinement === null ? [] : [{ row: i, kind: 'refinement' as const, request: { program: r.refinement, tests: r.tests, setupCode: r.setupCode } }]),
  ]);
  const results = new Map<string, ExecutionResult>();
  for await (const { index, result } of pool.runMany(requests.map((q) => q.request), options.signal ? { signal: options.signal } : {})) {
    const q = requests[index];
    if (q) results.set(`${q.row}:${q.kind}`, result);
  }
  const accepted = rows.flatMap((r, i) => {
    const original = results.get(`${i}:program`);
    const refined = results.get(`${i}:refinement`);
    const reason = !original || original.status === 'sandbox_error' ? 'the sandbox could not run the original program; import again to retry'
      : original.status === 'passed' ? 'the original program passes its tests: feedback is for failing programs'
        : r.refinement !== null && refined?.status !== 'passed' ? `the refinement fails its tests (${refined?.errorKind ?? 'sandbox error'})` : null;
    if (reason) report.rejected.push({ line: r.line, reason });
    return reason || !original ? [] : [{ row: r, original, refined }];
  });
  if (accepted.length === 0) return report;

  report.samplingRunId = store.transaction(() => {
    const runId = store.runs.createSamplingRun({
      kind: 'import', purpose: 'ilf', modelId: null, adapterId: null, datasetId: dataset.id, split: '*', promptFormat: 'completion', n: 1,
      temperature: 0, topP: 1, maxTokens: 1, stop: [], seed: 0, params: { sourcePath: absolute, sourceSha256: sha256, fields },
    });
    const perTask = new Map<number, number>();
    for (const { row, original, refined } of accepted) {
      const index = perTask.get(row.taskId) ?? 0;
      perTask.set(row.taskId, index + 1);
      const task = store.catalog.getTask(options.dataset, row.taskKey);
      const prompt = task ? buildPrompt({ text: task.text, exampleTest: task.exampleTest, codePrefix: task.codePrefix }, 'completion') : '';
      const [sampleId = 0] = store.runs.insertSamples(runId, [{ taskId: row.taskId, sampleIndex: index, seed: 0, prompt, completion: row.program, program: row.program }]);
      const executionId = store.runs.recordSampleExecution(sampleId, original);
      const feedbackId = store.lineage.addFeedback({ sampleId, executionId, source: 'human', author: row.annotator, text: row.feedback });
      if (row.refinement !== null && refined) {
        const refinementId = store.lineage.addRefinement({ feedbackId, origin: 'human', author: row.annotator, program: row.refinement });
        store.runs.recordRefinementExecution(refinementId, refined);
        report.withRefinement += 1;
      }
      report.imported += 1;
    }
    store.runs.setRunStatus(runId, 'completed');
    return runId;
  });
  return report;
}
