/**
 * npm run bench:train — not a test: prints figures, never fails on a slow machine.
 *
 * LoRA training with the native trainer on a generated ~20M-parameter model (F32), MBPP prompts →
 * gold programs from ../shared/data, context 256, rank 8 on the attention and FFN matrices,
 * threads = physical cores. Figures:
 *   - training tokens/s (every context position processed, padding included);
 *   - the fraction of the machine's matmul peak it reaches: the peak is measured here with a
 *     2048×2048 F32 matmul on the same ggml CPU backend and thread count; training FLOPs per
 *     token are counted as 4·W (forward, and backward through the frozen weights) + 6·R (LoRA
 *     matrices: forward, input and weight gradients) + 6·L·d·ctx/2·2 (causal attention, forward
 *     and backward), with W the matmul weights (all 2-D tensors but the embedding lookup) and R
 *     the LoRA parameters;
 *   - in the same run, a baseline written here: the same trainer without its warm-up decode, so
 *     the fork's training path runs with ggml's default thread count (2 steps: it is that slow).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readGgufInfo } from '../../native-models/gguf/reader.js';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { physicalCores } from '../../main/models/runtime.js';
import { trainerBinary } from '../../main/training/trainer-binary.js';
import { TrainerProcess, type TrainerEvent } from '../../main/training/trainer-process.js';
import { sharedData } from '../helpers/shared-data.js';

const CONTEXT = 256;
const RANK = 8;
const TARGETS = ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'ffn_gate', 'ffn_up', 'ffn_down'];
const STEPS = 40;
const BASELINE_STEPS = 2;

async function trainerRun(files: { model: string; data: string; config: string; out: string }, extra: string[]): Promise<TrainerEvent[]> {
  const events: TrainerEvent[] = [];
  const trainer = new TrainerProcess(trainerBinary(), ['--model', files.model, '--data', files.data, '--config', files.config, '--out', files.out, ...extra],
    (e) => events.push(e));
  const exit = await trainer.exited;
  if (exit.code !== 0 && exit.code !== 3) throw new Error(`trainer failed: ${exit.error ?? exit.logTail}`);
  return events;
}

function lastTrain(events: TrainerEvent[]): Extract<TrainerEvent, { phase: 'train' }> {
  const e = events.filter((x): x is Extract<TrainerEvent, { phase: 'train' }> => x.phase === 'train').at(-1);
  if (!e) throw new Error('no training step was reported');
  return e;
}

async function main(): Promise<void> {
  const threads = physicalCores();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-bench-train-'));
  try {
    const model = path.join(dir, 'model.gguf');
    await writeTinyModel(model, specForParams('20M', { seed: 3 }));
    const info = await readGgufInfo(model);
    const rows = fs.readFileSync(sharedData('mbpp.jsonl'), 'utf8').trim().split('\n').slice(0, 400)
      .map((l) => JSON.parse(l) as { text: string; code: string; test_list: string[] })
      .map((t) => JSON.stringify({ prompt: completionPrompt({ text: t.text, exampleTest: t.test_list[0] ?? null, codePrefix: null }), completion: `${t.code.replace(/\r\n/g, '\n')}\n` }));
    const files = { model, data: path.join(dir, 'data.jsonl'), config: path.join(dir, 'config.json'), out: path.join(dir, 'adapter.gguf') };
    fs.writeFileSync(files.data, `${rows.join('\n')}\n`);
    fs.writeFileSync(files.config, JSON.stringify({ rank: RANK, alpha: 16, targetModules: TARGETS, contextSize: CONTEXT, epochs: 1, threads, validationFraction: 0, checkpointEvery: 0 }));

    // Peak: one big F32 matmul on the same backend and threads.
    const peakEvents: TrainerEvent[] = [];
    await new TrainerProcess(trainerBinary(), ['--bench-matmul', '2048', '--threads', String(threads)], (e) => peakEvents.push(e)).exited;
    const peak = peakEvents.find((e) => e.phase === 'matmul');
    if (peak?.phase !== 'matmul') throw new Error('the matmul benchmark printed nothing');

    // FLOPs per training token.
    const matrices = info.tensors.filter((t) => t.dims.length === 2 && t.name !== 'token_embd.weight');
    const weights = matrices.reduce((n, t) => n + (t.dims[0] ?? 0) * (t.dims[1] ?? 0), 0);
    const targetNames = TARGETS.map((t) => (t === 'attn_o' ? 'attn_output' : t));
    const lora = matrices.filter((t) => targetNames.some((n) => t.name.endsWith(`.${n}.weight`)))
      .reduce((n, t) => n + RANK * ((t.dims[0] ?? 0) + (t.dims[1] ?? 0)), 0);
    const layers = Number(info.metadata['llama.block_count']);
    const d = Number(info.metadata['llama.embedding_length']);
    const flopsPerToken = 4 * weights + 6 * lora + 6 * layers * d * CONTEXT;

    const run = await trainerRun(files, ['--max-steps', String(STEPS)]);
    const start = run.find((e) => e.phase === 'start');
    const step = lastTrain(run);
    const baseline = lastTrain(await trainerRun(files, ['--max-steps', String(BASELINE_STEPS), '--skip-thread-warmup']));

    const achieved = step.tokens_per_s * flopsPerToken;
    const share = (100 * achieved) / peak.flops;
    console.log(`model: ${(info.parameterCount / 1e6).toFixed(1)}M parameters (F32), ${layers} layers, d=${d}; LoRA rank ${RANK} on ${TARGETS.join(',')} = ${(lora / 1e6).toFixed(2)}M trainable`);
    if (start?.phase === 'start') console.log(`data: ${start.examples} MBPP examples that fit ${CONTEXT} tokens (${start.skipped_too_long} longer ones skipped), ${start.target_tokens} target tokens`);
    console.log(`threads: ${threads}; FLOPs per training token: ${(flopsPerToken / 1e6).toFixed(1)}M`);
    console.log(`peak (F32 matmul 2048², ${peak.backend}): ${(peak.flops / 1e9).toFixed(1)} GFLOP/s`);
    console.log(`trainer: ${STEPS} steps, ${step.tokens_per_s.toFixed(0)} tok/s, ${(achieved / 1e9).toFixed(1)} GFLOP/s, loss ${run.filter((e) => e.phase === 'train').map((e) => (e.phase === 'train' ? e.loss.toFixed(2) : '')).filter((_, i, a) => i === 0 || i === a.length - 1).join(' → ')}`);
    console.log(`baseline (no warm-up decode: ggml's default threads): ${BASELINE_STEPS} steps, ${baseline.tokens_per_s.toFixed(1)} tok/s; trainer/baseline ×${(step.tokens_per_s / baseline.tokens_per_s).toFixed(1)}`);
    console.log(`train bench: ${step.tokens_per_s.toFixed(0)} tok/s, ${share.toFixed(1)}% of measured peak`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
