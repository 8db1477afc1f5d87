/**
 * Shared by the benchmarks: the machine's limits measured in the same run (memory bandwidth, matmul
 * peak of a weight type) through the trainer binary's bench modes, and what a GGUF's weights cost.
 */
import { readGgufInfo, type GgufInfo } from '../../native-models/gguf/reader.js';
import { physicalCores } from '../../main/models/runtime.js';
import { trainerBinary } from '../../main/training/trainer-binary.js';
import { TrainerProcess, type TrainerEvent } from '../../main/training/trainer-process.js';

async function trainerLine<P extends TrainerEvent['phase']>(args: string[], phase: P): Promise<Extract<TrainerEvent, { phase: P }>> {
  const events: TrainerEvent[] = [];
  const exit = await new TrainerProcess(trainerBinary(), args, (e) => events.push(e)).exited;
  const line = events.find((e): e is Extract<TrainerEvent, { phase: P }> => e.phase === phase);
  if (!line) throw new Error(`ilf-trainer ${args.join(' ')} printed no ${phase} line (exit ${exit.code}): ${exit.error ?? exit.logTail.split('\n').at(-1) ?? ''}`);
  return line;
}

/** Read bandwidth in bytes/s with `threads` threads over a buffer far larger than the caches. */
export async function memoryBandwidth(threads: number, mib = 1024): Promise<number> {
  return (await trainerLine(['--bench-memory', String(mib), '--threads', String(threads)], 'memory')).bytes_per_s;
}

/** FLOP/s of an n×n weight matrix of `type` times `cols` columns (the sequences of a batch) on ggml's CPU backend. */
export async function matmulPeak(threads: number, options: { n?: number; cols?: number; type?: 'f32' | 'q8_0' } = {}): Promise<number> {
  const n = options.n ?? 2048;
  const args = ['--bench-matmul', String(n), '--threads', String(threads)];
  if (options.cols !== undefined) args.push('--cols', String(options.cols));
  if (options.type !== undefined) args.push('--type', options.type);
  return (await trainerLine(args, 'matmul')).flops;
}

/** Bytes per element of the weight types the generated models use (blocks of 32 for the quantized ones). */
const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, Q8_0: 34 / 32, Q4_0: 18 / 32 };

export interface WeightCost {
  /** Bytes one decode step reads: every matrix, plus the embedding only where it doubles as the output matrix. */
  bytesPerStep: number;
  /** Matmul FLOPs per token: 2 per weight of every matrix the token goes through (the output included). */
  flopsPerToken: number;
  info: GgufInfo;
}

export async function weightCost(file: string): Promise<WeightCost> {
  const info = await readGgufInfo(file);
  const tied = !info.tensors.some((t) => t.name === 'output.weight');
  let bytes = 0;
  let flops = 0;
  for (const t of info.tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    const per = BYTES_PER_ELEMENT[t.type];
    if (per === undefined) throw new Error(`no byte size known for ${t.type} (${t.name})`);
    // The embedding is looked up (one row per token) unless it is also the output matrix.
    if (t.name === 'token_embd.weight' && !tied) continue;
    bytes += elements * per;
    if (t.dims.length === 2) flops += 2 * elements;
  }
  return { bytesPerStep: bytes, flopsPerToken: flops, info };
}

/** Threads for a benchmark: the physical cores, or BENCH_THREADS (on a machine others share, 1 avoids ggml's spinning collapse). */
export function benchThreads(): number {
  const given = Number(process.env.BENCH_THREADS);
  return Number.isInteger(given) && given > 0 ? given : physicalCores();
}
