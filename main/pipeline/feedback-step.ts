import { completionPrompt } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import { sampleSeed } from '../inference/generate.js';
import { openGenerator } from '../inference/generator.js';
import type { EndpointOptions } from '../inference/endpoint.js';
import { hasSerialThreadpool, type LlamaRuntime } from '../models/runtime.js';
import type { FeedbackSource } from '../store/feedback.js';
import type { Store } from '../store/store.js';
import { executionFeedback, shuffledFeedbackIndices } from './feedback-sources.js';

export type AutomaticSource = Exclude<FeedbackSource, 'human'>;

interface Candidate { sampleId: number; executionId: number; taskKey: string; text: string; exampleTest: string | null; codePrefix: string | null; program: string; tests: string[] }

/**
 * The samples ILF asks about: for each task of the run with no passing sample, its first failing
 * sample (lowest index). Tasks with a passing sample are left out, as in the paper.
 */
export function feedbackCandidates(store: Store, samplingRunId: number): Candidate[] {
  return store.db
    .prepare<[number, number], { sample_id: number; execution_id: number; task_key: string; text: string; example_test: string | null; code_prefix: string | null; program: string; tests: string }>(
      `SELECT s.id AS sample_id, s.verdict_execution_id AS execution_id, t.task_key, t.text, t.example_test, t.code_prefix, s.program, t.tests
       FROM samples s JOIN tasks t ON t.id = s.task_id
       WHERE s.run_id = ? AND s.passed = 0
         AND s.sample_index = (SELECT MIN(x.sample_index) FROM samples x WHERE x.run_id = s.run_id AND x.task_id = s.task_id AND x.passed = 0)
         AND NOT EXISTS (SELECT 1 FROM samples p WHERE p.run_id = ? AND p.task_id = s.task_id AND p.passed = 1)
       ORDER BY t.ordinal`,
    )
    .all(samplingRunId, samplingRunId)
    .map((r) => ({ sampleId: r.sample_id, executionId: r.execution_id, taskKey: r.task_key, text: r.text, exampleTest: r.example_test,
      codePrefix: r.code_prefix, program: r.program, tests: JSON.parse(r.tests) as string[] }));
}

const commented = (text: string): string => text.trim().split('\n').map((l) => `# ${l}`).join('\n');

/** The critique prompt: the task, the failing program and its test results, then "# Feedback:" for the model to continue. */
export function critiquePrompt(c: Candidate, testReport: string): string {
  return `${completionPrompt(c)}# Incorrect solution:\n${c.program.trimEnd()}\n# Test results:\n${commented(testReport)}\n` +
    '# Feedback (what is wrong and how to fix it):\n#';
}

/**
 * Feedback from an automatic source on every ILF candidate of a sampling run: written from the
 * execution (LeTI-style), by the model critiquing the program, or the shuffled control (the
 * execution feedback of another task). Idempotent: a sample that has feedback of this source keeps
 * it. Returns the feedback ids, one per candidate.
 */
