import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { ilf, ilfBin, requireBuiltCli } from '../helpers/cli.js';
import { expectComparisonFromCounts } from '../helpers/evaluation.js';
import { repoRoot, sharedData } from '../helpers/fs.js';
import { anyBackend } from '../helpers/sandbox.js';

/**
 * Every `ilf` command the README shows, each run as a real process at least once, on three MBPP
 * train tasks and a generated 0.5M-parameter model. One data folder per suite; the tests of a suite
 * run in order and build on each other (one CLI process per command).
 */
const TASKS = [502, 536, 847];
const sandbox = await anyBackend();
let root: string;
let modelFile: string;
let tasksFile: string;
const gold = new Map<string, string>();

beforeAll(async () => {
  requireBuiltCli();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-cli-commands-'));
  const rows = fs.readFileSync(sharedData('mbpp.jsonl'), 'utf8').trim().split('\n').filter((l) => TASKS.includes((JSON.parse(l) as { task_id: number }).task_id));
  for (const r of rows.map((l) => JSON.parse(l) as { task_id: number; code: string })) gold.set(String(r.task_id), r.code.replace(/\r\n/g, '\n'));
  tasksFile = path.join(root, 'mbpp-few.jsonl');
  fs.writeFileSync(tasksFile, `${rows.join('\n')}\n`);
  modelFile = path.join(root, 'tiny.gguf');
  await writeTinyModel(modelFile, specForParams('500K', { seed: 1 }));
}, 60_000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const sqlite = (dataDir: string): Database.Database => new Database(path.join(dataDir, 'ilf.sqlite'), { readonly: true });

/** A data folder with the three tasks imported and the tiny model registered (two CLI processes). */
async function dataFolder(name: string): Promise<string> {
  const dir = path.join(root, name);
  expect((await ilf(['--data-dir', dir, 'import', tasksFile, '--format', 'mbpp', '--name', 'mbpp-few'])).code).toBe(0);
  expect((await ilf(['--data-dir', dir, 'models', 'add', modelFile])).code).toBe(0);
  return dir;
}

describe('ilf tasks, models, serve and sample', () => {
  it('tasks --search finds tasks by the words of their description', async () => {
    const dir = path.join(root, 'search');
    expect((await ilf(['--data-dir', dir, 'import', tasksFile, '--format', 'mbpp', '--name', 'mbpp-few'])).code).toBe(0);
    // Task 847: "Write a python function to copy a list from a singleton tuple."
    const found = JSON.parse((await ilf(['--data-dir', dir, 'tasks', '--search', 'singleton', '--json'])).stdout) as { taskId: string }[];
    expect(found.map((t) => t.taskId)).toEqual(['847']);
    const none = JSON.parse((await ilf(['--data-dir', dir, 'tasks', '--search', 'palindrome', '--json'])).stdout) as unknown[];
    expect(none).toEqual([]);
  });

  it('models recommended: references to download, with licence and whether the trainer can train each', async () => {
    const r = await ilf(['models', 'recommended', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const models = JSON.parse(r.stdout) as { ref: string; licence: string; quantization: string; trainable: boolean }[];
    expect(models.length).toBeGreaterThan(0);
    for (const m of models) {
      expect(m.ref).toMatch(/^hf:[\w.-]+\/[\w.-]+(@[0-9a-f]{40})?\/.+\.gguf$/); // pinned ones name their revision
      expect(m.licence.length).toBeGreaterThan(0);
      // The README: F32/F16/BF16/Q8_0/Q4_0 train, K-quants do not.
      expect(m.trainable, m.ref).toBe(['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'].includes(m.quantization));
    }
    expect(models.some((m) => m.trainable)).toBe(true);
    expect(models.some((m) => !m.trainable)).toBe(true);
  });

  it('models download: an hf: reference, with HF_TOKEN sent as a bearer header to the Hugging Face host only', async () => {
    const bytes = fs.readFileSync(modelFile);
    const seen: { url: string; authorization: string | undefined }[] = [];
    // Stands in for huggingface.co (HF_ENDPOINT points there): a gated file that needs the token.
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      if (req.url === '/acme/tiny-GGUF/resolve/main/tiny.gguf' && req.headers.authorization !== 'Bearer s3cret') res.writeHead(401).end();
      else if (req.url === '/acme/tiny-GGUF/resolve/main/tiny.gguf' || req.url === '/plain/tiny.gguf') res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const dir = path.join(root, 'download');
      const env = { HF_ENDPOINT: `http://127.0.0.1:${port}`, HF_TOKEN: '' };
      const refused = await ilf(['--data-dir', dir, 'models', 'download', 'hf:acme/tiny-GGUF/tiny.gguf'], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^ilf: download of .* failed: HTTP 401 .*set HF_TOKEN/);
      const modelFiles = (): string[] => (fs.existsSync(path.join(dir, 'models')) ? fs.readdirSync(path.join(dir, 'models')).filter((f) => f.endsWith('.gguf')) : []);
      expect(modelFiles()).toEqual([]);

      const r = await ilf(['--data-dir', dir, 'models', 'download', 'hf:acme/tiny-GGUF/tiny.gguf', '--json'], { ...env, HF_TOKEN: 's3cret' });
      expect(r.code, r.stderr).toBe(0);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      expect(JSON.parse(r.stdout)).toMatchObject({ id: 1, sha256 });
      // Named from the reference: tiny-<12 hex digits of its sha256>.gguf (see download.test.ts).
      expect(modelFiles()).toEqual([expect.stringMatching(/^tiny-[0-9a-f]{12}\.gguf$/)]);
      expect(fs.readFileSync(path.join(dir, 'models', modelFiles()[0] ?? '')).equals(bytes)).toBe(true);
      expect(seen.at(-1)).toEqual({ url: '/acme/tiny-GGUF/resolve/main/tiny.gguf', authorization: 'Bearer s3cret' });

      // A URL on another host never gets the token.
      const other = await ilf(['--data-dir', path.join(root, 'download-url'), 'models', 'download', `http://localhost:${port}/plain/tiny.gguf`], { ...env, HF_TOKEN: 's3cret' });
      expect(other.code, other.stderr).toBe(0);
      expect(seen.at(-1)).toEqual({ url: '/plain/tiny.gguf', authorization: undefined });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('serve starts, serves the app at the address it prints, and stops on Ctrl-C', async () => {
    const child = spawn(process.execPath, [ilfBin, '--data-dir', path.join(root, 'serve'), 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /ILF Studio is at (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(out);
          if (m?.[1]) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`ilf serve exited (${code}) before it printed its address: ${out}`)));
      });
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<!doctype html>/i);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('sampling records the default stop sequences, and params.reproducible = false in a process whose thread pool is not one thread', async () => {
    const dir = await dataFolder('sample');
    // The CLI's own entry re-runs itself with UV_THREADPOOL_SIZE=1; this calls it in a process started with 4,
    // as the desktop app's main process is.
    const script = `import('${path.join(repoRoot, 'dist', 'main', 'cli', 'main.js')}').then(async ({ runCli }) => {
      process.exitCode = await runCli(${JSON.stringify(['--data-dir', dir, 'sample', '--model', '1', '--dataset', 'mbpp-few', '--split', 'train', '--n', '1', '--max-tokens', '4', '--limit', '1', '--threads', '1'])},
        { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), isTty: false, env: process.env });
    });`;
    const scriptFile = path.join(root, 'sample-in-process.mjs');
    fs.writeFileSync(scriptFile, script);
    const child = spawn(process.execPath, [scriptFile], { env: { ...process.env, UV_THREADPOOL_SIZE: '4' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    expect(await new Promise((resolve) => child.once('exit', resolve)), stderr).toBe(0);
    const db = sqlite(dir);
    try {
      const run = db.prepare<[], { stop: string; params: string }>('SELECT stop, params FROM sampling_runs').get();
      expect(JSON.parse(run?.stop ?? '[]')).toEqual(['\nclass', '\ndef', '\n#', '\nif', '\nprint']);
      expect(JSON.parse(run?.params ?? '{}')).toMatchObject({ reproducible: false });
    } finally {
      db.close();
    }
  }, 60_000);
});

describe('the optional fields of a JSONL task file', () => {
  it('split, example_test, setup_code, entry_point, code_prefix, reference_solution and challenge_tests are kept and used', async () => {
    const dir = path.join(root, 'jsonl');
    const file = path.join(root, 'own.jsonl');
    fs.writeFileSync(file, [
      { task_id: 'scaled', text: 'Scale a number by the factor the setup defines.', tests: ['assert scaled(2) == 2 * FACTOR'], example_test: null,
        setup_code: 'FACTOR = 3', split: 'test', entry_point: 'scaled', code_prefix: 'def scaled(x):\n    """x times FACTOR"""\n',
        reference_solution: 'def scaled(x):\n    return x * FACTOR\n', challenge_tests: ['assert scaled(1) == 4'] },
      { task_id: 7, text: 'Add two numbers.', tests: ['assert add(1, 2) == 3', 'assert add(0, 0) == 0'], reference_solution: 'def add(a, b):\n    return a + b\n' },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const imported = await ilf(['--data-dir', dir, 'import', file, '--format', 'jsonl', '--name', 'own', '--split', 'refine']);
    expect(imported.code, imported.stderr).toBe(0);
    const scaled = JSON.parse((await ilf(['--data-dir', dir, 'task', 'own', 'scaled', '--json'])).stdout) as Record<string, unknown> & { prompt: string };
    expect(scaled).toMatchObject({ split: 'test', exampleTest: null, setupCode: 'FACTOR = 3', entryPoint: 'scaled', challengeTests: ['assert scaled(1) == 4'],
      referenceSolution: 'def scaled(x):\n    return x * FACTOR\n', codePrefix: 'def scaled(x):\n    """x times FACTOR"""\n' });
    expect(scaled.prompt).not.toMatch(/assert/); // example_test null: no test in the prompt
    expect(scaled.prompt.endsWith('def scaled(x):\n    """x times FACTOR"""\n')).toBe(true); // the model continues the code prefix
    const add = JSON.parse((await ilf(['--data-dir', dir, 'task', 'own', '7', '--json'])).stdout) as Record<string, unknown> & { prompt: string };
    expect(add).toMatchObject({ split: 'refine', exampleTest: 'assert add(1, 2) == 3', setupCode: '', challengeTests: [] }); // defaults: --split, the first test
    expect(add.prompt).toContain('assert add(1, 2) == 3');
  });

  it.skipIf(!sandbox.available)(`the reference solutions pass in the sandbox: setup_code runs before the tests, challenge_tests do not count (${sandbox.name})`, async () => {
    const r = await ilf(['--data-dir', path.join(root, 'jsonl'), 'exec-gold', '--dataset', 'own', '--backend', sandbox.name, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ total: 2, passed: 2, failed: [] });
  }, 60_000);
});

describe.skipIf(!sandbox.available)(sandbox.available ? `the ILF loop through the CLI (${sandbox.name} sandbox)` : `the ILF loop through the CLI (no sandbox here: ${sandbox.reason ?? ''})`, () => {
  let dir: string;
  const cli = (args: string[]): ReturnType<typeof ilf> => ilf(['--data-dir', dir, '--backend', sandbox.name, '--threads', '1', ...args], { ILF_AUTHOR: 'ada' });
  interface Pipeline { id: number; step: string; status: string; round: number; adapterId: number | null; samplingRunId: number | null;
    evalBeforeId: number | null; evalAfterId: number | null; resultAdapterId: number | null; trainingSetId: number | null }
  const run = async (args: string[]): Promise<Pipeline> => {
    const r = await cli(['run', ...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Pipeline;
  };
  const feedbackOf = (taskKey: string): number => {
    const db = sqlite(dir);
    try {
      return db.prepare<[string], { id: number }>(`SELECT f.id FROM feedback f JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id
        WHERE t.task_key = ? AND s.run_id = 1 AND f.source = 'human' ORDER BY f.id LIMIT 1`).get(taskKey)?.id ?? 0;
    } finally {
      db.close();
    }
  };

  it('run, feedback auto, failures, feedback add, run --resume, review --reject / --write / --accept, run --resume, eval --compare, run --next', async () => {
    dir = await dataFolder('loop');
    const waiting = await run(['--model', '1', '--dataset', 'mbpp-few', '--split', 'train', '--eval-split', 'train', '--n', '2', '--max-tokens', '16', '--k', '1',
      '--feedback', 'human', '--review', 'human', '--eval-n', '1', '--eval-temperature', '0', '--epochs', '1', '--context', '256', '--validation', '0']);
    expect(waiting).toMatchObject({ id: 1, step: 'feedback', status: 'waiting', samplingRunId: 1 });

    // feedback auto: execution feedback for each failing task (the tiny model solves none of the three).
    const auto = await cli(['feedback', 'auto', '--run', '1', '--source', 'execution', '--json']);
    expect(auto.code, auto.stderr).toBe(0);
    const autoIds = (JSON.parse(auto.stdout) as { feedbackIds: number[] }).feedbackIds;
    expect(autoIds).toHaveLength(3);
    // A human round waits for a person's feedback: automatic feedback does not stand in for it.
    expect(await run(['--resume', '1'])).toMatchObject({ step: 'feedback', status: 'waiting' });
    const inbox = JSON.parse((await cli(['failures', '--run', '1', '--json'])).stdout) as { sampleId: number; taskId: string }[];
    const sample847 = inbox.find((f) => f.taskId === '847')?.sampleId;
    const added = await cli(['feedback', 'add', '--sample', String(sample847), '--text', 'Return a copy of the list: xs[:].']);
    expect(added.stdout).toMatch(/^feedback \d+ saved for sample \d+\n$/);
    expect(await run(['--resume', '1'])).toMatchObject({ step: 'review', status: 'waiting' });

    // review --reject the model's refinement; review --write a person's refinement (tested), then accept it.
    const db = sqlite(dir);
    const modelRefinement = db.prepare<[number], { id: number }>('SELECT id FROM refinements WHERE feedback_id = ?').get(feedbackOf('847'))?.id ?? 0;
    db.close();
    expect((await cli(['review', '--refinement', String(modelRefinement), '--reject'])).stdout).toMatch(/^review \d+: rejected\n$/);
    const wrong = path.join(root, 'wrong-847.py');
    fs.writeFileSync(wrong, 'def lcopy(xs):\n  return None\n');
    const right = path.join(root, 'gold-847.py');
    fs.writeFileSync(right, gold.get('847') ?? '');
    const failing = JSON.parse((await cli(['review', '--write', wrong, '--feedback', String(feedbackOf('847')), '--json'])).stdout) as { refinementId: number; passed: boolean };
    expect(failing.passed).toBe(false);
    const written = JSON.parse((await cli(['review', '--write', right, '--feedback', String(feedbackOf('847')), '--json'])).stdout) as { refinementId: number; passed: boolean };
    expect(written.passed).toBe(true);
    expect((await cli(['review', '--refinement', String(written.refinementId), '--accept'])).stdout).toMatch(/^review \d+: accepted\n$/);
    const check = sqlite(dir);
    try {
      expect(check.prepare('SELECT r.decision, r.reviewer, rf.origin FROM reviews r JOIN refinements rf ON rf.id = r.refinement_id ORDER BY r.id').all())
        .toEqual([{ decision: 'rejected', reviewer: 'ada', origin: 'model' }, { decision: 'accepted', reviewer: 'ada', origin: 'human' }]);
    } finally {
      check.close();
    }

    // Trains on the accepted refinement and evaluates base vs base + adapter.
    const done = await run(['--resume', '1']);
    expect(done).toMatchObject({ step: 'done', status: 'completed', resultAdapterId: 1 });
    const compared = await cli(['eval', '--compare', `${done.evalBeforeId},${done.evalAfterId}`, '--json']);
    expect(compared.code, compared.stderr).toBe(0);
    const [pass1] = JSON.parse(compared.stdout) as { k: number; before: number; after: number; difference: { mean: number; low: number; high: number } }[];
    const evals = sqlite(dir);
    try {
      expectComparisonFromCounts(evals, done.evalBeforeId ?? 0, done.evalAfterId ?? 0, pass1 ?? { k: 0, difference: { mean: NaN, low: NaN, high: NaN } });
    } finally {
      evals.close();
    }
    expect((await cli(['eval', '--compare', `${done.evalBeforeId}`])).stderr).toMatch(/^ilf: --compare needs two evaluation ids/);

    // run --next: round 2 improves base + round 1's adapter.
    const next = await run(['--next', '1', '--dataset', 'mbpp-few', '--split', 'train', '--n', '1', '--max-tokens', '8', '--feedback', 'human']);
    expect(next).toMatchObject({ id: 2, round: 2, adapterId: 1, step: 'feedback', status: 'waiting' });
  }, 240_000);

  it('export training-set, samples, feedback and evaluation, each in the form the README names', async () => {
    const out = (name: string): string => path.join(root, name);
    const lines = (file: string): Record<string, unknown>[] => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const pipeline = JSON.parse((await cli(['run', '--list', '--json'])).stdout) as { id: number; trainingSetId: number; evalAfterId: number }[];
    const first = pipeline.find((p) => p.id === 1);

    expect((await cli(['export', 'training-set', '--id', String(first?.trainingSetId), '--format', 'prompt-completion', '--out', out('train.jsonl')])).stdout).toMatch(/^wrote 1 rows/);
    expect(lines(out('train.jsonl'))).toEqual([expect.objectContaining({ prompt: expect.stringContaining('singleton tuple'), completion: gold.get('847') })]);
    expect((await cli(['export', 'training-set', '--id', String(first?.trainingSetId), '--out', out('chat.jsonl')])).code).toBe(0);
    expect(lines(out('chat.jsonl'))[0]).toMatchObject({ messages: [{ role: 'user' }, { role: 'assistant', content: gold.get('847') }] });

    expect((await cli(['export', 'samples', '--run', '1', '--out', out('samples.jsonl')])).stdout).toMatch(/^wrote 6 rows/);
    expect(lines(out('samples.jsonl')).map((l) => l.task_id)).toEqual(['Mbpp/502', 'Mbpp/502', 'Mbpp/536', 'Mbpp/536', 'Mbpp/847', 'Mbpp/847']);

    expect((await cli(['export', 'feedback', '--run', '1', '--out', out('feedback.jsonl')])).code).toBe(0);
    const exported = lines(out('feedback.jsonl'));
    expect(exported).toHaveLength(4); // three from execution, one from ada
    const with847 = exported.find((l) => l.task_id === '847' && (l.feedback as { source: string }).source === 'human');
    expect(with847).toMatchObject({ feedback: { source: 'human', author: 'ada' }, refinements: expect.arrayContaining([expect.objectContaining({ origin: 'human', passed: true, reviews: [expect.objectContaining({ decision: 'accepted', reviewer: 'ada' })] })]) });

    expect((await cli(['export', 'evaluation', '--id', String(first?.evalAfterId), '--out', out('eval.csv')])).code).toBe(0);
    expect(fs.readFileSync(out('eval.csv'), 'utf8').split('\n')[0]).toBe('task_id,n,correct,pass@1');
    expect((await cli(['export', 'nonsense', '--out', out('x')])).stderr).toMatch(/^ilf: unknown export "nonsense"/);
  }, 60_000);

  it('import-feedback checks every row in the sandbox and lists the refused ones', async () => {
    const file = path.join(root, 'annotations.jsonl');
    fs.writeFileSync(file, [
      { problem_id: '847', code: 'def lcopy(xs):\n  return None\n', annotation: 'Return a copy of the list.', fixed_program: gold.get('847'), worker: 'lin' },
      { problem_id: '536', code: gold.get('536'), annotation: 'looks wrong to me', worker: 'sam' },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const r = await cli(['import-feedback', file, '--dataset', 'mbpp-few']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^1 of 2 rows imported \(1 with a human refinement\) as run \d+; fields: task_id←problem_id, program←code, feedback←annotation, refinement←fixed_program, annotator←worker\n {2}line 2: the original program passes its tests/);
  }, 60_000);
});
