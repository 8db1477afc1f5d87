import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { promptTokens } from '../../main/inference/prompt-tokens.js';
import { addLocalModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { dispatch } from '../../main/services/dispatch.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { TrainingJobs } from '../../main/training/jobs.js';
import { trainerBinary } from '../../main/training/trainer-binary.js';
import type { TrainerEvent } from '../../main/training/trainer-process.js';
import type { TrainingConfig, TrainingRunInfo } from '../../preload/contract.js';
import { tooLongNote } from '../../main/cli/commands/train.js';
import { expectAppError } from '../helpers/errors.js';
import { repoRoot } from '../helpers/fs.js';
import { trainerPids } from '../helpers/processes.js';

/**
 * The real native trainer (@qvac/fabric's llama.cpp fork) on a generated 0.5M-parameter model,
 * on CPU with one thread (the other core belongs to the other test worker).
 */
let dir: string;
let store: Store;
let runtime: LlamaRuntime;
let modelId: number;
let modelFile: string;

const PROMPT = completionPrompt({ text: 'Write a function to add two numbers.', exampleTest: 'assert add(1, 2) == 3', codePrefix: null });
const PROGRAM = 'def add(a, b):\n    return a + b\n';
const OVERFIT: Partial<TrainingConfig> = {
  epochs: 300, learningRate: 3e-4, contextSize: 128, validationFraction: 0, threads: 1, checkpointEvery: 0,
  targetModules: ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'ffn_gate', 'ffn_up', 'ffn_down', 'output'],
};

function trainingFile(name: string, rows: readonly { prompt: string; completion: string }[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

function fileSet(file: string): number {
  return store.training.createFileTrainingSet(path.basename(file), file, 'test');
}

const runCount = (): number => store.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM training_runs').get()?.n ?? 0;

/** Greedy continuation of the prompt, with or without a LoRA adapter. */
async function greedy(model: LlamaModel, adapter: string | undefined, maxTokens = 40): Promise<string> {
  const context = await model.createContext({ contextSize: 256, ...(adapter ? { lora: { adapters: [{ filePath: adapter, scale: 1 }] } } : {}) });
  try {
    const out = [];
    for await (const token of context.getSequence().evaluate(promptTokens(model, PROMPT, 'completion'), { temperature: 0 })) {
      if (token === model.tokens.eos || out.length >= maxTokens) break;
      out.push(token);
    }
    return model.detokenize(out);
  } finally {
    await context.dispose();
  }
}

/** Trainer processes working on this file's run (its exact data file: never another test file's trainer). */
const trainerPidsOf = (runId: number): number[] => trainerPids(path.join(dir, 'training', `run-${runId}`, 'data.jsonl'));

function jobs(events: TrainerEvent[] = []): TrainingJobs {
  return new TrainingJobs({ store, dataDir: dir, runtime: () => runtime, onEvent: (_id, e) => events.push(e), stopTimeoutMs: 30_000 });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'ilf-training-'));
  store = Store.open(path.join(dir, 'ilf.sqlite'));
  runtime = new LlamaRuntime({ threads: 1 });
  modelFile = path.join(dir, 'tiny.gguf');
  await writeTinyModel(modelFile, specForParams('500K', { seed: 1 }));
  modelId = (await addLocalModel(store, runtime, modelFile)).model.id;
}, 60_000);

