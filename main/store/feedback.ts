import type { Database } from 'better-sqlite3';

/** Feedback, refinements, reviews and training examples: the second half of the lineage. */

export type FeedbackSource = 'human' | 'execution' | 'model' | 'shuffled-control';

export interface NewFeedback {
  sampleId: number;
  executionId: number | null;
  source: FeedbackSource;
  author: string;
  text: string;
  modelId?: number | null;
  shuffledFromFeedbackId?: number | null;
}

export interface NewRefinement {
  feedbackId: number;
  origin: 'model' | 'human';
  refinerModelId?: number | null;
  refinerAdapterId?: number | null;
  promptId?: number | null;
  params?: Record<string, unknown>;
  author?: string | null;
  refinementIndex?: number;
  program: string;
  completion?: string | null;
  seed?: number | null;
}

export interface NewReview {
  refinementId: number;
  reviewer: string;
  decision: 'accepted' | 'rejected';
  editedProgram?: string | null;
  note?: string | null;
}

export interface RefineExample {
  text: string;
  exampleTest: string | null;
  codePrefix: string | null;
  program: string;
  feedback: string;
  refined: string;
}

export interface RefineInput extends Omit<RefineExample, 'refined'> {
  taskId: number;
  taskKey: string;
}

/** Where a training example came from, row by row. */
export interface ExampleLineage {
  exampleId: number;
  trainingSetId: number;
  task: { id: number; dataset: string; taskId: string; split: string };
  sample: { id: number; runId: number; sampleIndex: number; seed: number; program: string; modelSha256: string | null };
  execution: { id: number; status: string; errorKind: string | null } | null;
  feedback: { id: number; source: FeedbackSource; author: string; text: string; createdAt: string };
  refinement: { id: number; origin: 'model' | 'human'; author: string | null; program: string };
  review: { id: number; reviewer: string; decision: string; editedProgram: string | null };
}

const nowIso = (): string => new Date().toISOString();

export class FeedbackLineage {
  constructor(private readonly db: Database) {}

