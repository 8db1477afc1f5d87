import type { Migration } from '../migration.js';

/**
 * The ILF loop as a resumable job: one row per round, with the step it is at and the ids of what
 * each step made, so a restart continues where the last process stopped. A round improves
 * `model_id` (+ `adapter_id` from the previous round).
 */
const SQL = /* sql */ `
CREATE TABLE pipeline_runs (
  id                INTEGER PRIMARY KEY,
  round             INTEGER NOT NULL CHECK (round >= 1),
  previous_id       INTEGER REFERENCES pipeline_runs(id),
  model_id          INTEGER NOT NULL REFERENCES models(id),
  adapter_id        INTEGER REFERENCES adapters(id),
  config            TEXT NOT NULL,
  step              TEXT NOT NULL CHECK (step IN ('sample', 'test', 'feedback', 'refine', 'review', 'train', 'evaluate', 'done')),
  status            TEXT NOT NULL CHECK (status IN ('running', 'waiting', 'completed', 'failed', 'cancelled')),
  message           TEXT,
  owner_pid         INTEGER,  -- the process running it while status = 'running'
  sampling_run_id   INTEGER REFERENCES sampling_runs(id),
  training_set_id   INTEGER REFERENCES training_sets(id),
  training_run_id   INTEGER REFERENCES training_runs(id),
  result_adapter_id INTEGER REFERENCES adapters(id),
  eval_before_run   INTEGER REFERENCES sampling_runs(id),
  eval_after_run    INTEGER REFERENCES sampling_runs(id),
  eval_before_id    INTEGER REFERENCES evaluations(id),
  eval_after_id     INTEGER REFERENCES evaluations(id),
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL
) STRICT;
`;

export const pipelineRuns: Migration = {
  version: 4,
  name: 'pipeline-runs',
  up(db) {
    db.exec(SQL);
  },
};
