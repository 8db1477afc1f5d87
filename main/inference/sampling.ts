import { performance } from 'node:perf_hooks';
import { buildPrompt, type PromptFormat } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import { threadsForFreeCores } from '../models/free-cores.js';
import { hasSerialThreadpool, type LlamaRuntime } from '../models/runtime.js';
import type { Store } from '../store/store.js';
import type { EndpointOptions } from './endpoint.js';
import { sampleSeed } from './generate.js';
import { adapterFits, openGenerator, type TextGenerator } from './generator.js';
import { programFor } from './prompt-tokens.js';

/** The Codex/ILF stop sequences for completion prompts. */
export const DEFAULT_STOP = ['\nclass', '\ndef', '\n#', '\nif', '\nprint'] as const;

export interface SamplingConfig {
  modelId: number;
  adapterId?: number | null;
  dataset: string;
  split?: string | undefined;
  /** Samples per task (paper: 30). */
  n: number;
  /** Paper: 0.8. */
  temperature: number;
  topP: number;
  maxTokens: number;
  stop?: readonly string[];
  seed: number;
  promptFormat: PromptFormat;
  /** Only the first N tasks of the split. */
  limit?: number | undefined;
  purpose?: 'ilf' | 'evaluation';
}

export interface SamplingProgress {
  runId: number;
  tasksDone: number;
  tasksTotal: number;
  samplesCreated: number;
  tokens: number;
  tokensPerSecond: number;
  etaSeconds: number | null;
}

export interface SamplingReport {
  runId: number;
  tasks: number;
  samplesCreated: number;
  /** Already stored by an earlier, interrupted pass: not redone. */
  samplesSkipped: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** CPU threads of each batch: fewer than the runtime's when other processes kept cores busy. */
  threads: { min: number; max: number };
}

/** How often the free cores are measured again during a run. */
const THREADS_RECHECK_MS = 20_000;

/** Most sequences one context decodes together; larger n is drawn in rounds. */
const MAX_PARALLEL = 32;

/**
 * Samples `n` programs per task with a local model and stores each with its provenance (run:
 * model, adapter, parameters, seed, prompt format; sample: prompt, seed, raw completion, program).
 * Resumable: with `resumeRunId`, samples already stored are not redone. Cancel with the signal;
 * what finished is kept and the run is marked cancelled.
 */
