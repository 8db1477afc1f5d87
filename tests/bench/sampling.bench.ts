/**
 * npm run bench:sampling — not a test: prints figures, never fails on a slow machine.
 *
 * On a generated ~20M-parameter model: 30 samples of 128 tokens for one prompt through the app's
 * sampling path (prompt evaluated once, 30 sequences decoded in parallel batches, threads =
 * physical cores), and in the same run two baselines written here:
 *   (a) a plain loop that calls node-llama-cpp one sequence at a time (same threads, same 30 × 128);
 *   (b) the app's path with node-llama-cpp's default thread setting. On 2 cores that is too slow
 *       for 30 × 128, so it is compared with the app's path on the same smaller workload (SLICE),
 *       timed the same way.
 * Each side is timed the same way: context creation and decoding inside the timer, the prompt's
 * tokenization outside.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { generateSamples } from '../../main/inference/generate.js';
import { promptTokens } from '../../main/inference/prompt-tokens.js';
import { physicalCores } from '../../main/models/runtime.js';

const SAMPLES = 30;
const TOKENS = 128;
/** The workload on which the default-threads baseline and the app's path are compared. */
const SLICE = { samples: 8, tokens: 32 };
const prompt = completionPrompt({
  text: 'Write a function to find the shared elements from the given two lists.',
  exampleTest: 'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))',
  codePrefix: null,
});
const seeds = Array.from({ length: SAMPLES }, (_, i) => 1000 + i);
const params = { temperature: 0.8, topP: 0.95, maxTokens: TOKENS, stop: [] as string[] };

async function appPath(model: LlamaModel, threads: number | undefined, samples: number, tokens: number): Promise<{ tokens: number; seconds: number }> {
  const input = promptTokens(model, prompt, 'completion');
  const started = performance.now();
  const out = await generateSamples(model, { contextSize: input.length + tokens + 8, ...(threads !== undefined ? { threads } : {}) }, input, { ...params, maxTokens: tokens, seeds: seeds.slice(0, samples) });
  return { tokens: out.reduce((n, g) => n + g.tokens, 0), seconds: (performance.now() - started) / 1000 };
}

async function sequentialLoop(model: LlamaModel, threads: number): Promise<{ tokens: number; seconds: number }> {
  const input = promptTokens(model, prompt, 'completion');
  const started = performance.now();
  const context = await model.createContext({ contextSize: input.length + TOKENS + 8, threads });
  const sequence = context.getSequence();
  let tokens = 0;
  for (const seed of seeds) {
    await sequence.clearHistory();
    let n = 0;
    for await (const token of sequence.evaluate(input, { temperature: params.temperature, topP: params.topP, seed })) {
      if (model.isEogToken(token)) break;
      n += 1;
      if (n >= TOKENS) break;
    }
    tokens += n;
  }
  const seconds = (performance.now() - started) / 1000;
  await context.dispose();
  return { tokens, seconds };
}

async function withLlama<T>(options: { maxThreads?: number }, fn: (llama: Llama) => Promise<T>): Promise<T> {
  const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error, ...options });
  try {
    return await fn(llama);
  } finally {
    await llama.dispose();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-bench-sampling-'));
  const file = path.join(dir, 'model-20m.gguf');
  try {
    const written = await writeTinyModel(file, specForParams('20M', { seed: 3 }));
    const threads = physicalCores();
    console.log(`bench:sampling — generated model ${(written.parameterCount / 1e6).toFixed(1)}M params (F32), ${SAMPLES} samples × ${TOKENS} tokens, ` +
      `${os.availableParallelism()} logical cores, app threads = ${threads} (physical cores)`);
    const rate = (r: { tokens: number; seconds: number }): number => r.tokens / r.seconds;

    const { app, seq, appSlice } = await withLlama({ maxThreads: threads }, async (llama) => {
      const model = await llama.loadModel({ modelPath: file });
      await appPath(model, threads, 2, 8); // warm-up
      const a = await appPath(model, threads, SAMPLES, TOKENS);
      console.log(`app        ${a.tokens} tokens in ${a.seconds.toFixed(2)} s = ${rate(a).toFixed(0)} tok/s (prompt once, ${SAMPLES} sequences batched)`);
      const s = await sequentialLoop(model, threads);
      console.log(`sequential ${s.tokens} tokens in ${s.seconds.toFixed(2)} s = ${rate(s).toFixed(0)} tok/s (one sequence at a time, same threads)`);
      const sliced = await appPath(model, threads, SLICE.samples, SLICE.tokens);
      console.log(`app slice  ${sliced.tokens} tokens in ${sliced.seconds.toFixed(2)} s = ${rate(sliced).toFixed(0)} tok/s (${SLICE.samples} samples × ${SLICE.tokens} tokens, ${threads} threads)`);
      await model.dispose();
      return { app: a, seq: s, appSlice: sliced };
    });

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
    console.log(`sampling bench: app ${rate(app).toFixed(0)} tok/s sequential ${rate(seq).toFixed(0)} tok/s ratio ${(rate(app) / rate(seq)).toFixed(2)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
