import type { Database } from 'better-sqlite3';
import { openDatabase, withRelaxedSync, type OpenDatabaseOptions } from './database.js';
import { Catalog } from './catalog.js';
import { Runs } from './runs.js';
import { FeedbackLineage } from './feedback.js';
import { Models } from './models.js';
import { TrainingRuns } from './training.js';
import { Evaluations } from './evaluations.js';
import { PipelineRuns } from './pipeline.js';
import { schemaVersion } from './migration.js';

/** The app's one store: a SQLite file and the repositories over it. Owned by whoever opened it. */
export class Store implements Disposable {
  readonly catalog: Catalog;
  readonly runs: Runs;
  readonly lineage: FeedbackLineage;
  readonly models: Models;
  readonly training: TrainingRuns;
  readonly evaluations: Evaluations;
  readonly pipeline: PipelineRuns;
  private closed = false;

  private constructor(readonly db: Database, readonly file: string) {
    this.catalog = new Catalog(db);
    this.runs = new Runs(db);
    this.lineage = new FeedbackLineage(db);
    this.models = new Models(db);
    this.training = new TrainingRuns(db);
    this.evaluations = new Evaluations(db);
    this.pipeline = new PipelineRuns(db);
  }

  static open(file: string, options: OpenDatabaseOptions = {}): Store {
    return new Store(openDatabase(file, options), file);
  }

  get schemaVersion(): number {
    return schemaVersion(this.db);
  }

  /** All-or-nothing: a throw inside rolls every write back. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** For large batches of machine-made rows; see withRelaxedSync. */
  bulk<T>(fn: () => T): T {
    return withRelaxedSync(this.db, fn);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