export async function runSampling(
  deps: { store: Store; runtime: LlamaRuntime; endpointOptions?: EndpointOptions },
  config: SamplingConfig,
  options: { signal?: AbortSignal; onProgress?: (p: SamplingProgress) => void; resumeRunId?: number; onRun?: (runId: number) => void } = {},
): Promise<SamplingReport> {
  const { store, runtime } = deps;
  const model = store.models.get(config.modelId);
  if (!model) throw new AppError('NOT_FOUND', `no model with id ${config.modelId}`, 'list models with `ilf models list`');
  const adapter = config.adapterId != null ? store.models.adapter(config.adapterId) : undefined;
  if (config.adapterId != null && !adapter) throw new AppError('NOT_FOUND', `no adapter with id ${config.adapterId}`, 'list adapters with `ilf models list`');
  if (adapter && !adapterFits(model, adapter)) {
    throw new AppError('BAD_INPUT', `adapter ${adapter.id} was made for model ${adapter.baseModelId} (sha256 ${adapter.baseModelSha256.slice(0, 12)}…), not model ${model.id}`,
      'use the adapter with its own base model');
  }
  if (!Number.isInteger(config.n) || config.n < 1) throw new AppError('BAD_INPUT', `n must be a positive integer, got ${config.n}`);
  if (config.temperature < 0) throw new AppError('BAD_INPUT', `temperature must be ≥ 0, got ${config.temperature}`);
  if (!(config.topP > 0 && config.topP <= 1)) throw new AppError('BAD_INPUT', `top-p must be in (0, 1], got ${config.topP}`);
  if (!Number.isInteger(config.maxTokens) || config.maxTokens < 1) throw new AppError('BAD_INPUT', `max tokens must be a positive integer, got ${config.maxTokens}`);
  if (config.promptFormat === 'chat' && !model.hasChatTemplate) {
    throw new AppError('BAD_INPUT', `${model.name} has no chat template`, 'use --format completion for base models');
  }
  const dataset = store.catalog.dataset(config.dataset);
  if (!dataset) throw new AppError('NOT_FOUND', `no dataset "${config.dataset}"`, 'import it first with `ilf import`');
  let tasks = store.catalog.tasksForPrompting(config.dataset, config.split);
  if (config.limit !== undefined) tasks = tasks.slice(0, config.limit);
  if (tasks.length === 0) throw new AppError('NOT_FOUND', `no tasks in ${config.dataset}${config.split ? ` split ${config.split}` : ''}`);
  const stop = [...(config.stop ?? (config.promptFormat === 'completion' ? DEFAULT_STOP : []))];

  let runId: number;
  if (options.resumeRunId !== undefined) {
    const run = store.runs.samplingRun(options.resumeRunId);
    if (!run) throw new AppError('NOT_FOUND', `no sampling run ${options.resumeRunId}`);
    const same = run.modelId === config.modelId && (run.adapterId ?? null) === (config.adapterId ?? null) && run.n === config.n &&
      run.temperature === config.temperature && run.topP === config.topP && run.maxTokens === config.maxTokens &&
      run.seed === config.seed && run.promptFormat === config.promptFormat && JSON.stringify(run.stop) === JSON.stringify(stop);
    if (!same) throw new AppError('BAD_INPUT', `run ${options.resumeRunId} was made with other settings`, 'resume with the same model, adapter, n, temperature, top-p, max tokens, seed, stop and format');
    runId = run.id;
  } else {
    runId = store.runs.createSamplingRun({
      purpose: config.purpose ?? 'ilf', modelId: model.id, adapterId: adapter?.id ?? null, datasetId: dataset.id,
      split: config.split ?? '*', promptFormat: config.promptFormat, n: config.n, temperature: config.temperature,
      topP: config.topP, maxTokens: config.maxTokens, stop, seed: config.seed,
      params: {
        limit: config.limit ?? null, modelSha256: model.sha256, adapterSha256: adapter?.sha256 ?? null,
        ...(model.endpoint
          // An endpoint's batching, build and hardware are not ours: never bit-reproducible.
          ? { endpoint: { baseUrl: model.endpoint.url, servedModel: model.endpoint.servedModel }, reproducible: false }
          : { threads: runtime.threads, reproducible: hasSerialThreadpool() }),
      },
    });
  }
  store.runs.setRunStatus(runId, 'running');
  options.onRun?.(runId); // a caller that must resume after a crash records the id now

  const stored = store.runs.storedSampleIndices(runId);
  const parallel = Math.min(config.n, MAX_PARALLEL);
  let generator: TextGenerator | undefined;
  let contextSize = 0;
  const started = performance.now();
  let tokens = 0;
  let created = 0;
  let skipped = 0;
  let tasksDone = 0;
  let lastReport = 0;
  // Threads for the cores other processes leave free (see threadsForFreeCores), measured again now and then.
  let threads = runtime.threads;
  let threadsCheckedAt = -Infinity;
  const threadsUsed = { min: Infinity, max: 0 };
  const pickThreads = async (): Promise<number> => {
    if (runtime.threadsFixed || performance.now() - threadsCheckedAt < THREADS_RECHECK_MS) return threads;
    threads = (await threadsForFreeCores(runtime.threads)).threads;
    threadsCheckedAt = performance.now();
    return threads;
  };
  const report = (force = false): void => {
    if (!options.onProgress || (!force && performance.now() - lastReport < 250)) return;
    lastReport = performance.now();
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? tokens / seconds : 0;
    const perTask = tasksDone > 0 ? seconds / tasksDone : null;
    options.onProgress({
      runId, tasksDone, tasksTotal: tasks.length, samplesCreated: created, tokens, tokensPerSecond: rate,
      etaSeconds: perTask === null ? null : perTask * (tasks.length - tasksDone),
    });
  };

  try {
    const prompts = tasks.map((t) => buildPrompt(t, config.promptFormat));
    for (const [i, task] of tasks.entries()) {
      options.signal?.throwIfAborted();
      const have = stored.get(task.id) ?? new Set<number>();
      const missing = Array.from({ length: config.n }, (_, k) => k).filter((k) => !have.has(k));
      skipped += config.n - missing.length;
      if (missing.length === 0) {
        tasksDone += 1;
        continue;
      }
      const prompt = prompts[i] ?? '';
      // Loaded on the first task with work to do, so a finished run loads nothing.
      if (!generator) {
        const opened = await openGenerator({ runtime, endpointOptions: deps.endpointOptions, baseModel: (id) => store.models.get(id) },
          model, adapter, hasSerialThreadpool(), options.signal);
        generator = opened;
        // One context size for the whole run (a local model): a sample then depends only on its prompt and seed.
        contextSize = Math.max(...prompts.map((p) => opened.countTokens(p, config.promptFormat) ?? 0)) + config.maxTokens + 8;
      }
      for (let from = 0; from < missing.length; from += parallel) {
        const indices = missing.slice(from, from + parallel);
        const seeds = indices.map((k) => sampleSeed(config.seed, task.taskKey, k));
        const batchThreads = await pickThreads();
        threadsUsed.min = Math.min(threadsUsed.min, batchThreads);
        threadsUsed.max = Math.max(threadsUsed.max, batchThreads);
        const generated = await generator.generate(prompt, config.promptFormat,
          { temperature: config.temperature, topP: config.topP, maxTokens: config.maxTokens, stop, seeds },
          { signal: options.signal, onToken: () => { tokens += 1; report(); }, contextSize, threads: batchThreads });
        options.signal?.throwIfAborted();
        // One transaction per batch: a crash loses at most the batch in flight.
        store.transaction(() => store.runs.insertSamples(runId, generated.map((g, j) => ({
          taskId: task.id, sampleIndex: indices[j] ?? 0, seed: seeds[j] ?? 0, prompt,
          completion: g.text, program: programFor(config.promptFormat, task.codePrefix, g.text),
          tokenCount: g.tokens, finishReason: g.finishReason, systemFingerprint: g.systemFingerprint ?? null,
        }))));
        created += generated.length;
      }
      tasksDone += 1;
      report();
    }
    store.runs.setRunStatus(runId, 'completed');
  } catch (e) {
    store.runs.setRunStatus(runId, (e as Error).name === 'AbortError' ? 'cancelled' : 'failed');
    throw e;
  } finally {
    await generator?.dispose();
    report(true);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    runId, tasks: tasks.length, samplesCreated: created, samplesSkipped: skipped, tokens, seconds, tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
    threads: threadsUsed.max === 0 ? { min: threads, max: threads } : threadsUsed,
  };
}
