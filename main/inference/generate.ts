import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

/** The seed of step `step` of a sample seeded `seed`: every draw gets its own, and a rerun the same ones. */
export function stepSeed(seed: number, step: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ step, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

interface Running {
  sequence: LlamaContextSequence;
  seed: number;
  next: Token;
  tokens: Token[];
  text: string;
  finishReason: Generated['finishReason'] | null;
}

/**
 * Decodes every running sample one token per step, all in one batch: a single loop issues the
 * step's evaluations together and waits for all of them, so node-llama-cpp finds every running
 * sequence queued when it builds the batch. (With one async iterator per sample, each sample queued
 * its next token whenever its own sampling finished; node-llama-cpp's dispatch loop decoded
 * whatever was queued right after the previous batch, so batches held n−1 sequences and the last
 * one followed alone, and batch composition, which changes float rounding, depended on timing.)
 * Each draw uses a sampler seeded from (sample seed, step), so a sample depends only on its seed.
 */
async function decodeLockstep(
  model: LlamaModel,
  running: Running[],
  params: GenerateParams,
  signal: AbortSignal | undefined,
  onToken: (() => void) | undefined,
): Promise<void> {
  const longestStop = Math.max(0, ...params.stop.map((s) => s.length));
  for (let step = 0; ; step += 1) {
    const active = running.filter((r) => r.finishReason === null);
    if (active.length === 0) return;
    if (signal?.aborted) {
      for (const r of active) r.finishReason = 'cancelled';
      return;
    }
    const results = await Promise.all(active.map((r) => r.sequence.controlledEvaluate([[r.next, {
      generateNext: { token: true, options: { temperature: params.temperature, topP: params.topP, seed: stepSeed(r.seed, step) } },
    }]])));
    for (const [i, r] of active.entries()) {
      const token = results[i]?.[0]?.next.token;
      if (token === undefined || token === null) throw new Error('llama.cpp sampled no token');
      if (model.isEogToken(token)) {
        r.finishReason = 'eos';
        continue;
      }
      r.tokens.push(token);
      r.next = token;
      onToken?.();
      const before = r.text.length;
      r.text = model.detokenize(r.tokens);
      const cut = firstStop(r.text, params.stop, Math.max(0, before - longestStop));
      if (cut >= 0) {
        r.text = r.text.slice(0, cut);
        r.finishReason = 'stop';
      } else if (r.tokens.length >= params.maxTokens) {
        r.finishReason = 'length';
      }
    }
  }
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
 * into the others; then every sample decodes on its own sequence, one token of each running sample
 * per decode (decodeLockstep). A fresh context per prompt makes a sample
 * depend only on (model, adapter, prompt, seed): with a reused context the KV cells land at
 * offsets left by earlier prompts, which changes float rounding, so a resumed run would not
 * reproduce an uninterrupted one.
 */
export async function generateSamples(
  model: LlamaModel,
  spec: ContextSpec,
  promptTokens: readonly Token[],
  params: GenerateParams,
  options: { signal?: AbortSignal | undefined; onToken?: () => void; onBatch?: (tokens: number) => void } = {},
): Promise<Generated[]> {
  const n = params.seeds.length;
  if (n === 0) return [];
  if (promptTokens.length === 0) throw new Error('the prompt is empty');
  const context = await model.createContext({
    sequences: n,
    contextSize: spec.contextSize,
    ...(spec.threads !== undefined ? { threads: spec.threads } : {}),
    batchSize: Math.max(512, n),
    ...(spec.adapterPath ? { lora: { adapters: [{ filePath: spec.adapterPath, scale: 1 }] } } : {}),
  });
  const batches = options.onBatch ? observeBatches(context, options.onBatch) : undefined;
  try {
    const sequences = Array.from({ length: n }, () => context.getSequence());
    const shared = promptTokens.slice(0, -1);
    const last = promptTokens.at(-1) as Token;
    const [first, ...rest] = sequences;
    if (!first) return [];
    if (shared.length > 0) {
      await first.evaluateWithoutGeneratingNewTokens([...shared]);
      if (rest.length > 0) await copyState(first, rest);
    }
    const running: Running[] = sequences.map((sequence, i) => ({ sequence, seed: params.seeds[i] ?? 0, next: last, tokens: [], text: '', finishReason: null }));
    batches?.start();
    await decodeLockstep(model, running, params, options.signal, options.onToken);
    return running.map((r) => ({ text: r.text, tokens: r.tokens.length, finishReason: r.finishReason ?? 'length' }));
  } finally {
    batches?.stop();
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

/**
 * Reports the size of every batch llama.cpp decodes in this context (tokens of all sequences
 * together), by wrapping node-llama-cpp's native batch call, which is not public API: where it is
 * missing nothing is reported. For diagnostics and for the test that batches hold every sample.
 */
function observeBatches(context: LlamaContext, onBatch: (tokens: number) => void): { start: () => void; stop: () => void } {
  const holder = context as unknown as { _ctx?: object };
  const native = holder._ctx;
  if (native === undefined) return { start: () => undefined, stop: () => undefined };
  // The addon's methods are read-only: the context gets a forwarding view of its native object instead.
  const view = new Proxy(native, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (key === 'initBatch') return (size: number) => { onBatch(size); return fn.call(target, size); };
      return (...args: unknown[]) => fn.apply(target, args);
    },
  });
  return { start: () => { holder._ctx = view; }, stop: () => { holder._ctx = native; } };
}
