/**
 * npm run bench:sampling — not a test: prints figures, never fails on a slow machine.
 *
 * On a generated ~20M-parameter model: 30 samples of 128 tokens for one prompt through the app's
 * sampling path (prompt evaluated once, 30 sequences decoded in parallel batches, threads =
 * physical cores), and in the same run two baselines written here:
 *   (a) a plain loop that calls node-llama-cpp one sequence at a time (same threads);
 *   (b) the app's path with node-llama-cpp's default thread setting (a smaller slice of the work:
 *       on 2 cores it is slow enough that the full work would take far too long).
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
  const context = await model.createContext({ contextSize: input.length + TOKENS + 8, threads });
  const sequence = context.getSequence();
  const started = performance.now();
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

    const { app, seq } = await withLlama({ maxThreads: threads }, async (llama) => {
      const model = await llama.loadModel({ modelPath: file });
      await appPath(model, threads, 2, 8); // warm-up
      const a = await appPath(model, threads, SAMPLES, TOKENS);
      console.log(`app        ${a.tokens} tokens in ${a.seconds.toFixed(2)} s = ${rate(a).toFixed(0)} tok/s (prompt once, ${SAMPLES} sequences batched)`);
      const s = await sequentialLoop(model, threads);
      console.log(`sequential ${s.tokens} tokens in ${s.seconds.toFixed(2)} s = ${rate(s).toFixed(0)} tok/s (one sequence at a time, same threads)`);
      await model.dispose();
      return { app: a, seq: s };
    });

    const slice = { samples: 4, tokens: 16 };
    const defaults = await withLlama({}, async (llama) => {
      const model = await llama.loadModel({ modelPath: file });
      const context = await model.createContext({ contextSize: 64 });
      const defaultThreads = context.currentThreads;
      await context.dispose();
      const r = await appPath(model, undefined, slice.samples, slice.tokens).catch(() => ({ tokens: 0, seconds: 1 }));
      await model.dispose();
      return { ...r, defaultThreads, maxThreads: llama.maxThreads };
    });
    console.log(`defaults   ${defaults.tokens} tokens in ${defaults.seconds.toFixed(2)} s = ${rate(defaults).toFixed(1)} tok/s (app path, node-llama-cpp's default ` +
      `threads: ${defaults.defaultThreads} of maxThreads ${defaults.maxThreads}; ${slice.samples} samples × ${slice.tokens} tokens) → app threads ×${(rate(app) / rate(defaults)).toFixed(1)}`);
    console.log(`sampling bench: app ${rate(app).toFixed(0)} tok/s sequential ${rate(seq).toFixed(0)} tok/s ratio ${(rate(app) / rate(seq)).toFixed(2)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
