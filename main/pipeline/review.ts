import type { ExecutionResult, RefinementItem } from '../../preload/contract.js';
import { AppError } from '../errors.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { Store } from '../store/store.js';
import { requestForFeedback } from './refine-step.js';

export interface ReviewInput {
  refinementId: number;
  reviewer: string;
  decision: 'accepted' | 'rejected';
  /** The reviewer's own version; it is tested, and accepted only if it passes. */
  editedProgram?: string | null;
  note?: string | null;
}

export interface ReviewOutcome {
  reviewId: number;
  decision: 'accepted' | 'rejected';
  /** The test of the edit, when there was one. */
  execution: ExecutionResult | null;
}

function failureSummary(result: ExecutionResult): string[] {
  return result.testResults.filter((t) => t.outcome !== 'passed').slice(0, 5)
    .map((t) => `test ${t.index + 1}: ${t.outcome}${t.expected != null && t.actual != null ? ` (expected ${t.expected}, got ${t.actual})` : t.message ? ` (${t.message})` : ''}`);
}

/**
 * Step 5 of ILF: a person accepts, edits or rejects a refinement. Only a passing program can be
 * accepted: a refinement that failed its tests must be edited, and an edit is re-tested first; a
 * failing edit is refused with its test results and nothing is written.
 */
export async function reviewRefinement(store: Store, pool: SandboxPool, input: ReviewInput, signal?: AbortSignal): Promise<ReviewOutcome> {
  const refinement = store.db
    .prepare<[number], { feedback_id: number; passed: number | null }>('SELECT feedback_id, passed FROM refinements WHERE id = ?')
    .get(input.refinementId);
  if (!refinement) throw new AppError('NOT_FOUND', `no refinement ${input.refinementId}`);
  if (input.reviewer.trim() === '') throw new AppError('BAD_INPUT', 'a review needs the reviewer\'s name', 'give --reviewer NAME');
  const edited = input.editedProgram?.trim() ? `${input.editedProgram.replace(/\s+$/, '')}\n` : null;
  let execution: ExecutionResult | null = null;
  if (input.decision === 'accepted') {
    if (edited !== null) {
      execution = await pool.run(requestForFeedback(store, refinement.feedback_id, edited), { signal });
      if (execution.status === 'sandbox_error') {
        throw new AppError('SANDBOX_UNAVAILABLE', `the edit could not be tested: ${execution.exceptionMessage ?? 'sandbox error'}`, 'try again');
      }
      if (execution.status !== 'passed') {
        throw new AppError('BAD_INPUT', `the edited program fails its tests (${execution.errorKind ?? 'failed'}); nothing was accepted`,
          'fix the edit and accept again', failureSummary(execution));
      }
    } else if (refinement.passed !== 1) {
      throw new AppError('BAD_INPUT', `refinement ${input.refinementId} ${refinement.passed === 0 ? 'fails its tests' : 'is not tested yet'}, so it cannot be accepted as it is`,
        'edit it into a passing program (it is re-tested), or reject it');
    }
  }
  const reviewId = store.transaction(() => {
    const id = store.lineage.addReview({ refinementId: input.refinementId, reviewer: input.reviewer.trim(), decision: input.decision, editedProgram: edited, note: input.note ?? null });
    if (execution) store.runs.recordReviewExecution(id, execution);
    return id;
  });
  return { reviewId, decision: input.decision, execution };
}

/**
 * A refinement written by a person (the paper's human-written refinements, or an import): stored
 * with its author and tested like a model's.
 */
export async function addHumanRefinement(store: Store, pool: SandboxPool, input: { feedbackId: number; author: string; program: string }, signal?: AbortSignal): Promise<{ refinementId: number; passed: boolean; execution: ExecutionResult }> {
  const program = `${input.program.replace(/\s+$/, '')}\n`;
  const execution = await pool.run(requestForFeedback(store, input.feedbackId, program), { signal });
  const refinementId = store.transaction(() => {
    const id = store.lineage.addRefinement({ feedbackId: input.feedbackId, origin: 'human', author: input.author, program });
    store.runs.recordRefinementExecution(id, execution);
    return id;
  });
  return { refinementId, passed: execution.status === 'passed', execution };
}

/**
 * Refinements for the Review screen: by default those that pass and nobody reviewed yet (what
 * review is for), newest first; `failing` adds the unreviewed ones that fail (to be edited into
 * shape); with `toReview: false`, all of them with their reviews.
 */
export function listRefinements(store: Store, query: { samplingRunId?: number | undefined; toReview: boolean; failing?: boolean; limit: number }): RefinementItem[] {
  const run = query.samplingRunId ?? null;
  const rows = store.db
    .prepare<[number | null, number | null, number, number, number], {
      id: number; feedback_id: number; sample_id: number; dataset: string; task_key: string; text: string; original: string; program: string; origin: 'model' | 'human';
      source: string; author: string; feedback: string; passed: number | null; tests: string; execution_id: number | null;
      reviewer: string | null; decision: 'accepted' | 'rejected' | null; edited_program: string | null;
    }>(
      `SELECT rf.id, rf.feedback_id, s.id AS sample_id, d.name AS dataset, t.task_key, t.text, s.program AS original, rf.program, rf.origin,
              f.source, f.author, f.text AS feedback, rf.passed, t.tests,
              (SELECT MAX(e.id) FROM executions e WHERE e.refinement_id = rf.id) AS execution_id,
              rv.reviewer, rv.decision, rv.edited_program
       FROM refinements rf JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id
       JOIN tasks t ON t.id = s.task_id JOIN datasets d ON d.id = t.dataset_id
       LEFT JOIN reviews rv ON rv.id = (SELECT MAX(id) FROM reviews WHERE refinement_id = rf.id)
       WHERE (? IS NULL OR s.run_id = ?) AND (? = 0 OR (rv.id IS NULL AND (rf.passed = 1 OR ? = 1)))
       ORDER BY rf.id DESC LIMIT ?`,
    )
    .all(run, run, query.toReview ? 1 : 0, query.failing ? 1 : 0, query.limit);
  return rows.map((r) => ({
    refinementId: r.id, feedbackId: r.feedback_id, sampleId: r.sample_id, dataset: r.dataset, taskId: r.task_key, text: r.text, original: r.original,
    program: r.program, origin: r.origin, feedback: { source: r.source, author: r.author, text: r.feedback }, passed: r.passed === null ? null : r.passed === 1,
    execution: r.execution_id === null ? null : store.runs.execution(r.execution_id) ?? null, tests: JSON.parse(r.tests) as string[],
    review: r.decision === null ? null : { reviewer: r.reviewer ?? '', decision: r.decision, editedProgram: r.edited_program },
  }));
}
