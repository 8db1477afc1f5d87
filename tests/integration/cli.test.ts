import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ilf, requireBuiltCli } from '../helpers/cli.js';
import { sharedData, tempDir, writeLines } from '../helpers/fs.js';
import { backendCases } from '../helpers/sandbox.js';

beforeAll(requireBuiltCli);

const backends = await backendCases();

describe('ilf CLI', () => {
  it('imports MBPP and HumanEval, lists tasks as JSON with split counts, and a second import changes nothing', async () => {
    const dir = tempDir();
    const first = await ilf(['--data-dir', dir, 'import', sharedData('mbpp.jsonl'), '--format', 'mbpp']);
    expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/974 added.*\nsplits: prompt 10 \/ test 100 \/ refine 200 \/ train 664/) });
    const dbFile = path.join(dir, 'ilf.sqlite');
    expect(fs.existsSync(dbFile)).toBe(true);

    const again = await ilf(['--data-dir', dir, 'import', sharedData('mbpp.jsonl'), '--format', 'mbpp']);
    expect(again.stdout).toMatch(/0 added, 0 updated, 974 unchanged/);

    const he = await ilf(['import', sharedData('humaneval.jsonl'), '--format', 'humaneval'], { ILF_DATA_DIR: dir });
    expect(he.stdout).toMatch(/164 added/);

    const list = await ilf(['--data-dir', dir, 'tasks', '--dataset', 'mbpp', '--json']);
    expect(list.code).toBe(0);
    const tasks = JSON.parse(list.stdout) as { dataset: string; taskId: string; split: string }[];
    expect(tasks).toHaveLength(974);
    const counts: Record<string, number> = {};
    for (const t of tasks) counts[t.split] = (counts[t.split] ?? 0) + 1;
    expect(counts).toEqual({ prompt: 10, test: 100, refine: 200, train: 664 });
    expect(tasks[0]).toMatchObject({ dataset: 'mbpp', taskId: '1', split: 'prompt' });

    const testSplit = JSON.parse((await ilf(['--data-dir', dir, 'tasks', '--split', 'test', '--json'])).stdout) as unknown[];
    expect(testSplit).toHaveLength(100 + 164);
  });

  it('exits non-zero with a one-line reason on bad input', async () => {
    const dir = tempDir();
    const cases: [string[], number, RegExp][] = [
      [['import', path.join(dir, 'missing.jsonl'), '--format', 'mbpp'], 1, /^ilf: .*missing\.jsonl does not exist — check the path/],
      [['import', sharedData('mbpp.jsonl')], 2, /^ilf: import needs --format/],
      [['import', sharedData('mbpp.jsonl'), '--format', 'csv'], 2, /^ilf: unknown --format csv/],
      [['frobnicate'], 2, /^ilf: unknown command "frobnicate"/],
      [['tasks', '--bogus'], 2, /^ilf: Unknown option '--bogus'/],
      [['task', 'mbpp', '99999'], 1, /^ilf: no task 99999 in dataset "mbpp"/],
    ];
    for (const [args, code, pattern] of cases) {
      const r = await ilf(['--data-dir', dir, ...args]);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr.split('\n')[0], args.join(' ')).toMatch(pattern);
      expect(r.stdout).toBe('');
    }
    const broken = writeLines(dir, 'broken.jsonl', ['{"task_id": 1, "text": "a", "code": "", "test_list": ["assert 1"]}', 'not json']);
    const r = await ilf(['--data-dir', dir, 'import', broken, '--format', 'mbpp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ilf: .*1 malformed line \(first: line 2: not valid JSON.*nothing was imported — fix the listed lines/);
    expect(r.stderr).toMatch(/\n {2}line 2: not valid JSON/);
  });

  it('refuses a database from a newer version without touching it', async () => {
    const dir = tempDir();
    await ilf(['--data-dir', dir, 'info']);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(dir, 'ilf.sqlite'));
    db.pragma('user_version = 999');
    db.close();
    const r = await ilf(['--data-dir', dir, 'datasets']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ilf: .*schema version 999.*newer ILF Studio/);
  });
});

