import { buildPrompt, type PromptFormat } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic.js';
import type { Store } from '../store/store.js';
import { writeTrainerConfigs, type TrainerConfigs } from './off-machine.js';

/** One training row and where it came from. */
export interface TrainingRow {
  exampleId: number;
  prompt: string;
  completion: string;
  promptFormat: PromptFormat;
  lineage: { taskId: string; dataset: string; sampleId: number; feedbackId: number; feedbackAuthor: string; refinementId: number; reviewId: number };
}

export type ExportFormat = 'messages' | 'prompt-completion';

interface AcceptedRow {
  review_id: number; edited_program: string | null; refinement_id: number; refined: string; feedback_id: number; author: string;
  sample_id: number; prompt_format: PromptFormat; task_id: number; task_key: string; dataset: string; text: string;
  example_test: string | null; code_prefix: string | null;
}

/**
 * The target a model should produce after the prompt: for a chat prompt, a reply with the program
 * in one fenced code block (what the prompt asks for and what sampling extracts); for a completion
 * prompt, the program, or what follows the code prefix when the prompt already contains it (HumanEval).
 */
export function trainingTarget(program: string, format: PromptFormat, codePrefix: string | null): string {
  if (format === 'chat') return `\`\`\`python\n${program.replace(/\s+$/, '')}\n\`\`\``;
  if (codePrefix !== null && program.startsWith(codePrefix)) return program.slice(codePrefix.length);
  return program;
}

/**
 * Builds a training set from every accepted review not yet in one: the task's prompt in the format
 * its sample was drawn with → the accepted (possibly edited) program. Rows keep their lineage.
 */
export function buildTrainingSet(store: Store, name: string, options: { samplingRunId?: number } = {}): { trainingSetId: number; rows: number } {
  const runFilter = options.samplingRunId ?? null;
  const accepted = store.db
    .prepare<[number | null, number | null], AcceptedRow>(
      `SELECT rv.id AS review_id, rv.edited_program, rf.id AS refinement_id, rf.program AS refined, f.id AS feedback_id, f.author,
              s.id AS sample_id, sr.prompt_format, t.id AS task_id, t.task_key, d.name AS dataset, t.text, t.example_test, t.code_prefix
       FROM reviews rv
       JOIN refinements rf ON rf.id = rv.refinement_id
       JOIN feedback f ON f.id = rf.feedback_id
       JOIN samples s ON s.id = f.sample_id
       JOIN sampling_runs sr ON sr.id = s.run_id
       JOIN tasks t ON t.id = s.task_id
       JOIN datasets d ON d.id = t.dataset_id
       WHERE rv.decision = 'accepted' AND NOT EXISTS (SELECT 1 FROM training_examples te WHERE te.review_id = rv.id)
         AND (? IS NULL OR s.run_id = ?)
       ORDER BY rv.id`,
    )
    .all(runFilter, runFilter);
  if (accepted.length === 0) {
    throw new AppError('BAD_INPUT', 'there are no accepted refinements that are not in a training set already', 'review some refinements first (accept the good ones)');
  }
  return store.transaction(() => {
    const trainingSetId = store.lineage.createTrainingSet(name);
    for (const r of accepted) {
      const prompt = buildPrompt({ text: r.text, exampleTest: r.example_test, codePrefix: r.code_prefix }, r.prompt_format);
      store.lineage.addTrainingExample(trainingSetId, r.review_id, prompt,
        trainingTarget(r.edited_program ?? r.refined, r.prompt_format, r.code_prefix));
    }
    return { trainingSetId, rows: accepted.length };
  });
}

export function trainingRows(store: Store, trainingSetId: number): TrainingRow[] {
  return store.db
    .prepare<[number], { id: number; prompt: string; completion: string; prompt_format: PromptFormat; task_key: string; dataset: string; sample_id: number; feedback_id: number; author: string; refinement_id: number; review_id: number }>(
      `SELECT te.id, te.prompt, te.completion, sr.prompt_format, t.task_key, d.name AS dataset, s.id AS sample_id, f.id AS feedback_id,
              f.author, rf.id AS refinement_id, rv.id AS review_id
       FROM training_examples te
       JOIN reviews rv ON rv.id = te.review_id JOIN refinements rf ON rf.id = rv.refinement_id
       JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id
       JOIN sampling_runs sr ON sr.id = s.run_id JOIN tasks t ON t.id = te.task_id JOIN datasets d ON d.id = t.dataset_id
       WHERE te.training_set_id = ? ORDER BY te.id`,
    )
    .all(trainingSetId)
    .map((r) => ({
      exampleId: r.id, prompt: r.prompt, completion: r.completion, promptFormat: r.prompt_format,
      lineage: { taskId: r.task_key, dataset: r.dataset, sampleId: r.sample_id, feedbackId: r.feedback_id, feedbackAuthor: r.author, refinementId: r.refinement_id, reviewId: r.review_id },
    }));
}

/** One JSONL line: chat `messages` (user prompt → assistant program) or `{prompt, completion}`; lineage travels along. */
export function exportLine(row: TrainingRow, format: ExportFormat): string {
  const body = format === 'messages'
    ? { messages: [{ role: 'user', content: row.prompt }, { role: 'assistant', content: row.completion }] }
    : { prompt: row.prompt, completion: row.completion };
  return JSON.stringify({ ...body, lineage: row.lineage });
}

/**
 * Writes a training set as JSONL (through a temporary file, so a failed export leaves nothing
 * half-written), and beside it a TRL script and an Axolotl config to fine-tune on it elsewhere
 * (see off-machine.ts). `hfId` names the base model when the store does not know it.
 */
export async function exportTrainingSet(store: Store, trainingSetId: number, file: string, format: ExportFormat,
  options: { hfId?: string; onConfigs?: (configs: TrainerConfigs) => void } = {}): Promise<number> {
  const rows = trainingRows(store, trainingSetId);
  if (rows.length === 0) throw new AppError('NOT_FOUND', `training set ${trainingSetId} is empty or does not exist`);
  await writeFileAtomic(file, rows.map((r) => exportLine(r, format)).join('\n') + '\n');
  const configs = await writeTrainerConfigs(store, trainingSetId, file, format, options.hfId ? { hfId: options.hfId } : {});
  options.onConfigs?.(configs);
  return rows.length;
}