export async function automaticFeedback(
  deps: { store: Store; runtime?: LlamaRuntime; endpointOptions?: EndpointOptions | undefined },
  samplingRunId: number,
  source: AutomaticSource,
  options: { modelId?: number; seed?: number; signal?: AbortSignal } = {},
): Promise<number[]> {
  const { store } = deps;
  const candidates = feedbackCandidates(store, samplingRunId);
  const existing = (sampleId: number): number | undefined =>
    store.db.prepare<[number, string], { id: number }>('SELECT id FROM feedback WHERE sample_id = ? AND source = ? ORDER BY id LIMIT 1').get(sampleId, source)?.id;
  const reports = candidates.map((c) => {
    const result = store.runs.execution(c.executionId);
    if (!result) throw new Error(`execution ${c.executionId} vanished`);
    return executionFeedback(result, c.tests);
  });

  if (source === 'execution') {
    return store.transaction(() => candidates.map((c, i) => existing(c.sampleId) ?? store.lineage.addFeedback({
      sampleId: c.sampleId, executionId: c.executionId, source, author: 'execution', text: reports[i] ?? '',
    })));
  }
  if (source === 'shuffled-control') {
    if (candidates.length < 2) return [];
    // The control hands each sample the execution feedback written for another task.
    const base = await automaticFeedback(deps, samplingRunId, 'execution', options);
    const order = shuffledFeedbackIndices(candidates.map((c) => c.taskKey), options.seed ?? 1);
    return store.transaction(() => candidates.map((c, i) => {
      const from = base[order[i] ?? i] ?? 0;
      return existing(c.sampleId) ?? store.lineage.addFeedback({
        sampleId: c.sampleId, executionId: c.executionId, source, author: 'shuffled-control', text: reports[order[i] ?? i] ?? '', shuffledFromFeedbackId: from,
      });
    }));
  }
  // source === 'model': the loaded model critiques each program.
  const model = options.modelId === undefined ? undefined : store.models.get(options.modelId);
  if (!model || (!deps.runtime && !model.endpoint)) throw new AppError('BAD_INPUT', 'model feedback needs a model', 'give the critic model (--critic ID)');
  const todo = candidates.map((c, i) => ({ c, i })).filter(({ c }) => existing(c.sampleId) === undefined);
  const written = new Map<number, string>();
  if (todo.length > 0) {
    const generator = await openGenerator({ runtime: deps.runtime, endpointOptions: deps.endpointOptions }, model, undefined, hasSerialThreadpool(), options.signal);
    try {
      for (const { c, i } of todo) {
        const [out] = await generator.generate(critiquePrompt(c, reports[i] ?? ''), 'completion',
          { temperature: 0, topP: 1, maxTokens: 128, seeds: [sampleSeed(options.seed ?? 1, `critique:${c.sampleId}`, 0)], stop: ['\n\n', '\ndef ', '\n"""'] },
          { signal: options.signal });
        const text = (out?.text ?? '').split('\n').map((l) => l.replace(/^\s*#\s?/, '')).join('\n').trim();
        written.set(c.sampleId, text || '(the model wrote no feedback)');
      }
    } finally {
      await generator.dispose();
    }
  }
  return store.transaction(() => candidates.map((c) => existing(c.sampleId) ?? store.lineage.addFeedback({
    sampleId: c.sampleId, executionId: c.executionId, source, author: `model:${model.name}`, modelId: model.id, text: written.get(c.sampleId) ?? '',
  })));
}

/**
 * Feedback written by a person on a failing sample (several people may each write their own).
 * The author is recorded with it.
 */
export function addHumanFeedback(store: Store, input: { sampleId: number; author: string; text: string }): number {
  const sample = store.db.prepare<[number], { verdict_execution_id: number | null; passed: number | null }>('SELECT verdict_execution_id, passed FROM samples WHERE id = ?').get(input.sampleId);
  if (!sample) throw new AppError('NOT_FOUND', `no sample ${input.sampleId}`, 'the failures inbox lists them: `ilf failures`');
  if (sample.passed !== 0) {
    throw new AppError('BAD_INPUT', `sample ${input.sampleId} ${sample.passed === 1 ? 'passes its tests' : 'is not tested yet'}: feedback is for failing programs`, 'pick one from `ilf failures`');
  }
  if (!input.text.trim()) throw new AppError('BAD_INPUT', 'the feedback is empty', 'say what is wrong with the program and how to fix it');
  if (!input.author.trim()) throw new AppError('BAD_INPUT', 'feedback needs its author', 'give your name');
  return store.lineage.addFeedback({ sampleId: input.sampleId, executionId: sample.verdict_execution_id, source: 'human', author: input.author.trim(), text: input.text.trim() });
}

/** A feedback's version: when it was last written. An edit names the version it started from. */
export function feedbackVersion(store: Store, feedbackId: number): { author: string; version: string } | undefined {
  const r = store.db.prepare<[number], { author: string; version: string }>('SELECT author, COALESCE(edited_at, created_at) AS version FROM feedback WHERE id = ?').get(feedbackId);
  return r;
}

/**
 * An annotator edits their own feedback (the inbox saves as they type). Only its author may, and
 * only from the version they loaded: an edit made meanwhile (another window, another tab) is never
 * overwritten silently; the later writer gets a conflict to resolve.
 */
export function updateHumanFeedback(store: Store, input: { feedbackId: number; author: string; text: string; version: string }): { version: string } {
  return store.transaction(() => {
    const current = feedbackVersion(store, input.feedbackId);
    if (!current) throw new AppError('NOT_FOUND', `no feedback ${input.feedbackId}`);
    if (current.author !== input.author.trim()) {
      throw new AppError('BAD_INPUT', `feedback ${input.feedbackId} was written by ${current.author}`, 'add your own feedback to the sample instead');
    }
    if (current.version !== input.version) {
      throw new AppError('CONFLICT', `feedback ${input.feedbackId} changed since you loaded it (at ${current.version})`, 'reload it, then make your change again');
    }
    if (!input.text.trim()) throw new AppError('BAD_INPUT', 'the feedback is empty', 'say what is wrong with the program and how to fix it');
    // Versions must differ even for two edits within one millisecond.
    const now = new Date().toISOString();
    const version = now > current.version ? now : new Date(Date.parse(current.version) + 1).toISOString();
    store.db.prepare('UPDATE feedback SET text = ?, edited_at = ? WHERE id = ?').run(input.text.trim(), version, input.feedbackId);
    return { version };
  });
}
