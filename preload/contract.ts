/**
 * The contract between the renderer and main: every request and every event, with runtime schemas.
 * This is the only place a channel is named. Main's handlers, the preload bridge and the renderer's
 * client are all typed from these two maps; main validates every payload against them.
 * Web-safe: imported by the renderer bundle, so nothing here may touch Node.
 */
import { z } from 'zod';

// ---------- shared shapes ----------

export const DATASET_FORMATS = ['mbpp', 'humaneval', 'jsonl'] as const;
export const DatasetFormat = z.enum(DATASET_FORMATS);
export type DatasetFormat = z.infer<typeof DatasetFormat>;

/** Lower-case name: the ILF splits are prompt, test, refine, train; custom datasets may add more. */
export const SplitName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a split is lower-case letters, digits, _ or -');

export const DatasetSummary = z.object({
  name: z.string(),
  format: DatasetFormat,
  sourcePath: z.string(),
  taskCount: z.number().int(),
  splits: z.record(z.string(), z.number().int()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DatasetSummary = z.infer<typeof DatasetSummary>;

export const TaskSummary = z.object({
  dataset: z.string(),
  taskId: z.string(),
  split: z.string(),
  text: z.string(),
  testCount: z.number().int(),
});
export type TaskSummary = z.infer<typeof TaskSummary>;

export const TaskDetail = TaskSummary.extend({
  codePrefix: z.string().nullable(),
  entryPoint: z.string().nullable(),
  exampleTest: z.string().nullable(),
  tests: z.array(z.string()),
  setupCode: z.string(),
  challengeTests: z.array(z.string()),
  referenceSolution: z.string().nullable(),
  prompt: z.string(),
});
export type TaskDetail = z.infer<typeof TaskDetail>;

export const ImportReport = z.object({
  dataset: z.string(),
  format: DatasetFormat,
  linesRead: z.number().int(),
  added: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  /** In the database but no longer in the file: kept, since samples may refer to them. */
  notInFile: z.number().int(),
  splits: z.record(z.string(), z.number().int()),
});
export type ImportReport = z.infer<typeof ImportReport>;

export const ERROR_KINDS = [
  'syntax_error', 'runtime_error', 'assertion_failure', 'timeout', 'memory_limit', 'output_limit', 'sandbox_error',
  'not_plain_data', 'broke_sandbox',
] as const;
/**
 * Why a program did not pass. `sandbox_error` is the infrastructure's fault, never the program's.
 * `not_plain_data`: a test compared, truth-tested or hashed a program value that is not plain data
 * (a class instance, a generator), or one beyond the size caps. `broke_sandbox`: the program made
 * the sandbox fail twice, on fresh workers, while a canary program ran fine: the program's doing.
 */
export const ErrorKind = z.enum(ERROR_KINDS);
export type ErrorKind = z.infer<typeof ErrorKind>;

export const TestOutcome = z.enum(['passed', 'assertion_failed', 'error', 'timeout', 'not_run']);
export type TestOutcome = z.infer<typeof TestOutcome>;

/** One test of one execution; expected/actual are Python reprs (capped) for `assert a == b` tests. */
export const TestResult = z.object({
  index: z.number().int().min(0),
  outcome: TestOutcome,
  expected: z.string().nullable().optional(),
  actual: z.string().nullable().optional(),
  message: z.string().nullable().optional(),
});
export type TestResult = z.infer<typeof TestResult>;

export const SANDBOX_BACKENDS = ['bwrap', 'docker'] as const;
export const SandboxBackendName = z.enum(SANDBOX_BACKENDS);
export type SandboxBackendName = z.infer<typeof SandboxBackendName>;

export const JUDGE_MODES = ['separate-process', 'in-process'] as const;
export const JudgeMode = z.enum(JUDGE_MODES);
export type JudgeMode = z.infer<typeof JudgeMode>;

/** What running one program against its tests gives: from the sandbox, into the store, to the screens. */
export const ExecutionResult = z.object({
  status: z.enum(['passed', 'failed', 'sandbox_error']),
  errorKind: ErrorKind.nullable(),
  testResults: z.array(TestResult),
  exceptionType: z.string().nullable().optional(),
  exceptionMessage: z.string().nullable().optional(),
  /** Trimmed to the program's, the setup code's and the tests' own frames. */
  traceback: z.string().nullable().optional(),
  stdout: z.string(),
  stderr: z.string(),
  outputTruncated: z.boolean(),
  durationMs: z.number(),
  backend: z.string(),
  /**
   * Which mode judged it: `separate-process` (tests in a trusted harness, the program's values
   * rebuilt as builtins) or `in-process` (the fallback when a test hands the program something
   * that cannot cross, e.g. a lambda). Absent on results recorded before judge modes existed.
   */
  judge: JudgeMode.nullable().optional(),
});
export type ExecutionResult = z.infer<typeof ExecutionResult>;

export const FailureItem = z.object({
  sampleId: z.number().int(),
  runId: z.number().int(),
  dataset: z.string(),
  taskId: z.string(),
  split: z.string(),
  sampleIndex: z.number().int(),
  errorKind: ErrorKind.nullable(),
  testsPassed: z.number().int(),
  testsTotal: z.number().int(),
  feedbackCount: z.number().int(),
  /** The task has a passing sample in this run: not an ILF candidate (shown only when asked for). */
  taskSolved: z.boolean(),
  createdAt: z.string(),
});
export type FailureItem = z.infer<typeof FailureItem>;

/** Everything the Annotate screen shows about one failing sample. */
export const FailureDetail = z.object({
  sampleId: z.number().int(),
  runId: z.number().int(),
  dataset: z.string(),
  taskId: z.string(),
  split: z.string(),
  text: z.string(),
  program: z.string(),
  tests: z.array(z.string()),
  execution: ExecutionResult,
  /** The program's line (1-based) the failure points at, from the traceback; null when it does not say. */
  failingLine: z.number().int().nullable(),
  feedback: z.array(z.object({
    id: z.number().int(), source: z.string(), author: z.string(), text: z.string(), version: z.string(), createdAt: z.string(),
  })),
});
export type FailureDetail = z.infer<typeof FailureDetail>;

export const AppInfo = z.object({
  version: z.string(),
  dataDir: z.string(),
  databaseFile: z.string(),
  schemaVersion: z.number().int(),
});
export type AppInfo = z.infer<typeof AppInfo>;

/** Errors cross the bridge as data, never as thrown strings. */
export const WireError = z.object({
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  details: z.array(z.string()).optional(),
});
export type WireError = z.infer<typeof WireError>;

export type Envelope<T> = { ok: true; value: T } | { ok: false; error: WireError };

export const ModelInfo = z.object({
  id: z.number().int(),
  name: z.string(),
  path: z.string(),
  sha256: z.string(),
  architecture: z.string(),
  quantization: z.string(),
  sizeBytes: z.number(),
  parameterCount: z.number().nullable(),
  contextLength: z.number().nullable(),
  hasChatTemplate: z.boolean(),
  /** The LoRA trainer can train this model (architecture and weight type; see main/models/support.ts). */
  trainable: z.boolean(),
  /** What the app can do with it, and why not train when it cannot: "sample, chat, refine, evaluate, train". */
  support: z.string(),
  addedAt: z.string(),
  /** A local GGUF file, or an OpenAI-compatible endpoint (then `path` is its base URL). */
  kind: z.enum(['gguf', 'endpoint']).default('gguf'),
  /** How to reach an endpoint; the API key itself is never stored or sent here, only its variable's name. */
  endpoint: z.object({
    url: z.string(),
    servedModel: z.string(),
    apiKeyEnv: z.string().nullable(),
    maxConcurrency: z.number().int(),
    nPerRequest: z.boolean(),
    servesModelId: z.number().int().nullable(),
  }).nullable().default(null),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const AdapterInfo = z.object({
  id: z.number().int(),
  baseModelId: z.number().int(),
  name: z.string(),
  path: z.string(),
  sha256: z.string(),
  rank: z.number().nullable(),
  alpha: z.number().nullable(),
  createdAt: z.string(),
});
export type AdapterInfo = z.infer<typeof AdapterInfo>;

export const ComputeBackendName = z.enum(['auto', 'cuda', 'vulkan', 'metal', 'cpu']);

/** The LoRA trainer's compute backends (its llama.cpp fork has no CUDA build: NVIDIA GPUs train through Vulkan). */
export const TrainingBackendName = z.enum(['vulkan', 'metal', 'rocm', 'cpu']);
export type TrainingBackendName = z.infer<typeof TrainingBackendName>;

export const TrainingCompute = z.object({
  /** Where training will run here; null when the trainer is not built. */
  backend: TrainingBackendName.nullable(),
  /** The devices it will train on ("Vulkan0: NVIDIA GeForce RTX 4090"), from the trainer itself. */
  devices: z.array(z.string()),
  /** What the fork ships for this OS, preferred first. */
  shipped: z.array(TrainingBackendName),
  /** One plain sentence for the hardware screen and `ilf hardware`. */
  summary: z.string(),
});
export type TrainingCompute = z.infer<typeof TrainingCompute>;

export const HardwareReport = z.object({
  /** `${process.platform}-${process.arch}` of the machine that samples and trains. */
  platform: z.string(),
  /** Sampling (node-llama-cpp). */
  backend: ComputeBackendName,
  requested: ComputeBackendName,
  available: z.array(ComputeBackendName),
  devices: z.array(z.string()),
  vram: z.object({ totalBytes: z.number(), freeBytes: z.number() }).nullable(),
  cpu: z.object({ model: z.string(), logicalCores: z.number().int(), physicalCores: z.number().int() }),
  threads: z.number().int(),
  ramBytes: z.object({ total: z.number(), free: z.number() }),
  /** LoRA training (the native trainer). */
  training: TrainingCompute,
  warnings: z.array(z.string()),
});
export type HardwareReport = z.infer<typeof HardwareReport>;

export const RecommendedModel = z.object({
  name: z.string(),
  ref: z.string(),
  sizeBytes: z.number(),
  /** null: unpinned (no published hash to check the download against). */
  sha256: z.string().nullable(),
  licence: z.string(),
  quantization: z.string(),
  format: z.enum(['completion', 'chat']),
  trainable: z.boolean(),
  note: z.string(),
});

// ---------- LoRA training ----------

export const LORA_TARGET_MODULES = ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'ffn_gate', 'ffn_up', 'ffn_down', 'output'] as const;

/**
 * The trainer's configuration; every field has a default. The same JSON goes to the native
 * trainer, which checks it again. `batchSize` examples are packed into one context per optimizer
 * step (later examples then see earlier ones, as in packed fine-tuning); 1 keeps them apart.
 */
export const TrainingConfig = z.object({
  rank: z.number().int().min(1, 'rank must be at least 1').max(1024, 'rank must be at most 1024').default(8),
  alpha: z.number().positive('alpha must be greater than 0').default(16),
  targetModules: z.array(z.enum(LORA_TARGET_MODULES)).min(1, 'choose at least one target module')
    .default(['attn_q', 'attn_k', 'attn_v', 'attn_o', 'ffn_gate', 'ffn_up', 'ffn_down']),
  learningRate: z.number().positive('the learning rate must be greater than 0').max(1, 'the learning rate must be at most 1').default(2e-4),
  lrSchedule: z.enum(['linear', 'constant']).default('linear'),
  weightDecay: z.number().min(0).default(0),
  epochs: z.number().int().min(1, 'epochs must be at least 1').max(10_000).default(3),
  batchSize: z.number().int().min(1).max(256).default(1),
  /** Most tokens one row may have (capped by the model's own context); the trainer sizes its contexts from the data below it. */
  contextSize: z.number().int().min(16, 'contextSize must be at least 16 tokens').max(131_072).default(1024),
  /** Rows grouped by length, each group trained in a context sized to its longest row; 1 = one context for all. */
  lengthGroups: z.number().int().min(1, 'lengthGroups must be at least 1').max(64, 'lengthGroups must be at most 64').default(6),
  validationFraction: z.number().min(0).max(0.5, 'validationFraction must be at most 0.5').default(0.1),
  seed: z.number().int().min(0).max(0xffffffff).default(42),
  /** CPU threads; 0 = the machine's physical cores. */
  threads: z.number().int().min(0).max(1024).default(0),
  /** Optimizer steps between checkpoints (0 = only at epoch ends and on stop). */
  checkpointEvery: z.number().int().min(0).default(50),
  /** Layers on the GPU; -1 = all of them when there is a GPU. */
  gpuLayers: z.number().int().min(-1).default(-1),
});
export type TrainingConfig = z.infer<typeof TrainingConfig>;

export const TRAINING_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'interrupted'] as const;

/** What a run's data came to: rows too long for the context (left out, named), and the trainer's length groups. */
export const TrainingDataReport = z.object({
  /** Most tokens one row may have: contextSize, or the model's own context if smaller. */
  limit: z.number().int(),
  tooLong: z.object({ count: z.number().int(), rows: z.array(z.object({ ref: z.string(), tokens: z.number().int() })) }),
  /** Known once the trainer starts. */
  groups: z.array(z.object({ context: z.number().int(), examples: z.number().int() })).optional(),
  usefulTokensPerEpoch: z.number().optional(),
  computedTokensPerEpoch: z.number().optional(),
});
export type TrainingDataReport = z.infer<typeof TrainingDataReport>;

export const TrainingRunInfo = z.object({
  id: z.number().int(),
  trainingSetId: z.number().int(),
  baseModelId: z.number().int(),
  baseAdapterId: z.number().int().nullable(),
  adapterId: z.number().int().nullable(),
  config: z.record(z.string(), z.unknown()),
  status: z.enum(TRAINING_STATUSES),
  step: z.number().int(),
  totalSteps: z.number().int().nullable(),
  error: z.string().nullable(),
  logTail: z.string(),
  dataReport: TrainingDataReport.nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type TrainingRunInfo = z.infer<typeof TrainingRunInfo>;

export const TrainingMetricPoint = z.object({
  phase: z.enum(['train', 'validation']),
  step: z.number().int(),
  epoch: z.number(),
  loss: z.number(),
  accuracy: z.number().nullable(),
  tokensPerS: z.number().nullable(),
});

export const TrainingSetInfo = z.object({
  id: z.number().int(),
  name: z.string(),
  examples: z.number().int(),
  /** A set made from a JSONL file rather than from reviews. */
  sourcePath: z.string().nullable(),
  createdAt: z.string(),
});
export type TrainingSetInfo = z.infer<typeof TrainingSetInfo>;

/** One training row and where it came from. */
export const TrainingRowInfo = z.object({
  exampleId: z.number().int(),
  prompt: z.string(),
  completion: z.string(),
  lineage: z.object({
    taskId: z.string(), dataset: z.string(), sampleId: z.number().int(), feedbackId: z.number().int(), feedbackAuthor: z.string(),
    refinementId: z.number().int(), reviewId: z.number().int(),
  }),
});

/** One progress message of a running training job (throttled for the renderer). */
export const TrainingProgress = z.object({
  runId: z.number().int(),
  status: z.enum(TRAINING_STATUSES),
  step: z.number().int(),
  totalSteps: z.number().int().nullable(),
  epoch: z.number(),
  loss: z.number().nullable(),
  validationLoss: z.number().nullable(),
  /** Useful tokens/s: the rows' own tokens. */
  tokensPerS: z.number().nullable(),
  /** Computed tokens/s: padding included. */
  computedTokensPerS: z.number().nullable(),
  etaS: z.number().nullable(),
});
export type TrainingProgress = z.infer<typeof TrainingProgress>;

// ---------- the ILF loop ----------

/** One round of ILF; the defaults are the paper's where it has one, smaller where it is about patience. */
export const IlfRunConfig = z.object({
  dataset: z.string().min(1),
  /** Where failures are collected (paper: MBPP train, tasks 311–974). */
  split: z.string().default('train'),
  /** Held out for pass@k (paper: MBPP test, tasks 11–110). */
  evalSplit: z.string().default('test'),
  limit: z.number().int().min(1).optional(),
  evalLimit: z.number().int().min(1).optional(),
  n: z.number().int().min(1).max(1000).default(30),
  temperature: z.number().min(0).max(5).default(0.8),
  topP: z.number().gt(0).max(1).default(0.95),
  maxTokens: z.number().int().min(1).max(8192).default(300),
  seed: z.number().int().min(0).default(1),
  promptFormat: z.enum(['completion', 'chat']).default('completion'),
  /** human: the loop waits at the feedback step until people have written feedback. */
  feedbackSource: z.enum(['human', 'execution', 'model', 'shuffled-control']).default('human'),
  criticModelId: z.number().int().positive().optional(),
  /** Refinements per feedback. */
  k: z.number().int().min(1).max(64).default(4),
  refineTemperature: z.number().min(0).max(5).default(0.8),
  fewShot: z.number().int().min(0).max(8).default(0),
  /** human: the loop waits at the review step until people have accepted refinements; auto: every passing refinement is accepted. */
  review: z.enum(['human', 'auto']).default('human'),
  training: TrainingConfig.partial().default({}),
  evalN: z.number().int().min(1).max(1000).default(10),
  evalTemperature: z.number().min(0).max(5).default(0.8),
  ks: z.array(z.number().int().min(1)).default([1, 10]),
});
export type IlfRunConfig = z.infer<typeof IlfRunConfig>;

export const PIPELINE_STEP_NAMES = ['sample', 'test', 'feedback', 'refine', 'review', 'train', 'evaluate', 'done'] as const;

export const PipelineInfo = z.object({
  id: z.number().int(),
  round: z.number().int(),
  previousId: z.number().int().nullable(),
  modelId: z.number().int(),
  adapterId: z.number().int().nullable(),
  config: z.record(z.string(), z.unknown()),
  step: z.enum(PIPELINE_STEP_NAMES),
  status: z.enum(['running', 'waiting', 'completed', 'failed', 'cancelled']),
  message: z.string().nullable(),
  samplingRunId: z.number().int().nullable(),
  trainingSetId: z.number().int().nullable(),
  trainingRunId: z.number().int().nullable(),
  resultAdapterId: z.number().int().nullable(),
  evalBeforeRun: z.number().int().nullable(),
  evalAfterRun: z.number().int().nullable(),
  evalBeforeId: z.number().int().nullable(),
  evalAfterId: z.number().int().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type PipelineInfo = z.infer<typeof PipelineInfo>;

export const ComparisonInfo = z.object({
  k: z.number().int(),
  before: z.number(),
  after: z.number(),
  difference: z.object({ mean: z.number(), low: z.number(), high: z.number(), confidence: z.number(), resamples: z.number().int() }),
  tasks: z.array(z.object({ taskKey: z.string(), before: z.number(), after: z.number() })),
});
export type ComparisonInfo = z.infer<typeof ComparisonInfo>;

export const EvaluationInfo = z.object({
  id: z.number().int(),
  modelId: z.number().int(),
  adapterId: z.number().int().nullable(),
  samplingRunId: z.number().int(),
  dataset: z.string(),
  split: z.string(),
  n: z.number().int(),
  temperature: z.number(),
  seed: z.number().int(),
  passAtK: z.record(z.string(), z.number()),
  createdAt: z.string(),
});

/** A refinement and what it refines, for the Review screen. */
export const RefinementItem = z.object({
  refinementId: z.number().int(),
  feedbackId: z.number().int(),
  sampleId: z.number().int(),
  dataset: z.string(),
  taskId: z.string(),
  text: z.string(),
  original: z.string(),
  program: z.string(),
  origin: z.enum(['model', 'human']),
  feedback: z.object({ source: z.string(), author: z.string(), text: z.string() }),
  passed: z.boolean().nullable(),
  execution: ExecutionResult.nullable(),
  tests: z.array(z.string()),
  review: z.object({ reviewer: z.string(), decision: z.enum(['accepted', 'rejected']), editedProgram: z.string().nullable() }).nullable(),
});
export type RefinementItem = z.infer<typeof RefinementItem>;

/** Everything that happened to one task: sampling runs with their pass counts, feedback, refinements and reviews. */
export const TaskHistory = z.object({
  dataset: z.string(),
  taskId: z.string(),
  text: z.string(),
  runs: z.array(z.object({
    runId: z.number().int(), purpose: z.enum(['ilf', 'evaluation']), modelId: z.number().int().nullable(), adapterId: z.number().int().nullable(),
    samples: z.number().int(), passed: z.number().int(), createdAt: z.string(),
  })),
  feedback: z.array(z.object({ id: z.number().int(), sampleId: z.number().int(), source: z.string(), author: z.string(), text: z.string() })),
  refinements: z.array(z.object({
    id: z.number().int(), feedbackId: z.number().int(), origin: z.enum(['model', 'human']), passed: z.boolean().nullable(), decision: z.enum(['accepted', 'rejected']).nullable(),
  })),
});
export type TaskHistory = z.infer<typeof TaskHistory>;

const ExportFileName = z.string().regex(/^(?!\.)[\w.-]{1,200}$/, 'give a file name only (letters, digits, . _ -), not a path');

const AuthorName = z.string().trim().min(1, 'give your name: it is recorded as the author').max(100);

// ---------- requests: renderer → main, one answer each ----------

const TaskQuery = z.object({
  dataset: z.string().optional(),
  split: SplitName.optional(),
  search: z.string().max(200).optional(),
  offset: z.number().int().min(0).default(0),
  limit: z.number().int().min(1).max(1000).default(100),
});

export const requests = {
  'app.info': { input: z.undefined(), output: AppInfo },
  'datasets.list': { input: z.undefined(), output: z.array(DatasetSummary) },
  'datasets.import': {
    input: z.object({
      file: z.string().min(1),
      format: DatasetFormat,
      name: z.string().min(1).max(100).optional(),
      defaultSplit: SplitName.optional(),
    }),
    output: ImportReport,
  },
  'tasks.list': {
    input: TaskQuery,
    output: z.object({ total: z.number().int(), tasks: z.array(TaskSummary) }),
  },
  'tasks.history': { input: z.object({ dataset: z.string(), taskId: z.string() }), output: TaskHistory },
  'tasks.get': {
    input: z.object({ dataset: z.string(), taskId: z.string() }),
    output: TaskDetail,
  },
  'models.list': { input: z.undefined(), output: z.object({ models: z.array(ModelInfo), adapters: z.array(AdapterInfo) }) },
  'models.add': {
    input: z.object({ file: z.string().min(1), name: z.string().min(1).max(200).optional() }),
    output: z.object({ model: ModelInfo, created: z.boolean() }),
  },
  /** Registers an OpenAI-compatible endpoint (llama-server, vLLM, Ollama, LM Studio) as a model; the server must list the model. */
  'models.addEndpoint': {
    input: z.object({
      url: z.string().trim().min(1).max(2000),
      servedModel: z.string().trim().min(1).max(500),
      apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'give the name of an environment variable, not the key').max(200).optional(),
      maxConcurrency: z.number().int().min(1).max(1024).optional(),
      nPerRequest: z.boolean().optional(),
      servesModelId: z.number().int().positive().optional(),
      name: z.string().min(1).max(200).optional(),
    }),
    output: z.object({ model: ModelInfo, created: z.boolean() }),
  },
  'models.recommended': { input: z.undefined(), output: z.array(RecommendedModel) },
  /** Starts downloading a model (hf:OWNER/REPO/FILE.gguf or a URL) in the background; download.progress reports it. */
  'models.download': {
    input: z.object({ ref: z.string().trim().min(1).max(2000), sha256: z.string().regex(/^[0-9a-f]{64}$/i).optional() }),
    output: z.object({ downloadId: z.number().int() }),
  },
  'models.downloadCancel': { input: z.object({ downloadId: z.number().int().positive() }), output: z.object({ cancelled: z.boolean() }) },
  'hardware.detect': { input: z.undefined(), output: HardwareReport },
  /** The failures inbox: failing samples of tasks with no passing sample, newest first, keyset-paged. */
  'failures.list': {
    input: z.object({
      runId: z.number().int().positive().optional(),
      dataset: z.string().optional(),
      split: SplitName.optional(),
      beforeSampleId: z.number().int().positive().optional(),
      includeSolved: z.boolean().optional(),
      limit: z.number().int().min(1).max(500).default(50),
    }),
    output: z.array(FailureItem),
  },
  'failures.get': { input: z.object({ sampleId: z.number().int().positive() }), output: FailureDetail },
  /** Starts a LoRA fine-tune of a model on a training set in a child process; answers once it is under way. */
  'training.start': {
    input: z.object({
      modelId: z.number().int().positive(),
      trainingSetId: z.number().int().positive(),
      config: TrainingConfig.prefault({}),
    }),
    output: TrainingRunInfo,
  },
  /** Graceful stop: the trainer finishes its batch and writes a checkpoint and a usable adapter. */
  'training.stop': { input: z.object({ runId: z.number().int().positive() }), output: TrainingRunInfo },
  /** Continues an interrupted, stopped or failed run from its last checkpoint. */
  'training.resume': { input: z.object({ runId: z.number().int().positive() }), output: TrainingRunInfo },
  'training.list': { input: z.undefined(), output: z.array(TrainingRunInfo) },
  'trainingSets.list': { input: z.undefined(), output: z.array(TrainingSetInfo) },
  /** A training set from every accepted refinement not in one yet (optionally of one sampling run). */
  'trainingSets.build': {
    input: z.object({ name: z.string().trim().min(1).max(200), samplingRunId: z.number().int().positive().optional() }),
    output: TrainingSetInfo,
  },
  'trainingSets.rows': { input: z.object({ trainingSetId: z.number().int().positive() }), output: z.array(TrainingRowInfo) },
  /** Starts an ILF round (or the next round after `previousId`); it runs in the background, reported by pipeline.progress. */
  'pipeline.start': {
    input: z.object({ modelId: z.number().int().positive(), config: IlfRunConfig, previousId: z.number().int().positive().optional() }),
    output: PipelineInfo,
  },
  /** Continues a round that waits for people, was cancelled, failed, or was cut off by a crash. */
  'pipeline.resume': { input: z.object({ pipelineId: z.number().int().positive() }), output: PipelineInfo },
  'pipeline.cancel': { input: z.object({ pipelineId: z.number().int().positive() }), output: PipelineInfo },
  'pipeline.list': { input: z.undefined(), output: z.array(PipelineInfo) },
  'pipeline.get': {
    input: z.object({ pipelineId: z.number().int().positive() }),
    output: z.object({ pipeline: PipelineInfo, comparisons: z.array(ComparisonInfo) }),
  },
  /** A person's feedback on a failing sample. */
  'feedback.add': {
    input: z.object({ sampleId: z.number().int().positive(), author: AuthorName, text: z.string().trim().min(1, 'the feedback is empty').max(20_000) }),
    output: z.object({ feedbackId: z.number().int(), version: z.string() }),
  },
  /** The author edits their feedback, from the version they loaded (a concurrent edit gives CONFLICT). */
  'feedback.update': {
    input: z.object({
      feedbackId: z.number().int().positive(), author: AuthorName, text: z.string().trim().min(1, 'the feedback is empty').max(20_000), version: z.string().min(1),
    }),
    output: z.object({ version: z.string() }),
  },
  /** Refinements to review (passing and not yet reviewed), or all of them, newest first. */
  'refinements.list': {
    input: z.object({
      samplingRunId: z.number().int().positive().optional(),
      toReview: z.boolean().default(true),
      /** With toReview: unreviewed refinements that fail too (a reviewer can edit them into shape). */
      failing: z.boolean().default(false),
      limit: z.number().int().min(1).max(500).default(100),
    }),
    output: z.array(RefinementItem),
  },
  /** Accept (a passing refinement, or an edit that is re-tested first) or reject a refinement. */
  'refinements.review': {
    input: z.object({
      refinementId: z.number().int().positive(), reviewer: AuthorName, decision: z.enum(['accepted', 'rejected']),
      editedProgram: z.string().max(100_000).nullable().optional(), note: z.string().max(5000).nullable().optional(),
    }),
    output: z.object({ reviewId: z.number().int(), decision: z.enum(['accepted', 'rejected']), execution: ExecutionResult.nullable() }),
  },
  'evaluations.list': { input: z.undefined(), output: z.array(EvaluationInfo) },
  /**
   * Writes an export into the data folder's exports/ (atomically). Only a bare file name is taken:
   * the renderer (or a LAN annotator) never chooses where on disk main writes.
   */
  'exports.write': {
    input: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('training-set'), id: z.number().int().positive(), format: z.enum(['messages', 'prompt-completion']).default('messages'), file: ExportFileName }),
      z.object({ kind: z.literal('samples'), runId: z.number().int().positive(), file: ExportFileName }),
      z.object({ kind: z.literal('feedback'), runId: z.number().int().positive().optional(), file: ExportFileName }),
      z.object({ kind: z.literal('evaluation'), id: z.number().int().positive(), format: z.enum(['json', 'csv']).default('json'), file: ExportFileName }),
    ]),
    output: z.object({ file: z.string(), rows: z.number().int() }),
  },
  'evaluations.compare': {
    input: z.object({ before: z.number().int().positive(), after: z.number().int().positive(), k: z.number().int().min(1).default(1) }),
    output: ComparisonInfo,
  },
  'training.get': {
    input: z.object({ runId: z.number().int().positive() }),
    output: z.object({ run: TrainingRunInfo, metrics: z.array(TrainingMetricPoint) }),
  },
} as const satisfies Record<string, { input: z.ZodType; output: z.ZodType }>;

// ---------- events: main → renderer, pushed ----------

export const events = {
  'import.progress': z.object({
    file: z.string(),
    linesRead: z.number().int(),
    bytesRead: z.number().int(),
    totalBytes: z.number().int(),
  }),
  'training.progress': TrainingProgress,
  'download.progress': z.object({
    downloadId: z.number().int(),
    ref: z.string(),
    state: z.enum(['downloading', 'done', 'failed', 'cancelled']),
    bytes: z.number(),
    totalBytes: z.number().nullable(),
    bytesPerSecond: z.number(),
    etaSeconds: z.number().nullable(),
    modelId: z.number().int().nullable(),
    error: z.string().nullable(),
  }),
  'pipeline.progress': z.object({ pipelineId: z.number().int(), step: z.enum(PIPELINE_STEP_NAMES), text: z.string() }),
} as const satisfies Record<string, z.ZodType>;

// ---------- derived types ----------

export type RequestName = keyof typeof requests;
export type EventName = keyof typeof events;
/** What the caller passes (defaults may be omitted). */
export type RequestInput<K extends RequestName> = z.input<(typeof requests)[K]['input']>;
/** What a handler receives, after validation filled the defaults. */
export type RequestPayload<K extends RequestName> = z.output<(typeof requests)[K]['input']>;
export type RequestResult<K extends RequestName> = z.output<(typeof requests)[K]['output']>;
export type EventPayload<K extends EventName> = z.output<(typeof events)[K]>;

export const REQUEST_NAMES = Object.keys(requests) as RequestName[];
export const EVENT_NAMES = Object.keys(events) as EventName[];

export const requestChannel = (name: RequestName): string => `ilf:request:${name}`;
export const eventChannel = (name: EventName): string => `ilf:event:${name}`;

export type RequestInputArgs<K extends RequestName> = undefined extends RequestInput<K>
  ? [input?: RequestInput<K>]
  : [input: RequestInput<K>];

/**
 * What the preload exposes on `window.ilf` (and the server transport recreates in a browser):
 * one named function per request, one subscription per event that returns its unsubscribe.
 */
export interface BridgeApi {
  readonly requests: { readonly [K in RequestName]: (...input: RequestInputArgs<K>) => Promise<Envelope<RequestResult<K>>> };
  readonly events: { readonly [K in EventName]: (listener: (payload: EventPayload<K>) => void) => () => void };
}
