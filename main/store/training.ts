import type { Database } from 'better-sqlite3';

/** Training runs of the LoRA trainer and the loss series they record. */

export type TrainingStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

export interface TrainingRunRow {
  id: number;
  trainingSetId: number;
  baseModelId: number;
  baseAdapterId: number | null;
  /** The trainer's JSON config, as it was given to the trainer; `dataReport` is added to it (see setDataReport). */
  config: Record<string, unknown>;
  status: TrainingStatus;
  checkpointDir: string | null;
  adapterPath: string | null;
  step: number;
  totalSteps: number | null;
  logTail: string;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface TrainingMetric {
  phase: 'train' | 'validation';
  step: number;
  epoch: number;
  loss: number;
  accuracy: number | null;
  tokensPerS: number | null;
}

interface RunDbRow {
  id: number; training_set_id: number; base_model_id: number; base_adapter_id: number | null; config: string; status: TrainingStatus;
  checkpoint_dir: string | null; adapter_path: string | null; step: number; total_steps: number | null; log_tail: string;
  error: string | null; created_at: string; started_at: string | null; finished_at: string | null;
}

const toRun = (r: RunDbRow): TrainingRunRow => ({
  id: r.id, trainingSetId: r.training_set_id, baseModelId: r.base_model_id, baseAdapterId: r.base_adapter_id,
  config: JSON.parse(r.config) as Record<string, unknown>, status: r.status, checkpointDir: r.checkpoint_dir, adapterPath: r.adapter_path,
  step: r.step, totalSteps: r.total_steps, logTail: r.log_tail, error: r.error, createdAt: r.created_at, startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const now = (): string => new Date().toISOString();

export class TrainingRuns {
  constructor(private readonly db: Database) {}

  /** A training set made from a JSONL file rather than from reviews: it records the file and its content hash. */
  createFileTrainingSet(name: string, sourcePath: string, sourceSha256: string): number {
    return Number(
      this.db.prepare('INSERT INTO training_sets (name, created_at, source_path, source_sha256) VALUES (?, ?, ?, ?)')
        .run(name, now(), sourcePath, sourceSha256).lastInsertRowid,
    );
  }

  trainingSet(id: number): { id: number; name: string; sourcePath: string | null; sourceSha256: string | null; examples: number } | undefined {
    const r = this.db
      .prepare<[number], { id: number; name: string; source_path: string | null; source_sha256: string | null; examples: number }>(
        `SELECT ts.id, ts.name, ts.source_path, ts.source_sha256,
                (SELECT COUNT(*) FROM training_examples te WHERE te.training_set_id = ts.id) AS examples
         FROM training_sets ts WHERE ts.id = ?`,
      )
      .get(id);
    return r && { id: r.id, name: r.name, sourcePath: r.source_path, sourceSha256: r.source_sha256, examples: r.examples };
  }

  trainingSets(): { id: number; name: string; sourcePath: string | null; sourceSha256: string | null; examples: number; createdAt: string }[] {
    return this.db
      .prepare<[], { id: number; name: string; source_path: string | null; source_sha256: string | null; examples: number; created_at: string }>(
        `SELECT ts.id, ts.name, ts.source_path, ts.source_sha256, ts.created_at,
                (SELECT COUNT(*) FROM training_examples te WHERE te.training_set_id = ts.id) AS examples
         FROM training_sets ts ORDER BY ts.id DESC`,
      )
      .all()
      .map((r) => ({ id: r.id, name: r.name, sourcePath: r.source_path, sourceSha256: r.source_sha256, examples: r.examples, createdAt: r.created_at }));
  }

  create(run: { trainingSetId: number; baseModelId: number; baseAdapterId?: number | null; config: Record<string, unknown>; checkpointDir: string; adapterPath: string }): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO training_runs (training_set_id, base_model_id, base_adapter_id, config, status, checkpoint_dir, adapter_path, created_at)
           VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)`,
        )
        .run(run.trainingSetId, run.baseModelId, run.baseAdapterId ?? null, JSON.stringify(run.config), run.checkpointDir, run.adapterPath, now())
        .lastInsertRowid,
    );
  }

  setPaths(id: number, checkpointDir: string, adapterPath: string): void {
    this.db.prepare('UPDATE training_runs SET checkpoint_dir = ?, adapter_path = ? WHERE id = ?').run(checkpointDir, adapterPath, id);
  }

  get(id: number): TrainingRunRow | undefined {
    const r = this.db.prepare<[number], RunDbRow>('SELECT * FROM training_runs WHERE id = ?').get(id);
    return r && toRun(r);
  }

  list(): TrainingRunRow[] {
    return this.db.prepare<[], RunDbRow>('SELECT * FROM training_runs ORDER BY id DESC').all().map(toRun);
  }

  markRunning(id: number, ownerPid: number): void {
    this.db
      .prepare(`UPDATE training_runs SET status = 'running', error = NULL, finished_at = NULL, started_at = COALESCE(started_at, ?), owner_pid = ? WHERE id = ?`)
      .run(now(), ownerPid, id);
  }

  /**
   * What the data came to (rows too long, length groups), merged into the run's config JSON under
   * `dataReport`: the run's record keeps it without a schema change.
   */
  setDataReport(id: number, report: Record<string, unknown>): void {
    this.db.prepare(`UPDATE training_runs SET config = json_set(config, '$.dataReport', json(?)) WHERE id = ?`).run(JSON.stringify(report), id);
  }

  setTotalSteps(id: number, totalSteps: number): void {
    this.db.prepare('UPDATE training_runs SET total_steps = ? WHERE id = ?').run(totalSteps, id);
  }

  /**
   * One step's figures. A resumed run repeats the steps after its last checkpoint; the repeat
   * replaces the first attempt, so the series never holds a step twice.
   */
  recordMetric(id: number, m: TrainingMetric): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT OR REPLACE INTO training_metrics (run_id, phase, step, epoch, loss, accuracy, tokens_per_s, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, m.phase, m.step, m.epoch, m.loss, m.accuracy, m.tokensPerS, now());
      if (m.phase === 'train') this.db.prepare('UPDATE training_runs SET step = ? WHERE id = ?').run(m.step, id);
    })();
  }

  metrics(id: number): TrainingMetric[] {
    return this.db
      .prepare<[number], { phase: 'train' | 'validation'; step: number; epoch: number; loss: number; accuracy: number | null; tokens_per_s: number | null }>(
        'SELECT phase, step, epoch, loss, accuracy, tokens_per_s FROM training_metrics WHERE run_id = ? ORDER BY step, phase',
      )
      .all(id)
      .map((r) => ({ phase: r.phase, step: r.step, epoch: r.epoch, loss: r.loss, accuracy: r.accuracy, tokensPerS: r.tokens_per_s }));
  }

  finish(id: number, status: Exclude<TrainingStatus, 'pending' | 'running'>, details: { error?: string | null; logTail?: string } = {}): void {
    this.db
      .prepare('UPDATE training_runs SET status = ?, error = ?, log_tail = COALESCE(?, log_tail), finished_at = ? WHERE id = ?')
      .run(status, details.error ?? null, details.logTail ?? null, now(), id);
    this.db.prepare('UPDATE training_runs SET owner_pid = NULL WHERE id = ?').run(id);
  }

  /**
   * At start-up: a run still marked running whose driving process is gone (the app or CLI crashed
   * or was killed) is interrupted; it can resume from its last checkpoint. Runs driven by another
   * live process (a CLI `ilf train` beside the app) are left alone. Returns the ids.
   */
  interruptOrphans(isAlive: (pid: number) => boolean): number[] {
    const orphans = this.db
      .prepare<[], { id: number; owner_pid: number | null }>(`SELECT id, owner_pid FROM training_runs WHERE status IN ('running', 'pending')`)
      .all()
      .filter((r) => r.owner_pid === null || r.owner_pid === process.pid || !isAlive(r.owner_pid))
      .map((r) => r.id);
    const mark = this.db.prepare(`UPDATE training_runs SET status = 'interrupted', finished_at = ?, owner_pid = NULL WHERE id = ?`);
    for (const id of orphans) mark.run(now(), id);
    return orphans;
  }
}
