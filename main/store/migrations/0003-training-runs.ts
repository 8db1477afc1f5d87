import type { Migration } from '../migration.js';

/**
 * What the LoRA trainer's job runner needs on top of the lineage tables: a training set can come
 * from a JSONL file (then it records that file and its sha256 instead of reviewed examples), and a
 * run records where its adapter goes, how far it got, which process drives it, and the token accuracy of each step.
 */
const SQL = /* sql */ `
ALTER TABLE training_sets ADD COLUMN source_path TEXT;
ALTER TABLE training_sets ADD COLUMN source_sha256 TEXT;
ALTER TABLE training_runs ADD COLUMN adapter_path TEXT;
ALTER TABLE training_runs ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE training_runs ADD COLUMN total_steps INTEGER;
ALTER TABLE training_runs ADD COLUMN owner_pid INTEGER;  -- the process driving the trainer while it runs
ALTER TABLE training_metrics ADD COLUMN accuracy REAL;
CREATE INDEX training_runs_status ON training_runs (status);
`;

export const trainingRuns: Migration = {
  version: 3,
  name: 'training-runs',
  up(db) {
    db.exec(SQL);
  },
};
