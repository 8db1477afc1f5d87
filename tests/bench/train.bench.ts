/**
 * npm run bench:train — not a test: prints figures, never fails on a slow machine.
 *
 * LoRA training with the native trainer on a generated ~20M-parameter model (F32), MBPP prompts →
 * gold programs from ../shared/data, context 256, rank 8 on the attention and FFN matrices,
 * threads = physical cores. Figures:
 *   - training tokens/s counting only the examples' own tokens, and separately the context slots
 *     processed (padding included: each example is padded to the context);
 *   - the fraction of the machine's matmul peak it reaches (on useful tokens, and on all slots): the
 *     peak is measured here with a 2048×2048 F32 matmul on the same ggml CPU backend and thread
 *     count; training FLOPs per token are counted as 4·W (forward, and backward through the frozen
 *     weights) + 6·R (LoRA matrices: forward, input and weight gradients) + 6·L·d·ctx/2·2 (causal
 *     attention, forward and backward), with W the matmul weights (all 2-D tensors but the embedding
 *     lookup) and R the LoRA parameters;
 *   - in the same run, a baseline written here: the same trainer without its warm-up decode, so the
 *     fork's training path runs with ggml's default thread count. It is too slow for the full run, so
 *     it is compared on the same few steps (same data, same order) of the full run.
 * Every figure is timed from the end of the first step to the end of the last: the first step
 * (graph and optimizer allocation) is set-up, outside the timer for both sides.
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
/** Steps of the slow baseline, compared with the same steps of the full run. */
const COMPARE_STEPS = 3;

type TrainStep = Extract<TrainerEvent, { phase: 'train' }>;

async function trainerRun(files: { model: string; data: string; config: string; out: string }, extra: string[]): Promise<TrainerEvent[]> {
  const events: TrainerEvent[] = [];
  const trainer = new TrainerProcess(trainerBinary(), ['--model', files.model, '--data', files.data, '--config', files.config, '--out', files.out, ...extra],
    (e) => events.push(e));
  const exit = await trainer.exited;
  if (exit.code !== 0 && exit.code !== 3) throw new Error(`trainer failed: ${exit.error ?? exit.logTail.trim().split('\n').at(-1) ?? `exit ${exit.code}`}`);
  return events;
}

/** Useful tokens/s and slots/s over steps 2..`upTo` (step 1 is set-up), from the trainer's own totals. */
function rates(events: readonly TrainerEvent[], upTo: number): { tokensPerS: number; slotsPerS: number; steps: number } {
  const steps = events.filter((e): e is TrainStep => e.phase === 'train');
  const first = steps[0];
  const last = steps[Math.min(upTo, steps.length) - 1];
  if (!first || !last || last === first) throw new Error(`needs at least 2 steps, got ${steps.length}`);
  const seconds = (last.elapsed_s ?? NaN) - (first.elapsed_s ?? NaN);
  return {
    tokensPerS: ((last.tokens ?? NaN) - (first.tokens ?? NaN)) / seconds,
    slotsPerS: ((last.slots ?? NaN) - (first.slots ?? NaN)) / seconds,
    steps: last.step - first.step,
  };
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
    const full = rates(run, STEPS);
    const head = rates(run, COMPARE_STEPS);
    const baseline = await trainerRun(files, ['--max-steps', String(COMPARE_STEPS), '--skip-thread-warmup'])
      .then((events) => ({ ok: true as const, ...rates(events, COMPARE_STEPS) }), (e: unknown) => ({ ok: false as const, reason: (e as Error).message }));

    const share = (perS: number): string => `${((100 * perS * flopsPerToken) / peak.flops).toFixed(1)}%`;
    const losses = run.filter((e): e is TrainStep => e.phase === 'train').map((e) => e.loss.toFixed(2));
    console.log(`model: ${(info.parameterCount / 1e6).toFixed(1)}M parameters (F32), ${layers} layers, d=${d}; LoRA rank ${RANK} on ${TARGETS.join(',')} = ${(lora / 1e6).toFixed(2)}M trainable`);
    if (start?.phase === 'start') console.log(`data: ${start.examples} MBPP examples that fit ${CONTEXT} tokens (${start.skipped_too_long} longer ones skipped), ${start.target_tokens} target tokens`);
    console.log(`threads: ${threads}; FLOPs per training token: ${(flopsPerToken / 1e6).toFixed(1)}M`);
    console.log(`peak (F32 matmul 2048², ${peak.backend}): ${(peak.flops / 1e9).toFixed(1)} GFLOP/s`);
    console.log(`trainer: steps 2-${STEPS} (${full.steps} timed), ${full.tokensPerS.toFixed(0)} useful tok/s, ${full.slotsPerS.toFixed(0)} slots/s ` +
      `(${(100 * (1 - full.tokensPerS / full.slotsPerS)).toFixed(0)}% of slots are padding), ${((full.tokensPerS * flopsPerToken) / 1e9).toFixed(1)} useful GFLOP/s, loss ${losses[0]} → ${losses.at(-1)}`);
    console.log(baseline.ok
      ? `baseline (no warm-up decode: ggml's default threads): steps 2-${COMPARE_STEPS}, ${baseline.tokensPerS.toFixed(1)} useful tok/s; the trainer on the same steps ${head.tokensPerS.toFixed(1)} useful tok/s; trainer/baseline ×${(head.tokensPerS / baseline.tokensPerS).toFixed(1)}`
      : `baseline (no warm-up decode: ggml's default threads): failed (${baseline.reason})`);
    console.log(`train bench: ${full.tokensPerS.toFixed(0)} useful tok/s (${full.slotsPerS.toFixed(0)} slots/s), MFU ${share(full.tokensPerS)} of measured peak on useful tokens (${share(full.slotsPerS)} counting padding)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
