import type { Database } from 'better-sqlite3';

/** Evaluations: pass@k of a model (or model + adapter) on a split, and the per-task counts behind it. */

export interface NewEvaluation {
  modelId: number;
  adapterId: number | null;
  samplingRunId: number;
  datasetId: number;
  split: string;
  n: number;
  temperature: number;
  seed: number;
  passAtK: Record<string, number>;
  tasks: readonly { taskId: number; n: number; correct: number }[];
}

export interface EvaluationRow {
  id: number;
  modelId: number;
  adapterId: number | null;
  samplingRunId: number;
  dataset: string;
  split: string;
  n: number;
  temperature: number;
  seed: number;
  passAtK: Record<string, number>;
  createdAt: string;
}

export interface EvaluationTask {
  taskId: number;
  taskKey: string;
  n: number;
  correct: number;
}

interface DbRow {
  id: number; model_id: number; adapter_id: number | null; sampling_run_id: number; dataset: string; split: string; n: number;
  temperature: number; seed: number; pass_at_k: string; created_at: string;
}

const toRow = (r: DbRow): EvaluationRow => ({
  id: r.id, modelId: r.model_id, adapterId: r.adapter_id, samplingRunId: r.sampling_run_id, dataset: r.dataset, split: r.split, n: r.n,
  temperature: r.temperature, seed: r.seed, passAtK: JSON.parse(r.pass_at_k) as Record<string, number>, createdAt: r.created_at,
});

const selectSql = 'SELECT e.*, d.name AS dataset FROM evaluations e JOIN datasets d ON d.id = e.dataset_id';

export class Evaluations {
  constructor(private readonly db: Database) {}

  add(e: NewEvaluation): number {
    return this.db.transaction(() => {
      const id = Number(
        this.db
          .prepare(
            `INSERT INTO evaluations (model_id, adapter_id, sampling_run_id, dataset_id, split, n, temperature, seed, pass_at_k, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(e.modelId, e.adapterId, e.samplingRunId, e.datasetId, e.split, e.n, e.temperature, e.seed, JSON.stringify(e.passAtK), new Date().toISOString())
          .lastInsertRowid,
      );
      const insert = this.db.prepare('INSERT INTO evaluation_tasks (evaluation_id, task_id, n, correct) VALUES (?, ?, ?, ?)');
      for (const t of e.tasks) insert.run(id, t.taskId, t.n, t.correct);
      return id;
    })();
  }

  get(id: number): EvaluationRow | undefined {
    const r = this.db.prepare<[number], DbRow>(`${selectSql} WHERE e.id = ?`).get(id);
    return r && toRow(r);
  }

  bySamplingRun(samplingRunId: number): EvaluationRow | undefined {
    const r = this.db.prepare<[number], DbRow>(`${selectSql} WHERE e.sampling_run_id = ?`).get(samplingRunId);
    return r && toRow(r);
  }

  list(): EvaluationRow[] {
    return this.db.prepare<[], DbRow>(`${selectSql} ORDER BY e.id`).all().map(toRow);
  }

  tasks(id: number): EvaluationTask[] {
    return this.db
      .prepare<[number], { task_id: number; task_key: string; n: number; correct: number }>(
        `SELECT et.task_id, t.task_key, et.n, et.correct FROM evaluation_tasks et JOIN tasks t ON t.id = et.task_id
         WHERE et.evaluation_id = ? ORDER BY t.ordinal`,
      )
      .all(id)
      .map((r) => ({ taskId: r.task_id, taskKey: r.task_key, n: r.n, correct: r.correct }));
  }
}