let sampledDir: string | undefined; // the data folder of the run sampled below, tested on each sandbox after it
afterAll(() => { if (sampledDir) fs.rmSync(sampledDir, { recursive: true, force: true }); });

describe('ilf models, hardware and sample', () => {
  it('makes a model, registers it and an adapter, reports hardware, and samples', async () => {
    // Kept until the file ends: the sandbox suites below test this run.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-cli-sampled-'));
    sampledDir = dir;
    const model = path.join(dir, 'tiny.gguf');
    const adapter = path.join(dir, 'tiny-lora.gguf');
    const made = await ilf(['--data-dir', dir, 'dev', 'make-model', '--out', model, '--params', '1M', '--adapter-out', adapter, '--json']);
    expect(made.code, made.stderr).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ model: { file: model }, adapter: { file: adapter } });

    expect((await ilf(['--data-dir', dir, 'models', 'add', model])).stdout).toMatch(/^added: model 1 /);
    expect((await ilf(['--data-dir', dir, 'models', 'add', model])).stdout).toMatch(/^already registered: model 1 /);
    expect((await ilf(['--data-dir', dir, 'models', 'add-adapter', adapter, '--model', '1'])).stdout).toMatch(/^added: adapter 1 .* for model 1/);
    const listed = JSON.parse((await ilf(['--data-dir', dir, 'models', 'list', '--json'])).stdout) as { models: { architecture: string; trainable: boolean }[]; adapters: unknown[] };
    expect(listed.models).toEqual([expect.objectContaining({ architecture: 'llama', trainable: true })]);
    expect(listed.adapters).toHaveLength(1);

    const hw = JSON.parse((await ilf(['hardware', '--json'])).stdout) as {
      platform: string; backend: string; threads: number; cpu: { physicalCores: number }; warnings: string[];
      training: { backend: string | null; devices: string[]; shipped: string[]; summary: string };
    };
    expect(hw.platform).toBe(`${process.platform}-${process.arch}`);
    expect(hw.backend).toBe('cpu');
    expect(hw.threads).toBe(hw.cpu.physicalCores);
    expect(hw.warnings.join(' ')).toMatch(/falling back to the CPU/);
    // Training's backend comes from the trainer itself (--list-devices): no GPU here, so its CPU device.
    expect(hw.training).toMatchObject({ backend: 'cpu', shipped: ['vulkan', 'rocm', 'cpu'] });
    expect(hw.training.devices).toEqual([expect.stringMatching(/^CPU: /)]);
    expect(hw.warnings.join(' ')).toMatch(/training will run on the CPU: the trainer found no Vulkan or ROCm device/);
    const text = (await ilf(['hardware'])).stdout;
    expect(text).toMatch(/^platform: linux-x64\nsampling: cpu( \(asked for auto\))?; available: .*cpu\ntraining: the CPU \(CPU: .*\); on linux-x64 the trainer can use Vulkan, ROCm, the CPU\n/);

    await ilf(['--data-dir', dir, 'import', sharedData('mbpp.jsonl'), '--format', 'mbpp']);
    // Started without a one-thread pool: the CLI re-runs itself with one for reproducible sampling.
    const sampled = await ilf(['--data-dir', dir, 'sample', '--model', '1', '--dataset', 'mbpp', '--split', 'test', '--n', '2', '--max-tokens', '8', '--limit', '1', '--threads', '1', '--json'], { UV_THREADPOOL_SIZE: '' });
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(JSON.parse(sampled.stdout)).toMatchObject({ tasks: 1, samplesCreated: 2 });
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(dir, 'ilf.sqlite'), { readonly: true });
    expect(JSON.parse((db.prepare('SELECT params FROM sampling_runs').get() as { params: string }).params)).toMatchObject({ reproducible: true });
    db.close();

    const notModel = path.join(dir, 'notes.gguf');
    fs.writeFileSync(notModel, 'not weights');
    const bad = await ilf(['--data-dir', dir, 'models', 'add', notModel]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ilf: .*not a GGUF file/);
    const noModel = await ilf(['--data-dir', dir, 'sample', '--model', '99', '--dataset', 'mbpp']);
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toMatch(/^ilf: no model with id 99/);
    expect((await ilf(['--data-dir', dir, 'sample', '--model', '1', '--dataset', 'mbpp', '--n', 'lots'])).stderr).toMatch(/^ilf: --n must be an integer/);
  }, 120_000);
});

