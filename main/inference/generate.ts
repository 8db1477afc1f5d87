import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';

export interface GenerateParams {
  temperature: number;
  topP: number;
  maxTokens: number;
  /** Generation stops before the first of these; the returned text never contains one. */
  stop: readonly string[];
  /** One seed per sample: the number of seeds is the number of samples. */
  seeds: readonly number[];
}

export interface Generated {
  text: string;
  tokens: number;
  finishReason: 'stop' | 'eos' | 'length' | 'cancelled';
}

/** Earliest index at which any stop sequence starts in `text` (searching from `from`), or -1. */
export function firstStop(text: string, stops: readonly string[], from = 0): number {
  let best = -1;
  for (const stop of stops) {
    if (stop.length === 0) continue;
    const at = text.indexOf(stop, from);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}

/** A stable 32-bit seed for sample `index` of `taskKey` in a run seeded `runSeed`: resuming regenerates the same seeds. */
export function sampleSeed(runSeed: number, taskKey: string, index: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${runSeed}\u0000${taskKey}\u0000${index}`) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Keeps parallel samples in lockstep: a batch is decoded only once every sample still running has
 * queued its next token. node-llama-cpp's default dispatches whatever is queued at the next event
 * loop cycle, and since each sample's token is sampled asynchronously, the batches would mix
 * samples by timing; batch composition changes float rounding, so even greedy decoding gave
 * different text from run to run. The queue size is read from node-llama-cpp's context
 * (not public API); without it, or after a second of waiting, the batch goes as it is.
 */
class Lockstep {
  active = 0;
  context: LlamaContext | undefined;

  readonly schedule = (dispatch: () => void): void => {
    const started = performance.now();
    const tick = (): void => {
      const queued = (this.context as unknown as { _queuedDecodeSequenceIds?: { size: number } } | undefined)?._queuedDecodeSequenceIds?.size;
      if (queued === undefined || queued >= this.active || performance.now() - started > 1000) dispatch();
      else setImmediate(tick);
    };
    setImmediate(tick);
  };
}

async function decode(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  lastPromptToken: Token,
  seed: number,
  params: GenerateParams,
  signal: AbortSignal | undefined,
  onToken: (() => void) | undefined,
  lockstep: Lockstep,
): Promise<Generated> {
  const tokens: Token[] = [];
  const longestStop = Math.max(0, ...params.stop.map((s) => s.length));
  let text = '';
  let finishReason: Generated['finishReason'] = 'length';
  const stream = sequence.evaluate([lastPromptToken], { temperature: params.temperature, topP: params.topP, seed })[Symbol.asyncIterator]();
  try {
    for (;;) {
      const step = await stream.next();
      if (step.done) break;
      const token = step.value;
      if (signal?.aborted) {
        finishReason = 'cancelled';
        break;
      }
      if (model.isEogToken(token)) {
        finishReason = 'eos';
        break;
      }
      tokens.push(token);
      onToken?.();
      const before = text.length;
      text = model.detokenize(tokens);
      const cut = firstStop(text, params.stop, Math.max(0, before - longestStop));
      if (cut >= 0) {
        text = text.slice(0, cut);
        finishReason = 'stop';
        break;
      }
      if (tokens.length >= params.maxTokens) break;
    }
  } finally {
    lockstep.active -= 1; // the others no longer wait for this one
    await stream.return?.();
  }
  return { text, tokens: tokens.length, finishReason };
}

export interface ContextSpec {
  /** Tokens per sequence: prompt plus new tokens. */
  contextSize: number;
  /** CPU threads; omitted: node-llama-cpp's own default (benchmarks compare against it). */
  threads?: number;
  adapterPath?: string | null;
}

/**
 * Draws `seeds.length` samples for one prompt in a fresh context of that many sequences. The
 * prompt (all but its last token) is evaluated once on the first sequence and its state copied
 * into the others; then every sample decodes on its own sequence, concurrently, so node-llama-cpp
 * batches one token of each sample into every decode. A fresh context per prompt makes a sample
 * depend only on (model, adapter, prompt, seed): with a reused context the KV cells land at
 * offsets left by earlier prompts, which changes float rounding, so a resumed run would not
 * reproduce an uninterrupted one.
 */
export async function generateSamples(
  model: LlamaModel,
  spec: ContextSpec,
  promptTokens: readonly Token[],
  params: GenerateParams,
  options: { signal?: AbortSignal | undefined; onToken?: () => void } = {},
): Promise<Generated[]> {
  const n = params.seeds.length;
  if (n === 0) return [];
  if (promptTokens.length === 0) throw new Error('the prompt is empty');
  const lockstep = new Lockstep();
  const context = await model.createContext({
    batching: { dispatchSchedule: lockstep.schedule },
    sequences: n,
    contextSize: spec.contextSize,
    ...(spec.threads !== undefined ? { threads: spec.threads } : {}),
    batchSize: Math.max(512, n),
    ...(spec.adapterPath ? { lora: { adapters: [{ filePath: spec.adapterPath, scale: 1 }] } } : {}),
  });
  lockstep.context = context;
  try {
    const sequences = Array.from({ length: n }, () => context.getSequence());
    const shared = promptTokens.slice(0, -1);
    const last = promptTokens.at(-1) as Token;
    const [first, ...rest] = sequences;
    if (!first) return [];
    if (shared.length > 0) {
      lockstep.active = 1;
      await first.evaluateWithoutGeneratingNewTokens([...shared]);
      if (rest.length > 0) await copyState(first, rest);
    }
    lockstep.active = n;
    return await Promise.all(sequences.map((s, i) => decode(model, s, last, params.seeds[i] ?? 0, params, options.signal, options.onToken, lockstep)));
  } finally {
    await context.dispose();
  }
}

/** Copies one sequence's evaluated prompt into others (node-llama-cpp offers this through a state file). */
async function copyState(from: LlamaContextSequence, to: readonly LlamaContextSequence[]): Promise<void> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'ilf-prompt-'));
  const stateFile = path.join(dir, 'state.bin');
  try {
    await from.saveStateToFile(stateFile);
    // Same model, same context: the file was written a moment ago by this very context.
    for (const s of to) await s.loadStateFromFile(stateFile, { acceptRisk: true });
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
