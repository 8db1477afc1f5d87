import type { Migration } from '../migration.js';

/**
 * The whole ILF lineage (DESIGN.md, "Lineage"):
 * task → sample → execution → feedback → refinement → execution → review → training example
 * → training run → adapter → evaluation. Every row says where it came from and who made it.
 * Times are ISO-8601 UTC text; JSON columns hold arrays/objects validated by the repositories.
 */
const SQL = /* sql */ `
CREATE TABLE datasets (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  format        TEXT NOT NULL CHECK (format IN ('mbpp', 'humaneval', 'jsonl')),
  source_path   TEXT NOT NULL,
  source_sha256 TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE tasks (
  id                 INTEGER PRIMARY KEY,
  dataset_id         INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  task_key           TEXT NOT NULL,             -- the dataset's own id: '11', 'HumanEval/0'
  ordinal            INTEGER NOT NULL,          -- position in the source file
  split              TEXT NOT NULL,
  text               TEXT NOT NULL,             -- the natural-language description
  code_prefix        TEXT,                      -- code a completion continues (HumanEval's prompt)
  entry_point        TEXT,
  example_test       TEXT,                      -- the test shown in the prompt
  tests              TEXT NOT NULL,             -- JSON array; all of them decide pass/fail
  setup_code         TEXT NOT NULL DEFAULT '',  -- runs after the program, before the tests
  challenge_tests    TEXT NOT NULL DEFAULT '[]',
  reference_solution TEXT,
  content_sha256     TEXT NOT NULL,
  created_at         TEXT NOT NULL,
  updated_at         TEXT NOT NULL,
  UNIQUE (dataset_id, task_key)
) STRICT;
CREATE INDEX tasks_by_split ON tasks (dataset_id, split, ordinal);

CREATE TABLE models (
  id                INTEGER PRIMARY KEY,
  name              TEXT NOT NULL,
  path              TEXT NOT NULL,
  sha256            TEXT NOT NULL UNIQUE,
  architecture      TEXT NOT NULL,
  quantization      TEXT NOT NULL,
  size_bytes        INTEGER NOT NULL,
  parameter_count   INTEGER,
  context_length    INTEGER,
  has_chat_template INTEGER NOT NULL DEFAULT 0 CHECK (has_chat_template IN (0, 1)),
  source            TEXT,                      -- the file or hf: reference it was added from
  added_at          TEXT NOT NULL
) STRICT;

-- Prompts repeat across the n samples of a task: stored once.
CREATE TABLE prompts (
  id     INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,
  text   TEXT NOT NULL
) STRICT;

CREATE TABLE sampling_runs (
  id            INTEGER PRIMARY KEY,
  kind          TEXT NOT NULL DEFAULT 'model' CHECK (kind IN ('model', 'import')),
  purpose       TEXT NOT NULL CHECK (purpose IN ('ilf', 'evaluation')),
  model_id      INTEGER REFERENCES models(id),
  adapter_id    INTEGER REFERENCES adapters(id),
  dataset_id    INTEGER NOT NULL REFERENCES datasets(id),
  split         TEXT NOT NULL,
  prompt_format TEXT NOT NULL CHECK (prompt_format IN ('completion', 'chat')),
  n             INTEGER NOT NULL CHECK (n > 0),
  temperature   REAL NOT NULL CHECK (temperature >= 0),
  top_p         REAL NOT NULL CHECK (top_p > 0 AND top_p <= 1),
  max_tokens    INTEGER NOT NULL CHECK (max_tokens > 0),
  stop          TEXT NOT NULL DEFAULT '[]',
  seed          INTEGER NOT NULL,
  params        TEXT NOT NULL DEFAULT '{}',
  status        TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'interrupted')),
  created_at    TEXT NOT NULL,
  finished_at   TEXT,
  CHECK (kind = 'import' OR model_id IS NOT NULL)
) STRICT;

CREATE TABLE samples (
  id                   INTEGER PRIMARY KEY,
  run_id               INTEGER NOT NULL REFERENCES sampling_runs(id) ON DELETE CASCADE,
  task_id              INTEGER NOT NULL REFERENCES tasks(id),
  sample_index         INTEGER NOT NULL,
  seed                 INTEGER NOT NULL,
  prompt_id            INTEGER NOT NULL REFERENCES prompts(id),
  completion           TEXT NOT NULL,
  program              TEXT NOT NULL,
  token_count          INTEGER,
  finish_reason        TEXT,
  -- verdict of the latest conclusive execution (a sandbox error is not a verdict); NULL = untested
  passed               INTEGER CHECK (passed IN (0, 1)),
  verdict_execution_id INTEGER REFERENCES executions(id),
  created_at           TEXT NOT NULL,
  UNIQUE (run_id, task_id, sample_index)
) STRICT;
CREATE INDEX samples_by_task_verdict ON samples (task_id, run_id, passed);
CREATE INDEX samples_failing ON samples (run_id, id) WHERE passed = 0;

-- One row per time a program was run; exactly one subject: a sample, a refinement, or a reviewer's edit.
CREATE TABLE executions (
  id                INTEGER PRIMARY KEY,
  sample_id         INTEGER REFERENCES samples(id) ON DELETE CASCADE,
  refinement_id     INTEGER REFERENCES refinements(id) ON DELETE CASCADE,
  review_id         INTEGER REFERENCES reviews(id) ON DELETE CASCADE,
  status            TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'sandbox_error')),
  error_kind        TEXT CHECK (error_kind IN ('syntax_error', 'runtime_error', 'assertion_failure', 'timeout',
                                               'memory_limit', 'output_limit', 'sandbox_error')),
  tests_passed      INTEGER NOT NULL DEFAULT 0,
  tests_total       INTEGER NOT NULL DEFAULT 0,
  test_results      TEXT NOT NULL DEFAULT '[]',  -- JSON: [{ index, outcome, expected, actual, message }]
  exception_type    TEXT,
  exception_message TEXT,
  traceback         TEXT,
  stdout            TEXT NOT NULL DEFAULT '',
  stderr            TEXT NOT NULL DEFAULT '',
  output_truncated  INTEGER NOT NULL DEFAULT 0 CHECK (output_truncated IN (0, 1)),
  duration_ms       REAL NOT NULL,
  backend           TEXT NOT NULL,
  created_at        TEXT NOT NULL,
  CHECK ((sample_id IS NOT NULL) + (refinement_id IS NOT NULL) + (review_id IS NOT NULL) = 1),
  CHECK ((status = 'passed') = (error_kind IS NULL))
) STRICT;
CREATE INDEX executions_by_sample ON executions (sample_id) WHERE sample_id IS NOT NULL;
CREATE INDEX executions_by_refinement ON executions (refinement_id) WHERE refinement_id IS NOT NULL;
CREATE INDEX executions_by_review ON executions (review_id) WHERE review_id IS NOT NULL;

CREATE TABLE feedback (
  id                        INTEGER PRIMARY KEY,
  sample_id                 INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  execution_id              INTEGER REFERENCES executions(id),  -- the failing run it responds to
  source                    TEXT NOT NULL CHECK (source IN ('human', 'execution', 'model', 'shuffled-control')),
  author                    TEXT NOT NULL,                      -- annotator name, or the generator's name
  model_id                  INTEGER REFERENCES models(id),      -- source = 'model'
  shuffled_from_feedback_id INTEGER REFERENCES feedback(id),    -- source = 'shuffled-control'
  text                      TEXT NOT NULL,
  created_at                TEXT NOT NULL,
  edited_at                 TEXT,
  CHECK (source <> 'model' OR model_id IS NOT NULL),
  CHECK (source <> 'shuffled-control' OR shuffled_from_feedback_id IS NOT NULL)
) STRICT;
CREATE INDEX feedback_by_sample ON feedback (sample_id);

CREATE TABLE refinements (
  id                 INTEGER PRIMARY KEY,
  feedback_id        INTEGER NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
  origin             TEXT NOT NULL CHECK (origin IN ('model', 'human')),
  refiner_model_id   INTEGER REFERENCES models(id),
  refiner_adapter_id INTEGER REFERENCES adapters(id),
  author             TEXT,                         -- origin = 'human'
  refinement_index   INTEGER NOT NULL DEFAULT 0,
  prompt_id          INTEGER REFERENCES prompts(id),
  completion         TEXT,
  program            TEXT NOT NULL,
  seed               INTEGER,
  params             TEXT NOT NULL DEFAULT '{}',
  passed             INTEGER CHECK (passed IN (0, 1)),
  created_at         TEXT NOT NULL,
  CHECK (origin = 'human' OR refiner_model_id IS NOT NULL),
  CHECK (origin = 'model' OR author IS NOT NULL)
) STRICT;
CREATE INDEX refinements_by_feedback ON refinements (feedback_id);

CREATE TABLE reviews (
  id             INTEGER PRIMARY KEY,
  refinement_id  INTEGER NOT NULL REFERENCES refinements(id) ON DELETE CASCADE,
  reviewer       TEXT NOT NULL,
  decision       TEXT NOT NULL CHECK (decision IN ('accepted', 'rejected')),
  edited_program TEXT,          -- what was accepted when the reviewer edited the refinement
  note           TEXT,
  created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX reviews_by_refinement ON reviews (refinement_id);

CREATE TABLE training_sets (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;

CREATE TABLE training_examples (
  id              INTEGER PRIMARY KEY,
  training_set_id INTEGER NOT NULL REFERENCES training_sets(id) ON DELETE CASCADE,
  review_id       INTEGER NOT NULL REFERENCES reviews(id),
  task_id         INTEGER NOT NULL REFERENCES tasks(id),
  prompt          TEXT NOT NULL,   -- the task's prompt, in the format used for sampling
  completion      TEXT NOT NULL,   -- the accepted (possibly edited) refinement
  UNIQUE (training_set_id, review_id)
) STRICT;

CREATE TABLE training_runs (
  id              INTEGER PRIMARY KEY,
  training_set_id INTEGER NOT NULL REFERENCES training_sets(id),
  base_model_id   INTEGER NOT NULL REFERENCES models(id),
  base_adapter_id INTEGER REFERENCES adapters(id),   -- a later round continues from an adapter
  config          TEXT NOT NULL,                     -- JSON: rank, alpha, lr, epochs, ...
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'interrupted')),
  checkpoint_dir  TEXT,
  log_tail        TEXT NOT NULL DEFAULT '',
  error           TEXT,
  created_at      TEXT NOT NULL,
  started_at      TEXT,
  finished_at     TEXT
) STRICT;

CREATE TABLE training_metrics (
  run_id       INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
  phase        TEXT NOT NULL CHECK (phase IN ('train', 'validation')),
  step         INTEGER NOT NULL,
  epoch        REAL NOT NULL,
  loss         REAL NOT NULL,
  tokens_per_s REAL,
  recorded_at  TEXT NOT NULL,
  PRIMARY KEY (run_id, phase, step)
) STRICT;

CREATE TABLE adapters (
  id              INTEGER PRIMARY KEY,
  base_model_id   INTEGER NOT NULL REFERENCES models(id),
  training_run_id INTEGER REFERENCES training_runs(id),
  name            TEXT NOT NULL,
  path            TEXT NOT NULL,
  sha256          TEXT NOT NULL UNIQUE,
  rank            INTEGER,
  alpha           REAL,
  created_at      TEXT NOT NULL
) STRICT;

CREATE TABLE evaluations (
  id               INTEGER PRIMARY KEY,
  model_id         INTEGER NOT NULL REFERENCES models(id),
  adapter_id       INTEGER REFERENCES adapters(id),
  sampling_run_id  INTEGER NOT NULL REFERENCES sampling_runs(id),
  dataset_id       INTEGER NOT NULL REFERENCES datasets(id),
  split            TEXT NOT NULL,
  n                INTEGER NOT NULL CHECK (n > 0),
  temperature      REAL NOT NULL,
  seed             INTEGER NOT NULL,
  pass_at_k        TEXT NOT NULL,  -- JSON: { "1": 0.26, "10": 0.51 }
  created_at       TEXT NOT NULL
) STRICT;

CREATE TABLE evaluation_tasks (
  evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
  task_id       INTEGER NOT NULL REFERENCES tasks(id),
  n             INTEGER NOT NULL,
  correct       INTEGER NOT NULL CHECK (correct >= 0 AND correct <= n),
  PRIMARY KEY (evaluation_id, task_id)
) STRICT;
`;

export const lineage: Migration = {
  version: 1,
  name: 'lineage',
  up(db) {
    db.exec(SQL);
  },
};
