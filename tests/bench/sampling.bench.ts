/**
 * npm run bench:sampling [-- --quick] — not a test: prints figures, never fails on a slow machine.
 * (--quick or BENCH_QUICK=1: 8 samples × 32 tokens at the real shape, to see that it runs.)
 *
 * At the real size: a Qwen2.5-Coder-0.5B-shaped model (random weights, Q8_0), 30 samples × 256
 * tokens of one prompt, each side timed from context creation to the last token:
 *   - app: the app's sampling path (generateSamples: prompt once, every running sample in each batch);
 *   - sequential: one sequence at a time through node-llama-cpp's public API (a few samples: the
 *     rate per token is what counts);
 *   - raw: node-llama-cpp's lowest-level batched decode, written here: one native batch of every
 *     sequence's token per step, then one persistent sampler per sequence (same temperature/top-p);
 *   - bound: memory bandwidth measured in this run ÷ the weight bytes one decode step reads (the
 *     limit for one sequence), and for the batched case the matmul peak of Q8_0 weights × 30 columns
 *     measured in this run ÷ matmul FLOPs per token (the compute limit).
 * On the generated ~20M model (F32): the app vs a sequential loop (30 × 128), kept for history; the
 * app with node-llama-cpp's default threads; and the app on a core shared with a busy process, with
 * all physical cores vs the threads picked for the free cores.
 * Last two lines: the 20M figures, then the real-size line.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel } from 'node-llama-cpp';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { generateSamples } from '../../main/inference/generate.js';
import { promptTokens } from '../../main/inference/prompt-tokens.js';
import { threadsForFreeCores } from '../../main/models/free-cores.js';
import { benchThreads, matmulPeak, memoryBandwidth, weightCost } from './machine.js';
import { writeRealShapeModel } from './real-shape.js';

const QUICK = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
/** The 20M workload (quick: the slice's). */
const SAMPLES = QUICK ? 8 : 30;
const TOKENS = QUICK ? 32 : 128;
/** The real-size workload; sequential draws fewer samples (its rate per token is what is compared). */
const REAL = QUICK ? { samples: 8, tokens: 32, sequential: 1 } : { samples: 30, tokens: 256, sequential: 3 };
/** The workload on which the default-threads baseline, and the shared-core runs, are compared with the app's path. */
const SLICE = { samples: 8, tokens: 32 };
const prompt = completionPrompt({
  text: 'Write a function to find the shared elements from the given two lists.',
  exampleTest: 'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))',
  codePrefix: null,
});
const seeds = Array.from({ length: Math.max(SAMPLES, REAL.samples) }, (_, i) => 1000 + i);
const params = { temperature: 0.8, topP: 0.95, maxTokens: TOKENS, stop: [] as string[] };

type Rate = { tokens: number; seconds: number };
const rate = (r: Rate): number => r.tokens / r.seconds;

async function appPath(model: LlamaModel, threads: number | undefined, samples: number, tokens: number, batches?: number[]): Promise<Rate> {
  const input = promptTokens(model, prompt, 'completion');
  const started = performance.now();
  const out = await generateSamples(model, { contextSize: input.length + tokens + 8, ...(threads !== undefined ? { threads } : {}) }, input,
    { ...params, maxTokens: tokens, seeds: seeds.slice(0, samples) }, batches ? { onBatch: (n) => batches.push(n) } : {});
  return { tokens: out.reduce((n, g) => n + g.tokens, 0), seconds: (performance.now() - started) / 1000 };
}

async function sequentialLoop(model: LlamaModel, threads: number, samples: number, tokens: number): Promise<Rate> {
  const input = promptTokens(model, prompt, 'completion');
  const started = performance.now();
  const context = await model.createContext({ contextSize: input.length + tokens + 8, threads });
  const sequence = context.getSequence();
  let produced = 0;
  for (const seed of seeds.slice(0, samples)) {
    await sequence.clearHistory();
    let n = 0;
    for await (const token of sequence.evaluate(input, { temperature: params.temperature, topP: params.topP, seed })) {
      if (model.isEogToken(token)) break;
      n += 1;
      if (n >= tokens) break;
    }
    produced += n;
  }
  const seconds = (performance.now() - started) / 1000;
  await context.dispose();
  return { tokens: produced, seconds };
}

/** node-llama-cpp's native context and sampler objects (not public API): the lowest level it has. */
interface AddonContext {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenSequenceIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: AddonSampler): Promise<number>;
}
interface AddonSampler {
  applyConfig(config: Record<string, number>): void;
  dispose(): void;
}

/**
 * The same prompts decoded at node-llama-cpp's lowest level: the prompt once through the public
 * API and its state copied (as the app does), then per step one native batch holding every
 * sequence's token and one sample per sequence with its own persistent sampler.
 */
