import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { addLocalModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { Store } from '../../main/store/store.js';
import { DEFAULT_STOP_TIMEOUT_MS, TrainingJobs } from '../../main/training/jobs.js';
import type { TrainerEvent } from '../../main/training/trainer-process.js';
import { trainerPids } from '../helpers/processes.js';

/**
 * Two README promises about training runs, on a generated 0.5M-parameter model: rows longer than
 * the context are skipped and counted; a stop that the trainer does not honour within the grace
 * period (a minute in the app, shortened here) ends in a kill.
 */
let dir: string;
let store: Store;
let runtime: LlamaRuntime;
let modelId: number;

const PROMPT = completionPrompt({ text: 'Write a function to add two numbers.', exampleTest: 'assert add(1, 2) == 3', codePrefix: null });
const PROGRAM = 'def add(a, b):\n    return a + b\n';

function fileSet(name: string, rows: readonly { prompt: string; completion: string }[]): number {
  const file = path.join(dir, name);
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return store.training.createFileTrainingSet(name, file, 'test');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-training-claims-'));
  store = Store.open(path.join(dir, 'ilf.sqlite'));
  runtime = new LlamaRuntime({ threads: 1 });
  const modelFile = path.join(dir, 'tiny.gguf');
  await writeTinyModel(modelFile, specForParams('500K', { seed: 1 }));
  modelId = (await addLocalModel(store, runtime, modelFile)).model.id;
}, 60_000);

afterAll(async () => {
  await runtime.dispose();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('training runs', () => {
  it('rows longer than the context are skipped and counted; the rest train', async () => {
    const events: TrainerEvent[] = [];
    const jobs = new TrainingJobs({ store, dataDir: dir, runtime: () => runtime, onEvent: (_id, e) => events.push(e) });
    const set = fileSet('mixed.jsonl', [
      { prompt: PROMPT, completion: PROGRAM },
      { prompt: PROMPT, completion: PROGRAM.repeat(20) },
      { prompt: PROMPT, completion: PROGRAM.repeat(30) },
    ]);
    const run = await jobs.wait((await jobs.start({ modelId, trainingSetId: set, config: { epochs: 2, contextSize: 128, validationFraction: 0, threads: 1, checkpointEvery: 0 } })).id);
    expect(run, run.error ?? '').toMatchObject({ status: 'completed', step: 2 });
    expect(events.find((e) => e.phase === 'start')).toMatchObject({ examples: 1, train: 1, skipped_too_long: 2 });
    // Throughput counts the example's own tokens, not the padding that fills the 128-token context.
    const step = events.find((e) => e.phase === 'train');
    expect(step?.phase === 'train' && step.tokens_per_s).toBeGreaterThan(0);
    expect(step?.phase === 'train' && (step.slots_per_s ?? 0) > step.tokens_per_s).toBe(true);
  }, 60_000);

  it('a stop the trainer does not honour within the grace period (a minute by default) ends in a kill', async () => {
    expect(DEFAULT_STOP_TIMEOUT_MS).toBe(60_000); // the README's "a stop that takes over a minute is a kill"
    const events: TrainerEvent[] = [];
    const graceMs = 1500;
    const jobs = new TrainingJobs({ store, dataDir: dir, runtime: () => runtime, onEvent: (_id, e) => events.push(e), stopTimeoutMs: graceMs });
    const set = fileSet('long-run.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]);
    const started = await jobs.start({ modelId, trainingSetId: set, config: { epochs: 5000, contextSize: 128, validationFraction: 0, threads: 1, checkpointEvery: 0 } });
    await expect.poll(() => events.some((e) => e.phase === 'train'), { timeout: 30_000, interval: 10 }).toBe(true);
    const [pid] = trainerPids(path.join(dir, 'training', `run-${started.id}`, 'data.jsonl'));
    expect(pid).toBeGreaterThan(0);
    // A trainer that cannot answer (frozen): the stop line is never read, so only the kill ends it.
    process.kill(pid ?? 0, 'SIGSTOP');
    const stopAsked = Date.now();
    jobs.stop(started.id);
    const run = await jobs.wait(started.id);
    const waited = Date.now() - stopAsked;
    expect(waited).toBeGreaterThanOrEqual(graceMs - 50);
    expect(waited).toBeLessThan(graceMs + 20_000);
    expect(run.status).not.toBe('completed');
    expect(run.error).toMatch(/did not stop in time and was killed/);
    expect(events.some((e) => e.phase === 'stopped')).toBe(false);
    expect(trainerPids(path.join(dir, 'training', `run-${started.id}`, 'data.jsonl'))).toEqual([]);
  }, 60_000);
});