afterAll(async () => {
  await runtime.dispose();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('LoRA training on the GGUF itself', () => {
  it('overfits a program: loss falls, the adapter loads in node-llama-cpp and greedy decoding then writes the trained program', async () => {
    const events: TrainerEvent[] = [];
    const runner = jobs(events);
    const set = fileSet(trainingFile('one.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]));
    const started = await runner.start({ modelId, trainingSetId: set, config: OVERFIT });
    expect(started.status).toBe('running');
    const run = await runner.wait(started.id);
    expect(run.status).toBe('completed');
    expect(run.step).toBe(300);

    // The loss series is in SQLite, one row per step, and it falls.
    const losses = store.training.metrics(run.id).filter((m) => m.phase === 'train').map((m) => m.loss);
    expect(losses).toHaveLength(300);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)) / 5);
    const lastTrain = events.filter((e) => e.phase === 'train').at(-1);
    expect(lastTrain?.phase === 'train' && lastTrain.accuracy).toBe(1);

    // The adapter is registered against the base model and applies in node-llama-cpp.
    const adapter = store.models.adapters(modelId).find((a) => a.trainingRunId === run.id);
    expect(adapter?.id).toBe(run.adapterId);
    expect(adapter?.rank).toBe(8);
    const model = await (await runtime.get()).loadModel({ modelPath: modelFile });
    try {
      expect(await greedy(model, undefined)).not.toBe(PROGRAM);
      expect(await greedy(model, adapter?.path)).toBe(PROGRAM);
    } finally {
      await model.dispose();
    }
  }, 120_000);

  it('a later round continues training an adapter (--init-adapter): it starts where that adapter left off', async () => {
    const previous = store.models.adapters(modelId).find((a) => a.trainingRunId !== null);
    expect(previous).toBeDefined();
    const events: TrainerEvent[] = [];
    const runner = jobs(events);
    const set = fileSet(trainingFile('round2.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]));
    const run = await runner.wait((await runner.start({ modelId, trainingSetId: set, baseAdapterId: previous?.id ?? null, config: { ...OVERFIT, epochs: 3 } })).id);
    expect(run).toMatchObject({ status: 'completed', baseAdapterId: previous?.id });
    const continued = events.find((e) => e.phase === 'train');
    const fresh = store.training.metrics(previous?.trainingRunId ?? 0).find((m) => m.phase === 'train');
    expect(continued?.phase === 'train' && continued.loss).toBeLessThan((fresh?.loss ?? 0) / 5);
    await expectAppError(runner.start({ modelId, trainingSetId: set, baseAdapterId: 9999 }), 'BAD_INPUT', /adapter 9999 is not an adapter of/);
  }, 60_000);

  it('stops mid-run with a usable adapter, then resumes from the saved step rather than from zero', async () => {
    const events: TrainerEvent[] = [];
    const runner = jobs(events);
    const set = fileSet(trainingFile('two.jsonl', [
      { prompt: PROMPT, completion: PROGRAM },
      { prompt: completionPrompt({ text: 'Write a function to square a number.', exampleTest: 'assert square(3) == 9', codePrefix: null }), completion: 'def square(x):\n    return x * x\n' },
    ]));
    const started = await runner.start({ modelId, trainingSetId: set, config: { ...OVERFIT, epochs: 150, checkpointEvery: 10 } });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (events.some((e) => e.phase === 'train' && e.step >= 25)) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
    runner.stop(started.id);
    const stopped = await runner.wait(started.id);
    expect(stopped.status).toBe('cancelled');
    expect(stopped.step).toBeGreaterThanOrEqual(25);
    expect(stopped.step).toBeLessThan(300);
    expect(stopped.adapterId).toBeNull(); // only a finished run registers its adapter
    const final = events.find((e) => e.phase === 'stopped');
    expect(final?.phase === 'stopped' && final.step).toBe(stopped.step);

    // The adapter written on stop loads and changes what the model writes.
    const adapterFile = path.join(dir, 'training', `run-${started.id}`, 'adapter.gguf');
    const model = await (await runtime.get()).loadModel({ modelPath: modelFile });
    try {
      expect(await greedy(model, adapterFile, 12)).not.toBe(await greedy(model, undefined, 12));
    } finally {
      await model.dispose();
    }

    events.length = 0;
    const resumed = await runner.resume(started.id);
    expect(resumed.status).toBe('running');
    const done = await runner.wait(started.id);
    expect(done.status).toBe('completed');
    const start = events.find((e) => e.phase === 'start');
    expect(start?.phase === 'start' && start.resumed_from_step).toBe(stopped.step);
    const firstStep = events.find((e) => e.phase === 'train');
    expect(firstStep?.phase === 'train' && firstStep.step).toBe(stopped.step + 1);
    // One loss per step over both attempts: nothing lost, nothing twice.
    const steps = store.training.metrics(started.id).filter((m) => m.phase === 'train').map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  }, 120_000);

  it('a run whose process died shows as interrupted at the next start and resumes from its checkpoint', async () => {
    const data = trainingFile('cli.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]);
    const cli = spawn(process.execPath, [path.join(repoRoot, 'dist', 'main', 'cli', 'bin.js'), '--data-dir', dir, 'train', '--model', String(modelId),
      '--data', data, '--epochs', '400', '--context', '128', '--lr', '3e-4', '--validation', '0', '--threads', '1', '--checkpoint-every', '10'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    // Wait for a checkpoint at step 20 or later, then kill the CLI outright (no graceful stop).
    const savedStep = (id: number): number => {
      const file = path.join(dir, 'training', `run-${id}`, 'checkpoints', 'latest.json');
      return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { step: number }).step : 0;
    };
    const runId = await new Promise<number>((resolve, reject) => {
      const poll = setInterval(() => {
        const row = store.db.prepare<[], { id: number; status: string }>('SELECT id, status FROM training_runs ORDER BY id DESC LIMIT 1').get();
        if (row && row.status === 'running' && savedStep(row.id) >= 20 && trainerPidsOf(row.id).length === 1) {
          clearInterval(poll);
          resolve(row.id);
        }
      }, 10);
      cli.once('exit', () => { clearInterval(poll); reject(new Error('the CLI ended before it was killed')); });
    });
    cli.kill('SIGKILL');
    await new Promise((resolve) => cli.once('exit', resolve));
    // The trainer sees its stdin close, checkpoints and exits by itself; wait for it to let go.
    const ownerPid = store.db.prepare<[number], { owner_pid: number }>('SELECT owner_pid FROM training_runs WHERE id = ?').get(runId)?.owner_pid;
    expect(ownerPid).toBe(cli.pid);
    await expect.poll(() => trainerPidsOf(runId).length, { timeout: 20_000, interval: 50 }).toBe(0);
    expect(store.training.get(runId)?.status).toBe('running'); // nobody has looked yet

    const runner = jobs(); // "the app starts again"
    const interrupted = runner.get(runId);
    expect(interrupted.status).toBe('interrupted');
    const saved = { step: savedStep(runId) };
    expect(saved.step).toBeGreaterThanOrEqual(20);
    const events: TrainerEvent[] = [];
    const again = new TrainingJobs({ store, dataDir: dir, runtime: () => runtime, onEvent: (_id, e) => events.push(e) });
    await again.resume(runId);
    const done = await again.wait(runId);
    expect(done.status).toBe('completed');
    const start = events.find((e) => e.phase === 'start');
    expect(start?.phase === 'start' && start.resumed_from_step).toBe(saved.step);
    // Steps the killed CLI never recorded (its trainer went on to the checkpoint alone) come from the trainer's metrics file.
    const steps = store.training.metrics(runId).filter((m) => m.phase === 'train').map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  }, 120_000);

  it('a crashed trainer fails the run with the end of its log', async () => {
    const events: TrainerEvent[] = [];
    const runner = jobs(events);
    const set = fileSet(trainingFile('crash.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]));
    const started = await runner.start({ modelId, trainingSetId: set, config: { ...OVERFIT, epochs: 5000 } });
    await expect.poll(() => events.some((e) => e.phase === 'train'), { timeout: 20_000, interval: 5 }).toBe(true);
    const [pid] = trainerPidsOf(started.id);
    expect(pid).toBeGreaterThan(0);
    // One compute thread as configured (plus the stdin watcher): without the trainer's warm-up decode
    // the fork's training path ran ggml's default of 4 busy threads (5 here), ~15-200× slower on 2 cores.
    expect(fs.readdirSync(`/proc/${pid}/task`)).toHaveLength(2);
    process.kill(pid ?? 0, 'SIGSEGV');
    const run = await runner.wait(started.id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/SIGSEGV/);
    expect(run.logTail).toMatch(/ilf-trainer: .*parameters, 1 threads/);
  }, 60_000);

  it('the trainer\'s own refusal reaches the run: rows longer than the context', async () => {
    const runner = jobs();
    const set = fileSet(trainingFile('long.jsonl', [{ prompt: PROMPT, completion: PROGRAM.repeat(20) }]));
    const started = await runner.start({ modelId, trainingSetId: set, config: { ...OVERFIT, contextSize: 64 } });
    const run = await runner.wait(started.id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/longer than contextSize \(64 tokens\); raise it/);
  }, 30_000);
});

describe('ilf train', () => {
  const ilf = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'main', 'cli', 'bin.js'), '--data-dir', dir, ...args], { encoding: 'utf8' });

  it('trains from a JSONL file into --out, registers the adapter and lists the run', () => {
    const data = trainingFile('cli-short.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]);
    const out = path.join(dir, 'cli-out');
    const r = ilf(['train', '--model', String(modelId), '--data', data, '--epochs', '5', '--context', '128', '--threads', '1', '--out', out, '--json']);
    expect(r.status).toBe(0);
    const run = JSON.parse(r.stdout) as { id: number; status: string; step: number; adapterId: number; config: { rank: number; threads: number } };
    expect(run).toMatchObject({ status: 'completed', step: 5, config: { rank: 8, threads: 1 } });
    expect(fs.existsSync(path.join(out, 'adapter.gguf'))).toBe(true);
    expect(store.models.adapter(run.adapterId)?.path).toBe(path.join(out, 'adapter.gguf'));
    const list = ilf(['train', '--list']);
    expect(list.stdout).toMatch(new RegExp(`\\n${run.id}\\s+completed\\s+${modelId}\\s+\\d+\\s+5/5\\s+${run.adapterId}\\n`));
  }, 60_000);

  it('says what is missing or wrong, with usage errors exiting 2 and bad data 1', () => {
    expect(ilf(['train', '--model', String(modelId)])).toMatchObject({ status: 2, stderr: expect.stringMatching(/one of --data FILE.jsonl or --training-set ID/) });
    expect(ilf(['train', '--data', 'x.jsonl'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/needs --model ID/) });
    expect(ilf(['train', '--model', String(modelId), '--data', trainingFile('r.jsonl', [{ prompt: 'a', completion: 'b' }]), '--rank', '0']))
      .toMatchObject({ status: 1, stderr: expect.stringMatching(/rank must be at least 1/) });
    const bad = path.join(dir, 'bad-lines.jsonl');
    fs.writeFileSync(bad, '{"prompt": "a", "completion": "b"}\nnot json\n{"messages": [{"role": "user", "content": "q"}]}\n');
    const r = ilf(['train', '--model', String(modelId), '--data', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/2 malformed lines \(first: line 2: .*\); nothing was trained/);
    expect(ilf(['train', '--resume', '9999'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/no training run 9999/) });
  });
});

describe('bad input is refused before anything starts', () => {
  it('rank 0, learning rate ≤ 0, an empty training set, a K-quant base, a missing model file', async () => {
    const runner = jobs();
    const good = fileSet(trainingFile('ok.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]));
    const before = runCount();
    await expectAppError(runner.start({ modelId, trainingSetId: good, config: { rank: 0 } }), 'BAD_INPUT', /rank must be at least 1/);
    await expectAppError(runner.start({ modelId, trainingSetId: good, config: { learningRate: 0 } }), 'BAD_INPUT', /learning rate must be greater than 0/);
    await expectAppError(runner.start({ modelId, trainingSetId: good, config: { learningRate: -1e-4 } }), 'BAD_INPUT', /learning rate must be greater than 0/);
    const empty = store.lineage.createTrainingSet('nothing accepted yet');
    await expectAppError(runner.start({ modelId, trainingSetId: empty }), 'BAD_INPUT', /training set \d+ is empty/);
    await expectAppError(runner.start({ modelId, trainingSetId: 9999 }), 'NOT_FOUND', /no training set with id 9999/);

    const kquant = store.models.add({ name: 'big Q4_K_M', path: modelFile, sha256: 'k'.repeat(64), architecture: 'llama', quantization: 'Q4_K_M', sizeBytes: 1, hasChatTemplate: false });
    await expectAppError(runner.start({ modelId: kquant.id, trainingSetId: good }), 'BAD_INPUT', /quantized as Q4_K_M, which the trainer cannot train on/);
    const gone = store.models.add({ name: 'moved', path: path.join(dir, 'moved.gguf'), sha256: 'm'.repeat(64), architecture: 'llama', quantization: 'F16', sizeBytes: 1, hasChatTemplate: false });
    await expectAppError(runner.start({ modelId: gone.id, trainingSetId: good }), 'NOT_FOUND', /file of model moved is missing/);
    const missingSet = store.training.createFileTrainingSet('x', path.join(dir, 'deleted.jsonl'), 'x');
    await expectAppError(runner.start({ modelId, trainingSetId: missingSet }), 'NOT_FOUND', /deleted\.jsonl, which no longer exists/);
    expect(runCount()).toBe(before);
  });

  it('through the contract: the inference model is unloaded before training, progress is pushed, the run is readable', async () => {
    const own = new LlamaRuntime({ threads: 1 });
    const progress: unknown[] = [];
    const handlers = createHandlers({ store, dataDir: dir, version: 'test', emit: (name, p) => { if (name === 'training.progress') progress.push(p); }, runtime: () => own });
    const loaded = await (await own.get()).loadModel({ modelPath: modelFile });
    const set = fileSet(trainingFile('contract.jsonl', [{ prompt: PROMPT, completion: PROGRAM }]));
    const started = await dispatch(handlers, 'training.start', { modelId, trainingSetId: set, config: { epochs: 20, contextSize: 128, threads: 1, validationFraction: 0 } });
    expect(started.ok).toBe(true);
    expect(loaded.disposed).toBe(true);
    const runId = started.ok ? (started.value as { id: number }).id : 0;
    await expect.poll(async () => {
      const r = await dispatch(handlers, 'training.get', { runId });
      return r.ok ? (r.value as { run: { status: string } }).run.status : 'error';
    }, { timeout: 30_000, interval: 50 }).toBe('completed');
    const got = await dispatch(handlers, 'training.get', { runId });
    expect(got.ok && (got.value as { metrics: unknown[] }).metrics).toHaveLength(20);
    expect(progress.at(-1)).toMatchObject({ runId, status: 'completed', step: 20, totalSteps: 20 });
    expect(progress.length).toBeLessThan(20); // throttled, not one message per step
    await own.dispose();
  }, 60_000);

  it('the contract refuses a bad config at the boundary, naming the field', async () => {
    const handlers = createHandlers({ store, dataDir: dir, version: 'test', emit: () => undefined, runtime: () => runtime });
    const r = await dispatch(handlers, 'training.start', { modelId, trainingSetId: 1, config: { rank: 0, learningRate: 0 } });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toMatch(/rank must be at least 1/);
    expect(!r.ok && r.error.message).toMatch(/learning rate must be greater than 0/);
  });

  it('the trainer binary refuses a file that is not GGUF and a malformed training line, with exit code 2', () => {
    const config = path.join(dir, 'cfg.json');
    fs.writeFileSync(config, JSON.stringify({ contextSize: 64, threads: 1 }));
    const notGguf = path.join(dir, 'notes.gguf');
    fs.writeFileSync(notGguf, 'these are notes, not a model');
    const data = trainingFile('t.jsonl', [{ prompt: 'a', completion: 'b' }]);
    const run = (model: string, file: string): { status: number | null; line: { phase: string; message: string } } => {
      const r = spawnSync(trainerBinary(), ['--model', model, '--data', file, '--config', config, '--out', path.join(dir, 'x.gguf')], { encoding: 'utf8' });
      return { status: r.status, line: JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { phase: string; message: string } };
    };
    const notModel = run(notGguf, data);
    expect(notModel.status).toBe(2);
    expect(notModel.line.message).toMatch(/could not load .*notes\.gguf/);
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, '{"prompt": "a", "completion": "b"}\n{"prompt": "only a prompt"}\n');
    const badLine = run(modelFile, bad);
    expect(badLine.status).toBe(2);
    expect(badLine.line.message).toMatch(/line 2 of .*bad\.jsonl needs/);
    expect(fs.existsSync(path.join(dir, 'x.gguf'))).toBe(false);
  });
});

describe('training computes on tokens, not padding', () => {
  /** Rows of very different lengths: programs of 1 to 40 lines. */
  const rows = (n: number): { prompt: string; completion: string }[] => Array.from({ length: n }, (_, i) => ({
    prompt: completionPrompt({ text: `Write function number ${i}.`, exampleTest: `assert f${i}() == ${i}`, codePrefix: null }),
    completion: `def f${i}():\n${'    x = 1\n'.repeat(1 + ((i * 7) % 40))}    return ${i}\n`,
  }));

  it('--plan: contexts sized from the data in length groups compute fewer tokens than one fixed context; rows too long are named by line', () => {
    const data = trainingFile('mixed.jsonl', [...rows(24), { prompt: PROMPT, completion: 'x = 1\n'.repeat(200) }]);
    const config = path.join(dir, 'plan.json');
    const plan = (lengthGroups: number): Extract<TrainerEvent, { phase: 'plan' }> => {
      fs.writeFileSync(config, JSON.stringify({ contextSize: 512, threads: 1, validationFraction: 0, lengthGroups }));
      const r = spawnSync(trainerBinary(), ['--model', modelFile, '--data', data, '--config', config, '--plan'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Extract<TrainerEvent, { phase: 'plan' }>;
    };
    const grouped = plan(6);
    const single = plan(1);
    expect(grouped).toMatchObject({ phase: 'plan', train: 24, skipped_too_long: 1, too_long_lines: [25] });
    expect(grouped.groups?.reduce((n, g) => n + g.examples, 0)).toBe(24);
    expect(grouped.groups?.length).toBeGreaterThan(1);
    for (const g of grouped.groups ?? []) expect(g.context % 32 === 0 && g.context <= 512).toBe(true);
    // One context for all is sized from the longest row (not 512); groups compute less still.
    expect(single.groups).toHaveLength(1);
    expect(single.computed_tokens_per_epoch).toBeLessThan(single.fixed_context_tokens_per_epoch ?? 0);
    expect(grouped.computed_tokens_per_epoch).toBeLessThan(single.computed_tokens_per_epoch ?? 0);
    expect((grouped.useful_tokens_per_epoch ?? 0) / (grouped.computed_tokens_per_epoch ?? 1)).toBeGreaterThan(0.8);
  });

  it('a run over several length groups trains (loss falls), reports useful beside computed tok/s, and records the rows left out', async () => {
    const events: TrainerEvent[] = [];
    const runner = jobs(events);
    const set = fileSet(trainingFile('groups.jsonl', [...rows(8), { prompt: PROMPT, completion: 'x = 1\n'.repeat(200) }]));
    const started = await runner.start({ modelId, trainingSetId: set, config: { ...OVERFIT, epochs: 4, contextSize: 384, learningRate: 1e-3 } });
    expect(started.dataReport).toMatchObject({ limit: 384, tooLong: { count: 1, rows: [{ ref: 'line 9' }] } });
    const run = await runner.wait(started.id);
    expect(run.status).toBe('completed');
    expect(run.dataReport?.groups?.length).toBeGreaterThan(1);
    expect(run.dataReport?.usefulTokensPerEpoch).toBeLessThanOrEqual(run.dataReport?.computedTokensPerEpoch ?? 0);
    const steps = events.filter((e): e is Extract<TrainerEvent, { phase: 'train' }> => e.phase === 'train');
    expect(steps).toHaveLength(32);
    const last = steps.at(-1);
    expect(last?.slots_per_s).toBeGreaterThanOrEqual(last?.tokens_per_s ?? Infinity);
    const mean = (xs: readonly { loss: number }[]): number => xs.reduce((a, b) => a + b.loss, 0) / xs.length;
    expect(mean(steps.slice(-8))).toBeLessThan(mean(steps.slice(0, 8)));
  }, 120_000);

  it('the CLI names the rows left out', () => {
    const note = tooLongNote({ id: 3, dataReport: { limit: 256, tooLong: { count: 2, rows: [{ ref: 'line 4', tokens: 300 }, { ref: 'example 9', tokens: 999 }] } } } as TrainingRunInfo);
    expect(note).toMatch(/run 3: 2 rows are longer than 256 tokens and left out: line 4 \(300 tokens\), example 9 \(999 tokens\)/);
  });
});