  addFeedback(f: NewFeedback): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO feedback (sample_id, execution_id, source, author, model_id, shuffled_from_feedback_id, text, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(f.sampleId, f.executionId, f.source, f.author, f.modelId ?? null, f.shuffledFromFeedbackId ?? null, f.text,
          nowIso()).lastInsertRowid,
    );
  }


  addRefinement(r: NewRefinement): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO refinements (feedback_id, origin, refiner_model_id, refiner_adapter_id, author, refinement_index, prompt_id,
                                    completion, program, seed, params, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.feedbackId, r.origin, r.refinerModelId ?? null, r.refinerAdapterId ?? null, r.author ?? null, r.refinementIndex ?? 0,
          r.promptId ?? null, r.completion ?? null, r.program, r.seed ?? null, JSON.stringify(r.params ?? {}), nowIso()).lastInsertRowid,
    );
  }

  addReview(r: NewReview): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO reviews (refinement_id, reviewer, decision, edited_program, note, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(r.refinementId, r.reviewer, r.decision, r.editedProgram ?? null, r.note ?? null, nowIso()).lastInsertRowid,
    );
  }

  createTrainingSet(name: string): number {
    return Number(
      this.db.prepare('INSERT INTO training_sets (name, created_at) VALUES (?, ?)').run(name, nowIso()).lastInsertRowid,
    );
  }

  /**
   * Adds an accepted review to a training set: the task's prompt → the accepted program
   * (the reviewer's edit when there is one), or `completion` when the caller derived the target.
   */
  addTrainingExample(trainingSetId: number, reviewId: number, prompt: string, completion?: string): number {
    const row = this.db
      .prepare<[number], { decision: string; edited_program: string | null; program: string; task_id: number }>(
        `SELECT rv.decision, rv.edited_program, rf.program, s.task_id
         FROM reviews rv JOIN refinements rf ON rf.id = rv.refinement_id
         JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id
         WHERE rv.id = ?`,
      )
      .get(reviewId);
    if (!row) throw new Error(`no review with id ${reviewId}`);
    if (row.decision !== 'accepted') throw new Error(`review ${reviewId} was ${row.decision}, not accepted`);
    return Number(
      this.db
        .prepare('INSERT INTO training_examples (training_set_id, review_id, task_id, prompt, completion) VALUES (?, ?, ?, ?, ?)')
        .run(trainingSetId, reviewId, row.task_id, prompt, completion ?? row.edited_program ?? row.program).lastInsertRowid,
    );
  }

  /** What refining one feedback needs: the task, the program it was given on, and the feedback. */
  refineInput(feedbackId: number): RefineInput | undefined {
    const r = this.db
      .prepare<[number], { task_id: number; task_key: string; text: string; example_test: string | null; code_prefix: string | null; program: string; feedback: string }>(
        `SELECT t.id AS task_id, t.task_key, t.text, t.example_test, t.code_prefix, s.program, f.text AS feedback
         FROM feedback f JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id WHERE f.id = ?`,
      )
      .get(feedbackId);
    return r && { taskId: r.task_id, taskKey: r.task_key, text: r.text, exampleTest: r.example_test, codePrefix: r.code_prefix, program: r.program, feedback: r.feedback };
  }

  /** Accepted refinements, newest first, as few-shot examples (other tasks than `exceptTaskId`). */
  acceptedExamples(limit: number, exceptTaskId: number): RefineExample[] {
    return this.db
      .prepare<[number, number], { text: string; example_test: string | null; code_prefix: string | null; program: string; feedback: string; refined: string }>(
        `SELECT t.text, t.example_test, t.code_prefix, s.program, f.text AS feedback, COALESCE(rv.edited_program, rf.program) AS refined
         FROM reviews rv JOIN refinements rf ON rf.id = rv.refinement_id JOIN feedback f ON f.id = rf.feedback_id
         JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id
         WHERE rv.decision = 'accepted' AND t.id <> ? ORDER BY rv.id DESC LIMIT ?`,
      )
      .all(exceptTaskId, limit)
      .map((r) => ({ text: r.text, exampleTest: r.example_test, codePrefix: r.code_prefix, program: r.program, feedback: r.feedback, refined: r.refined }));
  }

  /** Answers "where did this training example come from, and who made it". */
  trace(exampleId: number): ExampleLineage | undefined {
    const r = this.db
      .prepare<[number], Record<string, string | number | null>>(
        `SELECT te.id AS example_id, te.training_set_id,
                t.id AS task_id, d.name AS dataset, t.task_key, t.split,
                s.id AS sample_id, s.run_id, s.sample_index, s.seed, s.program AS sample_program, m.sha256 AS model_sha256,
                e.id AS execution_id, e.status AS execution_status, e.error_kind,
                f.id AS feedback_id, f.source, f.author, f.text AS feedback_text, f.created_at AS feedback_created_at,
                rf.id AS refinement_id, rf.origin, rf.author AS refinement_author, rf.program AS refinement_program,
                rv.id AS review_id, rv.reviewer, rv.decision, rv.edited_program
         FROM training_examples te
         JOIN reviews rv ON rv.id = te.review_id
         JOIN refinements rf ON rf.id = rv.refinement_id
         JOIN feedback f ON f.id = rf.feedback_id
         JOIN samples s ON s.id = f.sample_id
         JOIN sampling_runs sr ON sr.id = s.run_id
         LEFT JOIN models m ON m.id = sr.model_id
         LEFT JOIN executions e ON e.id = f.execution_id
         JOIN tasks t ON t.id = s.task_id
         JOIN datasets d ON d.id = t.dataset_id
         WHERE te.id = ?`,
      )
      .get(exampleId);
    if (!r) return undefined;
    const num = (k: string): number => Number(r[k]);
    const str = (k: string): string => String(r[k]);
    const opt = (k: string): string | null => (r[k] === null || r[k] === undefined ? null : String(r[k]));
    return {
      exampleId: num('example_id'),
      trainingSetId: num('training_set_id'),
      task: { id: num('task_id'), dataset: str('dataset'), taskId: str('task_key'), split: str('split') },
      sample: {
        id: num('sample_id'), runId: num('run_id'), sampleIndex: num('sample_index'), seed: num('seed'),
        program: str('sample_program'), modelSha256: opt('model_sha256'),
      },
      execution: r.execution_id === null
        ? null
        : { id: num('execution_id'), status: str('execution_status'), errorKind: opt('error_kind') },
      feedback: {
        id: num('feedback_id'), source: str('source') as FeedbackSource, author: str('author'),
        text: str('feedback_text'), createdAt: str('feedback_created_at'),
      },
      refinement: {
        id: num('refinement_id'), origin: str('origin') as 'model' | 'human', author: opt('refinement_author'),
        program: str('refinement_program'),
      },
      review: { id: num('review_id'), reviewer: str('reviewer'), decision: str('decision'), editedProgram: opt('edited_program') },
    };
  }
}