async function rawBatched(model: LlamaModel, threads: number, samples: number, tokens: number): Promise<Rate> {
  const input = promptTokens(model, prompt, 'completion');
  const started = performance.now();
  const context: LlamaContext = await model.createContext({ sequences: samples, contextSize: input.length + tokens + 8, threads, batchSize: Math.max(512, samples) });
  const sequences: LlamaContextSequence[] = Array.from({ length: samples }, () => context.getSequence());
  const [first, ...rest] = sequences;
  if (!first) throw new Error('no sequence');
  await first.evaluateWithoutGeneratingNewTokens(input.slice(0, -1));
  const state = path.join(os.tmpdir(), `ilf-bench-raw-${process.pid}.bin`);
  await first.saveStateToFile(state);
  for (const s of rest) await s.loadStateFromFile(state, { acceptRisk: true });
  fs.rmSync(state, { force: true });
  const native = (context as unknown as { _ctx: AddonContext })._ctx;
  const internals = model as unknown as { _model: unknown; _llama: { _bindings: { AddonSampler: new (model: unknown) => AddonSampler } } };
  const samplers = sequences.map((_, i) => {
    const sampler = new internals._llama._bindings.AddonSampler(internals._model);
    sampler.applyConfig({ temperature: params.temperature, minP: 0, topK: 40, topP: params.topP, seed: seeds[i] ?? 0 });
    return sampler;
  });
  let next: number[] = sequences.map(() => Number(input.at(-1)));
  let produced = 0;
  for (let step = 0; step < tokens; step += 1) {
    native.initBatch(samples);
    const ids = sequences.map((s) => (s as unknown as { _sequenceId: number })._sequenceId);
    const logits = sequences.map((_, i) => native.addToBatch(ids[i] ?? 0, input.length - 1 + step, Uint32Array.of(next[i] ?? 0), Uint32Array.of(0))[0] ?? 0);
    await native.decodeBatch();
    next = await Promise.all(logits.map((l, i) => native.sampleToken(l, samplers[i] as AddonSampler)));
    produced += samples;
  }
  const seconds = (performance.now() - started) / 1000;
  for (const s of samplers) s.dispose();
  await context.dispose();
  return { tokens: produced, seconds };
}

async function withLlama<T>(options: { maxThreads?: number }, fn: (llama: Llama) => Promise<T>): Promise<T> {
  const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error, ...options });
  try {
    return await fn(llama);
  } finally {
    await llama.dispose();
  }
}

/** A process that keeps one core busy until killed: another program sharing the machine. */
async function withBusyCore<T>(fn: () => Promise<T>): Promise<T> {
  const busy = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  try {
    return await fn();
  } finally {
    busy.kill('SIGKILL');
  }
}

async function twentyM(dir: string, threads: number): Promise<string> {
  const file = path.join(dir, 'model-20m.gguf');
  const written = await writeTinyModel(file, specForParams('20M', { seed: 3 }));
  console.log(`20M: generated model ${(written.parameterCount / 1e6).toFixed(1)}M params (F32), ${SAMPLES} samples × ${TOKENS} tokens, app threads = ${threads}`);
  const { app, seq, appSlice, shared } = await withLlama({ maxThreads: threads }, async (llama) => {
    const model = await llama.loadModel({ modelPath: file });
    await appPath(model, threads, 2, 8); // warm-up
    const a = await appPath(model, threads, SAMPLES, TOKENS);
    console.log(`app        ${a.tokens} tokens in ${a.seconds.toFixed(2)} s = ${rate(a).toFixed(0)} tok/s (prompt once, ${SAMPLES} sequences batched)`);
    const s = await sequentialLoop(model, threads, SAMPLES, TOKENS);
    console.log(`sequential ${s.tokens} tokens in ${s.seconds.toFixed(2)} s = ${rate(s).toFixed(0)} tok/s (one sequence at a time, same threads)`);
    const sliced = await appPath(model, threads, SLICE.samples, SLICE.tokens);
    // Another process takes a core: all physical cores (ggml threads spin at every barrier for the
    // one descheduled) against the threads picked for the cores left free, as runSampling does.
    const sharedRuns = await withBusyCore(async () => {
      const all = await appPath(model, threads, SLICE.samples, SLICE.tokens);
      const picked = await threadsForFreeCores(threads);
      const adapted = await appPath(model, picked.threads, SLICE.samples, SLICE.tokens);
      return { all, adapted, picked };
    });
    await model.dispose();
    return { app: a, seq: s, appSlice: sliced, shared: sharedRuns };
  });
  console.log(`shared core (a busy process on one core; ${SLICE.samples} × ${SLICE.tokens}): ${threads} threads ${rate(shared.all).toFixed(0)} tok/s; ` +
    `threads for the free cores (${shared.picked.freeCores?.toFixed(2) ?? '?'} free → ${shared.picked.threads}) ${rate(shared.adapted).toFixed(0)} tok/s; ` +
    `quiet, ${threads} threads: ${rate(appSlice).toFixed(0)} tok/s`);

  if (!QUICK) {
    const defaults = await withLlama({}, async (llama) => {
      const model = await llama.loadModel({ modelPath: file });
      const context = await model.createContext({ contextSize: 64 });
      const defaultThreads = context.currentThreads;
      await context.dispose();
      await appPath(model, undefined, 2, 8).catch(() => undefined); // the same warm-up as the app's side
      const r = await appPath(model, undefined, SLICE.samples, SLICE.tokens)
        .then((x) => ({ ok: true as const, ...x }), (e: unknown) => ({ ok: false as const, reason: (e as Error).message }));
      await model.dispose();
      return { r, defaultThreads, maxThreads: llama.maxThreads };
    });
    const what = `app path, node-llama-cpp's default threads: ${defaults.defaultThreads} of maxThreads ${defaults.maxThreads}; ${SLICE.samples} samples × ${SLICE.tokens} tokens`;
    const d = defaults.r;
    console.log(d.ok && d.tokens > 0
      ? `defaults   ${d.tokens} tokens in ${d.seconds.toFixed(2)} s = ${rate(d).toFixed(1)} tok/s (${what}) → app threads ×${(rate(appSlice) / rate(d)).toFixed(1)} on the same workload`
      : `defaults   failed (${d.ok ? 'no tokens were generated' : d.reason}) (${what})`);
  }
  return `sampling bench (20M): app ${rate(app).toFixed(0)} tok/s sequential ${rate(seq).toFixed(0)} tok/s ratio ${(rate(app) / rate(seq)).toFixed(2)}`;
}

