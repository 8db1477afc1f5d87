import type { Database } from 'better-sqlite3';

/** Rounds of the ILF loop and how far each got (see migrations/0004-pipeline-runs.ts). */

export const PIPELINE_STEPS = ['sample', 'test', 'feedback', 'refine', 'review', 'train', 'evaluate', 'done'] as const;
export type PipelineStep = (typeof PIPELINE_STEPS)[number];
export type PipelineStatus = 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled';

export interface PipelineArtifacts {
  samplingRunId: number | null;
  trainingSetId: number | null;
  trainingRunId: number | null;
  resultAdapterId: number | null;
  evalBeforeRun: number | null;
  evalAfterRun: number | null;
  evalBeforeId: number | null;
  evalAfterId: number | null;
}

export interface PipelineRow extends PipelineArtifacts {
  id: number;
  round: number;
  previousId: number | null;
  modelId: number;
  adapterId: number | null;
  config: Record<string, unknown>;
  step: PipelineStep;
  status: PipelineStatus;
  message: string | null;
  createdAt: string;
  updatedAt: string;
}

interface DbRow {
  id: number; round: number; previous_id: number | null; model_id: number; adapter_id: number | null; config: string; step: PipelineStep;
  status: PipelineStatus; message: string | null; sampling_run_id: number | null; training_set_id: number | null; training_run_id: number | null;
  result_adapter_id: number | null; eval_before_run: number | null; eval_after_run: number | null; eval_before_id: number | null;
  eval_after_id: number | null; created_at: string; updated_at: string;
}

const COLUMNS: Record<keyof PipelineArtifacts, string> = {
  samplingRunId: 'sampling_run_id', trainingSetId: 'training_set_id', trainingRunId: 'training_run_id', resultAdapterId: 'result_adapter_id',
  evalBeforeRun: 'eval_before_run', evalAfterRun: 'eval_after_run', evalBeforeId: 'eval_before_id', evalAfterId: 'eval_after_id',
};

const now = (): string => new Date().toISOString();

export class PipelineRuns {
  constructor(private readonly db: Database) {}

  create(p: { modelId: number; adapterId: number | null; config: Record<string, unknown>; previousId?: number | null; round?: number }): number {
    const t = now();
    return Number(
      this.db
        .prepare(`INSERT INTO pipeline_runs (round, previous_id, model_id, adapter_id, config, step, status, created_at, updated_at)
                  VALUES (?, ?, ?, ?, ?, 'sample', 'running', ?, ?)`)
        .run(p.round ?? 1, p.previousId ?? null, p.modelId, p.adapterId, JSON.stringify(p.config), t, t).lastInsertRowid,
    );
  }

  get(id: number): PipelineRow | undefined {
    const r = this.db.prepare<[number], DbRow>('SELECT * FROM pipeline_runs WHERE id = ?').get(id);
    return r && {
      id: r.id, round: r.round, previousId: r.previous_id, modelId: r.model_id, adapterId: r.adapter_id, config: JSON.parse(r.config) as Record<string, unknown>,
      step: r.step, status: r.status, message: r.message, samplingRunId: r.sampling_run_id, trainingSetId: r.training_set_id,
      trainingRunId: r.training_run_id, resultAdapterId: r.result_adapter_id, evalBeforeRun: r.eval_before_run, evalAfterRun: r.eval_after_run,
      evalBeforeId: r.eval_before_id, evalAfterId: r.eval_after_id, createdAt: r.created_at, updatedAt: r.updated_at,
    };
  }

  list(): PipelineRow[] {
    return this.db.prepare<[], { id: number }>('SELECT id FROM pipeline_runs ORDER BY id').all().flatMap((r) => this.get(r.id) ?? []);
  }

  /** Records what a step made, as soon as it exists, so a restart finds it. */
  setArtifact(id: number, key: keyof PipelineArtifacts, value: number): void {
    const column = COLUMNS[key];
    const setSql = `UPDATE pipeline_runs SET ${column} = ?, updated_at = ? WHERE id = ?`;
    this.db.prepare(setSql).run(value, now(), id);
  }

  setState(id: number, state: { step?: PipelineStep; status: PipelineStatus; message?: string | null }): void {
    this.db.prepare('UPDATE pipeline_runs SET step = COALESCE(?, step), status = ?, message = ?, owner_pid = ?, updated_at = ? WHERE id = ?')
      .run(state.step ?? null, state.status, state.message ?? null, state.status === 'running' ? process.pid : null, now(), id);
  }

  /** Rounds left `running` by a process that is gone: cancelled, with a note that resume continues them. */
  interruptOrphans(isAlive: (pid: number) => boolean): number[] {
    const orphans = this.db.prepare<[], { id: number; owner_pid: number | null }>(`SELECT id, owner_pid FROM pipeline_runs WHERE status = 'running'`).all()
      .filter((r) => r.owner_pid === null || !isAlive(r.owner_pid)).map((r) => r.id);
    for (const id of orphans) this.setState(id, { status: 'cancelled', message: 'interrupted: the process running it stopped; resume to continue' });
    return orphans;
  }
}
