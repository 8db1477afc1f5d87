import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { promptTokens } from '../../main/inference/prompt-tokens.js';
import { TRAINER_EXIT, TrainerEvent, TrainerProcess, type TrainerExit } from '../../main/training/trainer-process.js';
import { portableTrainer } from '../helpers/portable-trainer.js';

/**
 * The trainer of the other desktops, on a generated 0.5M-parameter model. On Linux: the Windows
 * trainer (ilf-trainer.exe cross-compiled with mingw-w64, loading the fork's win32-x64 DLL with
 * LoadLibrary/GetProcAddress) under Wine, on CPU, its adapters read back by node-llama-cpp on Linux.
 * On macOS and Windows (the CI workflow): the trainer built natively there (Metal on Apple Silicon).
 * Few steps and one thread: Wine adds only its start-up (a few seconds warm; its prefix is made once
 * by .ci/setup-win, outside the clone).
 */
const trainer = portableTrainer();

const PROMPT = completionPrompt({ text: 'Write a function to add two numbers.', exampleTest: 'assert add(1, 2) == 3', codePrefix: null });
const PROGRAM = 'def add(a, b):\n    return a + b\n';

let dir: string;
let modelFile: string;
let dataFile: string;
let llama: Llama;
let model: LlamaModel;

function config(name: string, fields: Record<string, unknown>): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({
    epochs: 40, learningRate: 1e-3, contextSize: 128, validationFraction: 0, threads: 1, checkpointEvery: 0, ...fields,
  }));
  return file;
}

/** One run of the trainer through the app's own TrainerProcess; `onEvent` may ask it to stop. */
function train(args: string[], onEvent: (e: TrainerEvent, p: TrainerProcess) => void = () => undefined): { events: TrainerEvent[]; exited: Promise<TrainerExit> } {
  const events: TrainerEvent[] = [];
  const child: TrainerProcess = new TrainerProcess(trainer.command, [...trainer.prefix, ...args], (e) => {
    events.push(e);
    onEvent(e, child);
  }, { env: trainer.env });
  return { events, exited: child.exited };
}

const baseArgs = (cfg: string, out: string, checkpoints?: string): string[] => [
  '--model', trainer.path(modelFile), '--data', trainer.path(dataFile), '--config', trainer.path(cfg), '--out', trainer.path(out),
  ...(checkpoints ? ['--checkpoint-dir', trainer.path(checkpoints)] : []),
];