async function realSize(dir: string, threads: number): Promise<string> {
  const file = path.join(dir, 'qwen2.5-coder-0.5b-q8_0.gguf');
  const t0 = performance.now();
  await writeRealShapeModel(file, 'Q8_0');
  const cost = await weightCost(file);
  console.log(`0.5B: generated a Qwen2.5-Coder-0.5B-shaped model (Q8_0, ${(fs.statSync(file).size / 1e6).toFixed(0)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
    `${REAL.samples} samples × ${REAL.tokens} tokens, threads = ${threads}${QUICK ? ' (quick)' : ''}`);
  const bandwidth = await memoryBandwidth(threads);
  const peak = await matmulPeak(threads, { type: 'q8_0', cols: REAL.samples });
  const bandwidthBound = bandwidth / cost.bytesPerStep;
  const computeBound = peak / cost.flopsPerToken;
  console.log(`machine: read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s; Q8_0 matmul peak (2048² × ${REAL.samples} columns) ${(peak / 1e9).toFixed(1)} GFLOP/s`);
  console.log(`bounds: one sequence ${bandwidthBound.toFixed(1)} tok/s (${(cost.bytesPerStep / 1e6).toFixed(0)} MB of weights per step ÷ bandwidth); ` +
    `batched ${computeBound.toFixed(1)} tok/s (${(cost.flopsPerToken / 1e9).toFixed(2)} GFLOP per token ÷ matmul peak)`);
  return withLlama({ maxThreads: threads }, async (llama) => {
    const model = await llama.loadModel({ modelPath: file });
    await appPath(model, threads, 2, 4); // warm-up
    const batches: number[] = [];
    const app = await appPath(model, threads, REAL.samples, REAL.tokens, batches);
    const full = batches.filter((b) => b === REAL.samples).length;
    console.log(`app        ${app.tokens} tokens in ${app.seconds.toFixed(1)} s = ${rate(app).toFixed(1)} tok/s; ${batches.length} decodes, ${full} of them held all ${REAL.samples} sequences`);
    const raw = await rawBatched(model, threads, REAL.samples, REAL.tokens);
    console.log(`raw        ${raw.tokens} tokens in ${raw.seconds.toFixed(1)} s = ${rate(raw).toFixed(1)} tok/s (native batch of ${REAL.samples} + persistent samplers)`);
    const seq = await sequentialLoop(model, threads, REAL.sequential, REAL.tokens);
    console.log(`sequential ${seq.tokens} tokens in ${seq.seconds.toFixed(1)} s = ${rate(seq).toFixed(1)} tok/s (${REAL.sequential} sample${REAL.sequential === 1 ? '' : 's'} one after another) = ` +
      `${(rate(seq) / bandwidthBound).toFixed(2)} of the bandwidth bound`);
    console.log(`app = ${(rate(app) / computeBound).toFixed(2)} of the batched compute bound; app/sequential is capped by compute bound/sequential = ${(computeBound / rate(seq)).toFixed(2)}`);
    await model.dispose();
    return `sampling bench: app ${rate(app).toFixed(1)} tok/s sequential ${rate(seq).toFixed(1)} tok/s raw ${rate(raw).toFixed(1)} tok/s bound ${bandwidthBound.toFixed(1)} tok/s ` +
      `app/sequential ${(rate(app) / rate(seq)).toFixed(2)} app/raw ${(rate(app) / rate(raw)).toFixed(2)}`;
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-bench-sampling-'));
  try {
    const threads = benchThreads();
    console.log(`bench:sampling — ${os.availableParallelism()} logical cores, threads ${threads} (physical cores, or BENCH_THREADS)`);
    const small = await twentyM(dir, threads);
    const real = await realSize(dir, threads);
    console.log(small);
    console.log(real);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
