import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, sharedData, tempDir, writeLines } from '../helpers/fs.js';
import { availableBackends } from '../helpers/sandbox.js';

const run = promisify(execFile);
const bin = path.join(repoRoot, 'dist', 'main', 'cli', 'bin.js');

interface Result { code: number; stdout: string; stderr: string }

/** Runs the built `ilf` as a user would: a real process with its own exit code. */
async function ilf(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env: { ...process.env, ILF_DATA_DIR: '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(() => {
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does it first)`);
});

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

describe('ilf models, hardware and sample', () => {
  it('makes a model, registers it and an adapter, reports hardware, and samples', async () => {
    const dir = tempDir();
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

    const hw = JSON.parse((await ilf(['hardware', '--json'])).stdout) as { backend: string; threads: number; cpu: { physicalCores: number }; warnings: string[] };
    expect(hw.backend).toBe('cpu');
    expect(hw.threads).toBe(hw.cpu.physicalCores);
    expect(hw.warnings.join(' ')).toMatch(/falling back to the CPU/);

    await ilf(['--data-dir', dir, 'import', sharedData('mbpp.jsonl'), '--format', 'mbpp']);
    // Started without a one-thread pool: the CLI re-runs itself with one for reproducible sampling.
    const sampled = await ilf(['--data-dir', dir, 'sample', '--model', '1', '--dataset', 'mbpp', '--split', 'test', '--n', '2', '--max-tokens', '8', '--limit', '1', '--threads', '1', '--json'], { UV_THREADPOOL_SIZE: '' });
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(JSON.parse(sampled.stdout)).toMatchObject({ tasks: 1, samplesCreated: 2 });
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(dir, 'ilf.sqlite'), { readonly: true });
    expect(JSON.parse((db.prepare('SELECT params FROM sampling_runs').get() as { params: string }).params)).toMatchObject({ reproducible: true });
    db.close();

    // The ILF loop's first step on those samples: test them, then look at the failures inbox.
    const backend = backends[0]?.name;
    if (backend) {
      const tested = await ilf(['--data-dir', dir, 'test-samples', '--run', '1', '--backend', backend, '--json']);
      expect(tested.code, tested.stderr).toBe(0);
      const report = JSON.parse(tested.stdout) as { tested: number; passed: number; failed: number; tasks: number; tasksWithoutPass: number };
      expect(report.tested).toBe(2);
      expect(report.passed + report.failed).toBe(2);
      const inbox = JSON.parse((await ilf(['--data-dir', dir, 'failures', '--run', '1', '--json'])).stdout) as { taskId: string }[];
      expect(inbox).toHaveLength(report.tasksWithoutPass === 1 ? 2 : 0);
    }

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

const backends = await availableBackends();

describe.each(backends)('ilf exec-gold on $name', ({ name }) => {
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