describe.each(backends)('the sampled run on the $name sandbox', ({ name, available, reason }) => {
  describe.skipIf(!available)(available ? 'test-samples and the failures inbox' : `not here: ${reason ?? ''}`, () => {
    it('tests both samples and lists exactly the failing ones of tasks with no passing sample', async () => {
      if (sampledDir === undefined) throw new Error('the sampling test above did not run');
      // Each backend tests its own copy of the run (testing is resumable: a second pass would test nothing).
      const dir = tempDir();
      fs.cpSync(sampledDir, dir, { recursive: true });
      const tested = await ilf(['--data-dir', dir, 'test-samples', '--run', '1', '--backend', name, '--json']);
      expect(tested.code, tested.stderr).toBe(0);
      const report = JSON.parse(tested.stdout) as { tested: number; passed: number; failed: number; tasks: number; tasksWithoutPass: number };
      // What the inbox must hold, read from the stored executions themselves rather than from the report.
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(path.join(dir, 'ilf.sqlite'), { readonly: true });
      const executions = db.prepare<[], { sampleId: number; taskId: number; status: string; backend: string }>(
        'SELECT s.id AS sampleId, s.task_id AS taskId, e.status, e.backend FROM samples s JOIN executions e ON e.sample_id = s.id WHERE s.run_id = 1 ORDER BY s.id').all();
      db.close();
      expect(executions).toHaveLength(2);
      expect(executions.every((e) => e.backend === name)).toBe(true);
      const solved = new Set(executions.filter((e) => e.status === 'passed').map((e) => e.taskId));
      const expected = executions.filter((e) => e.status === 'failed' && !solved.has(e.taskId)).map((e) => e.sampleId).sort((a, b) => a - b);
      // A generated model's 8 random tokens cannot solve an MBPP task.
      expect(expected).toHaveLength(2);
      expect(report).toMatchObject({ tested: 2, passed: 0, failed: 2, tasks: 1, tasksWithoutPass: 1 });
      const inbox = JSON.parse((await ilf(['--data-dir', dir, 'failures', '--run', '1', '--json'])).stdout) as { sampleId: number; taskId: string }[];
      expect(inbox.map((f) => f.sampleId).sort((a, b) => a - b)).toEqual(expected);
      expect(new Set(inbox.map((f) => f.taskId))).toEqual(new Set(['11']));
    }, 60_000);
  });
});

describe.each(backends)('ilf exec-gold on $name', ({ name, available, reason }) => {
  describe.skipIf(!available)(available ? 'gold programs' : `not here: ${reason ?? ''}`, () => {
    it('runs every MBPP and HumanEval gold program in the sandbox: 974/974 and 164/164', async () => {
      const dir = tempDir();
      await ilf(['--data-dir', dir, 'import', sharedData('mbpp.jsonl'), '--format', 'mbpp']);
      await ilf(['--data-dir', dir, 'import', sharedData('humaneval.jsonl'), '--format', 'humaneval']);
      for (const [dataset, total] of [['mbpp', 974], ['humaneval', 164]] as const) {
        const r = await ilf(['--data-dir', dir, 'exec-gold', '--dataset', dataset, '--backend', name, '--json']);
        expect(r.code, r.stderr).toBe(0);
        const report = JSON.parse(r.stdout) as { backend: string; total: number; passed: number; failed: string[]; seconds: number };
        expect(report).toMatchObject({ backend: name, total, passed: total, failed: [] });
        expect(report.seconds).toBeGreaterThan(0);
      }
    }, 120_000);
  });
});