/** Greedy continuation of the prompt in node-llama-cpp on Linux, with or without an adapter. */
async function greedy(adapter: string | undefined, maxTokens = 20): Promise<string> {
  // One thread: ggml's workers spin at their barriers, and the other core belongs to the other test worker.
  const context = await model.createContext({ contextSize: 256, threads: 1, ...(adapter ? { lora: { adapters: [{ filePath: adapter, scale: 1 }] } } : {}) });
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

const losses = (events: readonly TrainerEvent[]): number[] => events.flatMap((e) => (e.phase === 'train' ? [e.loss] : []));
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe.skipIf(!trainer.available)(`${trainer.label}${trainer.reason ? ` (skipped: ${trainer.reason})` : ''}`, () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-portable-trainer-'));
    modelFile = path.join(dir, 'tiny.gguf');
    await writeTinyModel(modelFile, specForParams('500K', { seed: 1 }));
    dataFile = path.join(dir, 'train.jsonl');
    fs.writeFileSync(dataFile, JSON.stringify({ prompt: PROMPT, completion: PROGRAM }) + '\n');
    llama = await getLlama({ gpu: false });
    model = await llama.loadModel({ modelPath: modelFile });
  }, 60_000);

  afterAll(async () => {
    await model?.dispose();
    await llama?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists the devices it can compute on (what `ilf hardware` reports for training), through the fork it loaded', () => {
    const r = spawnSync(trainer.command, [...trainer.prefix, '--list-devices'], { env: trainer.env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const listed = TrainerEvent.parse(JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}'));
    expect(listed.phase).toBe('devices');
    const devices = listed.phase === 'devices' ? listed.devices : [];
    expect(devices.filter((d) => d.type === 'cpu')).toEqual([expect.objectContaining({ backend: 'CPU' })]);
    if (process.platform === 'darwin' && process.arch === 'arm64') expect(devices.map((d) => d.backend)).toContain('MTL');
  }, 60_000);

  // The exe alone in a folder, then beside a DLL that is not the fork (a mingw runtime DLL): each refusal names what is wrong.
  it.skipIf(process.platform !== 'linux')('a missing fork DLL, or one without the functions, is named in the error line', () => {
    const exe = trainer.prefix[0] ?? '';
    const alone = path.join(dir, 'alone');
    fs.mkdirSync(alone);
    fs.copyFileSync(exe, path.join(alone, 'ilf-trainer.exe'));
    const run = (): { status: number | null; line: { phase?: string; message?: string } } => {
      const r = spawnSync(trainer.command, [path.join(alone, 'ilf-trainer.exe'), '--list-devices'], { env: trainer.env, encoding: 'utf8', timeout: 60_000 });
      return { status: r.status, line: JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { phase?: string; message?: string } };
    };
    const missing = run();
    expect(missing.status).toBe(1);
    expect(missing.line.message).toMatch(/^cannot load the llama\.cpp fork .*qvac__fabric\.bare: .*\(the file is missing: reinstall the app or run `npm run build:trainer`\)$/);
    fs.copyFileSync('/usr/lib/gcc/x86_64-w64-mingw32/12-posix/libssp-0.dll', path.join(alone, 'qvac__fabric.bare'));
    const wrong = run();
    expect(wrong.status).toBe(1);
    expect(wrong.line.message).toMatch(/qvac__fabric\.bare does not export ggml_\w+, .*\bggml_backend_dev_count, .*\bllama_backend_init, .* \(a different @qvac\/fabric version than the trainer was built for\?\)$/);
  }, 60_000);

  it('trains on CPU: the loss falls, and the adapter loads in node-llama-cpp on Linux and changes what the model writes', async () => {
    const out = path.join(dir, 'adapter.gguf');
    const run = train(baseArgs(config('full.json', {}), out));
    const exit = await run.exited;
    expect(exit.error).toBeUndefined();
    expect(exit.code).toBe(TRAINER_EXIT.done);
    const series = losses(run.events);
    expect(series).toHaveLength(40);
    expect(series.every(Number.isFinite)).toBe(true);
    expect(mean(series.slice(-5))).toBeLessThan(mean(series.slice(0, 5)) / 2);
    expect(run.events.at(-1)).toMatchObject({ phase: 'done', step: 40, adapter: trainer.path(out) });

    expect(await greedy(out)).not.toBe(await greedy(undefined));
  }, 120_000);

  it('a `stop` line on stdin stops with a usable adapter and a checkpoint; --resume continues from that step', async () => {
    const out = path.join(dir, 'stopped.gguf');
    const checkpoints = path.join(dir, 'checkpoints');
    const cfg = config('stop.json', { epochs: 200, checkpointEvery: 5, learningRate: 3e-3 });
    let asked = false;
    const run = train(baseArgs(cfg, out, checkpoints), (e, p) => {
      if (e.phase === 'train' && e.step >= 10 && !asked) {
        asked = true;
        p.stop(60_000);
      }
    });
    const exit = await run.exited;
    expect(exit.code).toBe(TRAINER_EXIT.stopped);
    const stopped = run.events.at(-1);
    expect(stopped?.phase).toBe('stopped');
    const stoppedStep = stopped?.phase === 'stopped' ? stopped.step : 0;
    expect(stoppedStep).toBeGreaterThanOrEqual(10);
    expect(stoppedStep).toBeLessThan(200);
    const latest = JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8')) as { step: number };
    expect(latest.step).toBe(stoppedStep);
    expect(await greedy(out)).not.toBe(await greedy(undefined));

    // Resume: a short run of the remaining steps (same settings, so the checkpoint's fingerprint matches).
    const resumed = train([...baseArgs(cfg, out, checkpoints), '--resume', '--max-steps', '5']);
    const again = await resumed.exited;
    expect(again.error).toBeUndefined();
    expect(resumed.events.find((e) => e.phase === 'start')).toMatchObject({ resumed_from_step: stoppedStep });
    const steps = resumed.events.flatMap((e) => (e.phase === 'train' ? [e.step] : []));
    expect(steps).toEqual([1, 2, 3, 4, 5].map((i) => stoppedStep + i));
    // It continued the trained adapter rather than a fresh one: its loss starts where the stopped run ended.
    expect(losses(resumed.events)[0]).toBeLessThan(losses(run.events)[0] ?? 0);
  }, 120_000);

  it('stdin closing (the app went away) also stops with a checkpoint and an adapter', async () => {
    const out = path.join(dir, 'orphan.gguf');
    const checkpoints = path.join(dir, 'orphan-checkpoints');
    const args = [...trainer.prefix, ...baseArgs(config('orphan.json', { epochs: 200, checkpointEvery: 0 }), out, checkpoints), '--stop-on-stdin-eof'];
    const child = spawn(trainer.command, args, { env: trainer.env, stdio: ['pipe', 'pipe', 'ignore'] });
    const lines: string[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.some((l) => l.includes('"phase":"train"') && l.includes('"step":3,')) && child.stdin.writable) child.stdin.end();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(TRAINER_EXIT.stopped);
    const last = JSON.parse(lines.at(-1) ?? '{}') as { phase?: string; step?: number };
    expect(last.phase).toBe('stopped');
    expect(fs.statSync(out).size).toBeGreaterThan(0);
    expect((JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8')) as { step: number }).step).toBe(last.step);
  }, 60_000);
});
