/**
 * The real renderer bundle in a real browser (Debian's Chromium), served by the real server mode
 * and talking to the real services over its WebSocket bridge (the same named requests as the
 * preload's). Electron itself cannot be downloaded here; this is the layer under it.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { startServer, type RunningServer } from '../../main/server/server.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { noRuntime } from '../helpers/services.js';
import { FAILED, PASSED, sample, seedRun, taskRowId } from '../helpers/lineage.js';
import type { ExecutionRecord } from '../../main/store/runs.js';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { addLocalModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { repoRoot, sharedData, tempDir } from '../helpers/fs.js';

const CHROMIUM = process.env.ILF_CHROMIUM ?? '/usr/bin/chromium';
const rendererDir = path.join(repoRoot, 'dist', 'renderer');
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests`);

/** The real server mode (HTTP + WebSocket) over a store, and a browser page on it. */
async function openApp(browser: Browser, store: Store, dataDir: string, options: { token?: string; query?: string; runtime?: LlamaRuntime } = {}): Promise<{ page: Page; errors: string[]; server: RunningServer }> {
  const { runtime } = options;
  const server = await startServer({
    port: 0,
    rendererDir,
    ...(options.token ? { token: options.token } : {}),
    handlersFor: (emit) => createHandlers({ store, dataDir, version: '0.0.0-e2e', emit, runtime: runtime ? () => runtime : noRuntime }),
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  // The printed address carries the token; '' opens the page without it, '#screen' opens a screen with it.
  await page.goto(options.query === undefined ? server.url : options.query === '' ? server.url.replace(/\?.*$/, '') : server.url + options.query);
  return { page, errors, server };
}

/** Where the screens' screenshots go: CI artifacts, not committed. */
function screensDir(sub = ''): string {
  const dir = path.join(repoRoot, 'test-artifacts', 'screens', sub);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A store with a generated 0.5M-parameter model registered, and the one-thread runtime that runs it. */
async function storeWithTinyModel(dir: string, params = '500K'): Promise<{ store: Store; runtime: LlamaRuntime; modelFile: string }> {
  const store = Store.open(path.join(dir, 'ilf.sqlite'));
  const runtime = new LlamaRuntime({ threads: 1 });
  const modelFile = path.join(dir, 'tiny.gguf');
  await writeTinyModel(modelFile, specForParams(params, { seed: 1 }));
  await addLocalModel(store, runtime, modelFile);
  return { store, runtime, modelFile };
}

describe.runIf(haveChromium)('the renderer in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    if (!fs.existsSync(path.join(rendererDir, 'index.html'))) throw new Error('dist/renderer is missing: run `npm run build` (npm test does)');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('shows what to do when there are no tasks yet', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const { page, errors, server } = await openApp(browser, store, dir);
    await expect.poll(() => page.locator('.empty h2').textContent()).toBe('No tasks yet');
    expect(await page.locator('.empty').textContent()).toMatch(/ilf import .* --format mbpp/);
    expect(errors).toEqual([]);
    await page.close();
    await server.close();
    store.close();
  });

  it('lists imported tasks, filters by dataset and split, and searches', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    await importTasks(store, sharedData('humaneval.jsonl'), { format: 'humaneval' });
    const { page, errors, server } = await openApp(browser, store, dir);

    await expect.poll(() => page.getByTestId('summary').textContent()).toBe('2 datasets, 1138 tasks');
    expect(await page.locator('tbody tr').count()).toBe(200);
    expect(await page.locator('.more').textContent()).toBe('showing 200 of 1138');

    await page.getByLabel('dataset', { exact: true }).selectOption('mbpp');
    await page.getByLabel('split').selectOption('test');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(100);
    const splits = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    expect(new Set(splits)).toEqual(new Set(['test']));
    expect(await page.locator('tbody tr').first().locator('td').nth(1).textContent()).toBe('11');

    await page.getByLabel('split').selectOption('');
    await page.getByLabel('search').fill('palindrome');
    await page.getByLabel('search').press('Enter');
    const expected = store.catalog.listTasks({ dataset: 'mbpp', search: 'palindrome', offset: 0, limit: 50 }).total;
    expect(expected).toBeGreaterThan(2);
    await expect.poll(() => page.locator('tbody tr').count()).toBe(expected);
    for (const text of await page.locator('tbody tr td:nth-child(5)').allTextContents()) expect(text).toMatch(/palindrom/i);

    await page.screenshot({ path: path.join(dir, 'tasks.png') });
    expect(fs.statSync(path.join(dir, 'tasks.png')).size).toBeGreaterThan(10_000);
    if (process.env.ILF_SCREENSHOT) fs.copyFileSync(path.join(dir, 'tasks.png'), process.env.ILF_SCREENSHOT);
    expect(errors).toEqual([]);
    await page.close();
    await server.close();
    store.close();
  });

  it('with the access token, a page without it gets no data; one with it does, drops it from the address bar and keeps it across a reload', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const token = 'sesame-0123456789abcdefghijkl';
    const denied = await openApp(browser, store, dir, { token, query: '' });
    await expect.poll(() => denied.page.getByRole('alert').textContent()).toMatch(/cannot connect/);
    await denied.page.close();
    await denied.server.close();
    const allowed = await openApp(browser, store, dir, { token, query: '#tasks' });
    expect(allowed.server.url).toMatch(new RegExp(`\\?token=${token}$`));
    await expect.poll(() => allowed.page.locator('.empty h2').textContent()).toBe('No tasks yet');
    expect(allowed.page.url()).not.toContain(token);
    expect(allowed.page.url()).toMatch(/\/#tasks$/);
    await allowed.page.reload();
    await expect.poll(() => allowed.page.locator('.empty h2').textContent()).toBe('No tasks yet');
    expect(allowed.errors).toEqual([]);
    await allowed.page.close();
    await allowed.server.close();
    store.close();
  });

  it('failures inbox → annotate with the keyboard: the failing line marked, expected vs actual, feedback saved as you type', async () => {
    const dir = tempDir();
    const artifacts = screensDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const { runId } = seedRun(store, 'mbpp', 'train');
    const crash: ExecutionRecord = {
      status: 'failed', errorKind: 'runtime_error', testResults: [{ index: 0, outcome: 'error', message: 'ZeroDivisionError: division by zero' }, { index: 1, outcome: 'not_run' }],
      exceptionType: 'ZeroDivisionError', exceptionMessage: 'division by zero', stdout: '', stderr: '', outputTruncated: false, durationMs: 2, backend: 'test',
      traceback: 'Traceback (most recent call last):\n  File "<test 1>", line 1, in <module>\n  File "<program>", line 2, in f\nZeroDivisionError: division by zero\n',
    };
    const ids = store.runs.insertSamples(runId, ['311', '312', '313'].map((k, i) => sample(taskRowId(store, 'mbpp', k), 0, `def f(x):\n    return x / 0  # ${i}\n`)));
    ids.forEach((id, i) => store.runs.recordSampleExecution(id, i === 2 ? crash : FAILED));
    const { page, errors, server } = await openApp(browser, store, dir, { query: '#failures' });
    page.setDefaultTimeout(20_000);
    try {
      await page.getByRole('button', { name: '3 · Failures' }).click();
      await expect.poll(() => page.getByTestId('inbox').locator('tbody tr').count()).toBe(3);
      await page.screenshot({ path: path.join(artifacts, 'failures-inbox.png') });

      // The newest failure first: task 313, which raised on line 2 of the program.
      await page.getByTestId('inbox').locator('tbody tr').first().click();
      await expect.poll(() => page.getByTestId('annotate').locator('h2').textContent()).toMatch(/mbpp\/313/);
      // Monaco lays text out with non-breaking spaces.
      await expect.poll(async () => (await page.locator('.code-view .view-lines').textContent())?.replace(/\u00a0/g, ' ')).toMatch(/return x \/ 0/);
      await expect.poll(() => page.locator('.code-view .failing-line').count()).toBe(1);
      expect(await page.getByTestId('tests').textContent()).toMatch(/error.*ZeroDivisionError: division by zero/);
      expect(await page.getByTestId('traceback').textContent()).toMatch(/File "<program>", line 2/);
      await page.screenshot({ path: path.join(artifacts, 'annotate.png') });

      // Keyboard first: the help overlay, a name, then feedback that saves as it is typed.
      await page.keyboard.press('?');
      await expect.poll(() => page.getByRole('dialog', { name: 'keyboard shortcuts' }).textContent()).toMatch(/next failure/);
      await page.keyboard.press('Escape');
      await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
      await page.getByLabel('your name').fill('ada');
      await page.getByLabel('your name').press('Enter');
      await page.keyboard.press('e');
      await page.keyboard.type('Dividing by zero always raises: divide by the length instead.');
      await expect.poll(() => page.getByTestId('save-state').textContent()).toBe('saved');
      const saved = store.db.prepare<[number], { author: string; text: string }>('SELECT author, text FROM feedback WHERE sample_id = ?').all(ids[2] ?? 0);
      expect(saved).toEqual([{ author: 'ada', text: 'Dividing by zero always raises: divide by the length instead.' }]);
      await page.keyboard.type(' Then return the mean.');
      await expect.poll(() => page.getByTestId('save-state').textContent()).toBe('saved');
      expect(store.db.prepare<[number], { n: number; text: string }>('SELECT COUNT(*) AS n, MAX(text) AS text FROM feedback WHERE sample_id = ?').get(ids[2] ?? 0))
        .toEqual({ n: 1, text: 'Dividing by zero always raises: divide by the length instead. Then return the mean.' });

      // Ctrl+Enter: on to the next failure, whose test says what it expected.
      await page.keyboard.press('Control+Enter');
      await expect.poll(() => page.getByTestId('annotate').locator('h2').textContent()).toMatch(/mbpp\/312/);
      expect(await page.getByTestId('annotate').locator('.step').textContent()).toMatch(/failure 2 of 3/);
      expect(await page.getByTestId('tests').textContent()).toMatch(/expected 8, got 7/);
      await page.keyboard.press('Alt+ArrowUp'); // the editor has the focus: letters type, Alt+arrows move
      await expect.poll(() => page.getByTestId('annotate').locator('h2').textContent()).toMatch(/mbpp\/313/);
      expect(await page.getByLabel('feedback').inputValue()).toMatch(/Then return the mean\.$/);

      // Back to the inbox: the count moved; the dark theme.
      await page.keyboard.press('Escape');
      await expect.poll(() => page.getByTestId('inbox').locator('tbody tr').first().locator('td').last().textContent()).toBe('1');
      await page.getByRole('button', { name: 'theme' }).click();
      expect(await page.locator('html').getAttribute('data-theme')).toBe('dark');
      await page.screenshot({ path: path.join(artifacts, 'failures-inbox-dark.png') });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      store.close();
    }
  }, 60_000);

  it('review with the keyboard: a diff of original vs refinement, accept, and an edit that must pass its tests before it counts', async () => {
    const dir = tempDir();
    const artifacts = screensDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const { runId } = seedRun(store, 'mbpp', 'train');
    const refinements = ['311', '847'].map((key) => {
      const [sampleId = 0] = store.runs.insertSamples(runId, [sample(taskRowId(store, 'mbpp', key), 0, 'def lcopy(xs):\n  return xs\n')]);
      store.runs.recordSampleExecution(sampleId, FAILED);
      const feedbackId = store.lineage.addFeedback({ sampleId, executionId: null, source: 'human', author: 'lin', text: `fix task ${key}` });
      const id = store.lineage.addRefinement({ feedbackId, origin: 'human', author: 'lin', program: 'def lcopy(xs):\n  return list(xs)\n' });
      store.runs.recordRefinementExecution(id, PASSED);
      return id;
    });
    const { page, errors, server } = await openApp(browser, store, dir, { query: '#review' });
    page.setDefaultTimeout(20_000);
    try {
      await page.getByRole('button', { name: '5 · Review' }).click();
      // Newest first: task 847's refinement, shown as a diff against the failing program.
      await expect.poll(() => page.getByTestId('review').locator('h2').textContent()).toMatch(/mbpp\/847 \(1 of 2/);
      await expect.poll(() => page.locator('.monaco-diff-editor').count()).toBe(1);
      await expect.poll(async () => (await page.locator('.monaco-diff-editor .modified-in-monaco-diff-editor .view-lines').textContent())?.replace(/\u00a0/g, ' ')).toMatch(/return list\(xs\)/);
      await page.screenshot({ path: path.join(artifacts, 'review.png') });

      await page.getByLabel('reviewer name').fill('ada');
      await page.getByLabel('reviewer name').press('Enter');
      await page.keyboard.press('a');
      await expect.poll(() => page.getByTestId('review-message').textContent()).toBe('mbpp/847: accepted');
      expect(store.db.prepare('SELECT reviewer, decision, edited_program FROM reviews WHERE refinement_id = ?').get(refinements[1])).toEqual({ reviewer: 'ada', decision: 'accepted', edited_program: null });

      // Task 311 next: an edit that fails is refused with its test results; nothing is written.
      await expect.poll(() => page.getByTestId('review').locator('h2').textContent()).toMatch(/mbpp\/311 \(1 of 1/);
      await page.keyboard.press('e');
      await page.getByLabel('your edit').fill('def lcopy(xs):\n  return None\n');
      await page.keyboard.press('Control+Enter');
      await expect.poll(() => page.getByTestId('review-message').textContent(), { timeout: 30_000 }).toMatch(/edited program fails its tests.*test 1: (error|assertion_failed)/s);
      expect(store.db.prepare('SELECT COUNT(*) AS n FROM reviews WHERE refinement_id = ?').get(refinements[0])).toEqual({ n: 0 });
      await page.screenshot({ path: path.join(artifacts, 'review-edit-refused.png') });
      await page.keyboard.press('Escape');
      await page.keyboard.press('r');
      await expect.poll(() => page.getByTestId('review-message').textContent()).toBe('mbpp/311: rejected');
      await expect.poll(() => page.locator('.empty h2').textContent()).toBe('Nothing to review');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      store.close();
    }
  }, 90_000);

  it('fine-tune: choose a set and a model, start, watch the loss chart move, stop, resume to an adapter', async () => {
    const dir = tempDir();
    const artifacts = screensDir();
    const { store, runtime } = await storeWithTinyModel(dir);
    const data = path.join(dir, 'accepted.jsonl');
    fs.writeFileSync(data, `${JSON.stringify({ prompt: '"""\nWrite a function to add two numbers.\n"""\n', completion: 'def add(a, b):\n    return a + b\n' })}\n`);
    store.training.createFileTrainingSet('accepted.jsonl', data, 'e2e');
    const { page, errors, server } = await openApp(browser, store, dir, { runtime, query: '#finetune' });
    page.setDefaultTimeout(30_000);
    try {
      await page.getByRole('button', { name: '6 · Fine-tune' }).click();
      await expect.poll(() => page.getByLabel('training set').locator('option:checked').textContent()).toMatch(/accepted\.jsonl \(from a file\)/);
      await expect.poll(() => page.getByLabel('model').locator('option:checked').textContent()).toMatch(/F32/);
      await page.getByLabel('epochs').fill('3000');
      await page.getByLabel('learning rate').fill('0.0003');
      await page.getByLabel('context').fill('128');
      await page.getByLabel('validation fraction').fill('0');
      await page.getByRole('button', { name: 'start' }).click();
      // The chart moves: more and more points, as steps are reported.
      const points = async (): Promise<number> => ((await page.getByTestId('train-loss').getAttribute('points')) ?? '').split(' ').filter(Boolean).length;
      await expect.poll(points, { timeout: 30_000 }).toBeGreaterThan(20);
      const earlier = await points();
      await expect.poll(points, { timeout: 30_000 }).toBeGreaterThan(earlier + 20);
      await page.screenshot({ path: path.join(artifacts, 'finetune.png') });
      await page.getByRole('button', { name: 'stop' }).click();
      await expect.poll(() => page.getByRole('heading', { name: /^Run \d+: cancelled$/ }).count(), { timeout: 60_000 }).toBe(1);
      const stoppedAt = store.training.list()[0]?.step ?? 0;
      expect(stoppedAt).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'resume' }).click();
      await expect.poll(() => store.training.list()[0]?.step ?? 0, { timeout: 30_000 }).toBeGreaterThan(stoppedAt);
      await page.getByRole('button', { name: 'stop' }).click();
      await expect.poll(() => page.getByRole('heading', { name: /^Run \d+: cancelled$/ }).count(), { timeout: 60_000 }).toBe(1);
      const steps = store.training.metrics(store.training.list()[0]?.id ?? 0).filter((m) => m.phase === 'train').map((m) => m.step);
      expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1)); // resumed, not restarted; nothing twice
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      await runtime.dispose();
      store.close();
    }
  }, 180_000);

  it('evaluate: pass@1 and pass@10 before vs after with the paired CI, bars, and the per-task table', async () => {
    const dir = tempDir();
    const artifacts = screensDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const { modelId, runId, datasetId } = seedRun(store, 'mbpp', 'test');
    const { id: adapterId } = store.models.addAdapter({ baseModelId: modelId, name: 'round 1', path: '/adapters/a.gguf', sha256: 'a'.repeat(64) });
    const tasks = ['11', '12', '13'].map((k) => taskRowId(store, 'mbpp', k));
    const add = (adapter: number | null, correct: number[]): number => store.evaluations.add({
      modelId, adapterId: adapter, samplingRunId: runId, datasetId, split: 'test', n: 10, temperature: 0.8, seed: 1,
      passAtK: { 1: correct.reduce((s, c) => s + c / 10, 0) / 3, 10: correct.filter((c) => c > 0).length / 3 },
      tasks: tasks.map((taskId, i) => ({ taskId, n: 10, correct: correct[i] ?? 0 })),
    });
    add(null, [0, 2, 5]);
    add(adapterId, [3, 2, 9]);
    const { page, errors, server } = await openApp(browser, store, dir, { query: '#evaluate' });
    try {
      await page.getByRole('button', { name: '7 · Evaluate' }).click();
      await expect.poll(() => page.getByTestId('pass-at-k').locator('tbody tr').count()).toBe(2);
      const rows = await page.getByTestId('pass-at-k').locator('tbody tr').allTextContents();
      // The whole row, interval included. pass@1 per task (after − before): 0.3, 0, 0.4; a bootstrap mean of
      // three draws is 0 with chance 1/27 and 0.4 with chance 1/27, both above the 2.5% tails: 95% CI 0 … 40 points.
      // pass@10: 1, 0, 0 → 0 with chance 8/27, 1 with chance 1/27: 0 … 100 points.
      expect(rows[0]).toBe('pass@123.3%46.7%+23.3 points (+0.0 … +40.0)');
      expect(rows[1]).toBe('pass@1066.7%100.0%+33.3 points (+0.0 … +100.0)');
      expect(await page.getByTestId('per-task').locator('tbody tr td:first-child').allTextContents()).toEqual(['13', '11', '12']); // most improved first
      expect(await page.locator('svg[aria-label="pass@k before and after"] rect').count()).toBe(4);
      await page.screenshot({ path: path.join(artifacts, 'evaluate.png') });

      // Export the report as CSV into the data folder; a path is refused.
      await page.getByRole('button', { name: 'Export' }).click();
      await page.getByLabel('what').selectOption('evaluation');
      await page.getByLabel('id').fill('2');
      await page.getByLabel('export format').selectOption('csv');
      await page.getByLabel('file name').fill('../../escape.csv');
      await page.getByRole('button', { name: 'export', exact: true }).click();
      await expect.poll(() => page.getByTestId('export-result').textContent()).toMatch(/give a file name only/);
      await page.getByLabel('file name').fill('report.csv');
      await page.getByRole('button', { name: 'export', exact: true }).click();
      await expect.poll(() => page.getByTestId('export-result').textContent()).toBe(`wrote 3 rows to ${path.join(dir, 'exports', 'report.csv')}`);
      expect(fs.readFileSync(path.join(dir, 'exports', 'report.csv'), 'utf8').split('\n')[0]).toBe('task_id,n,correct,pass@1,pass@10');
      await page.screenshot({ path: path.join(artifacts, 'export.png') });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      store.close();
    }
  });

  it('sample: start a round with the paper\'s defaults adjusted, watch it, see it wait for feedback, open its failures; cancel another', async () => {
    const dir = tempDir();
    const artifacts = screensDir();
    const { store, runtime } = await storeWithTinyModel(dir);
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const { page, errors, server } = await openApp(browser, store, dir, { runtime, query: '#sample' });
    page.setDefaultTimeout(30_000);
    try {
      await page.getByRole('button', { name: '2 · Sample' }).click();
      expect(await page.getByLabel('samples per task', { exact: true }).inputValue()).toBe('30'); // the paper's n
      expect(await page.getByLabel('temperature').inputValue()).toBe('0.8');
      await page.getByLabel('split', { exact: true }).selectOption('train');
      await page.getByLabel('samples per task', { exact: true }).fill('2');
      await page.getByLabel('max tokens').fill('16');
      await page.getByLabel('first N tasks').fill('2');
      await page.getByRole('button', { name: 'start sampling' }).click();
      await expect.poll(() => page.getByTestId('rounds-table').locator('tbody tr').first().textContent(), { timeout: 60_000 }).toMatch(/#1 \(round 1\)feedbackwaiting/);
      await page.screenshot({ path: path.join(artifacts, 'sample.png') });
      expect(store.db.prepare('SELECT COUNT(*) AS n FROM samples').get()).toEqual({ n: 4 });

      await page.getByRole('button', { name: '3 · Failures' }).click();
      await expect.poll(() => page.getByTestId('inbox').locator('tbody tr').count()).toBe(4);

      await page.getByRole('button', { name: '2 · Sample' }).click();
      await page.getByLabel('samples per task', { exact: true }).fill('30');
      await page.getByLabel('max tokens').fill('200');
      await page.getByLabel('first N tasks').fill('50');
      await page.getByRole('button', { name: 'start sampling' }).click();
      await expect.poll(() => page.getByTestId('rounds-table').locator('tbody tr').first().textContent()).toMatch(/#2 \(round 1\)samplerunning/);
      await page.getByTestId('rounds-table').getByRole('button', { name: 'cancel' }).click();
      await expect.poll(() => page.getByTestId('rounds-table').locator('tbody tr').first().textContent(), { timeout: 30_000 }).toMatch(/#2 \(round 1\)samplecancelled/);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      await runtime.dispose();
      store.close();
    }
  }, 120_000);

  it('the whole loop in the browser: import → sample → feedback with the keyboard → refine → edit and accept → fine-tune with a moving loss chart → before/after', async () => {
    const dir = tempDir();
    const artifacts = screensDir('walkthrough');
    const few = path.join(dir, 'mbpp-few.jsonl');
    fs.writeFileSync(few, `${fs.readFileSync(sharedData('mbpp.jsonl'), 'utf8').trim().split('\n')
      .filter((l) => [502, 536, 847].includes((JSON.parse(l) as { task_id: number }).task_id)).join('\n')}\n`);
    const { store, runtime } = await storeWithTinyModel(dir);
    const { page, errors, server } = await openApp(browser, store, dir, { runtime });
    page.setDefaultTimeout(60_000);
    const shot = (name: string): Promise<Buffer> => page.screenshot({ path: path.join(artifacts, `${name}.png`) });
    const round = (): Promise<string | null> => page.getByTestId('rounds-table').locator('tbody tr').first().textContent();
    try {
      // 1. Import three MBPP tasks (a broken file first: every bad line is listed and nothing is imported).
      const broken = path.join(dir, 'broken.jsonl');
      fs.writeFileSync(broken, `${fs.readFileSync(few, 'utf8')}{"task_id": 9000}\nnot json\n`);
      await page.getByLabel('file to import').fill(broken);
      await page.getByLabel('format').selectOption('mbpp');
      await page.getByRole('button', { name: 'import' }).click();
      await expect.poll(() => page.getByTestId('import-result').locator('li').allTextContents()).toEqual([expect.stringMatching(/^line 4: /), expect.stringMatching(/^line 5: /)]);
      expect(await page.getByTestId('import-result').textContent()).toMatch(/2 malformed lines .*nothing was imported/);
      await page.getByLabel('file to import').fill(few);
      await page.getByLabel('format').selectOption('mbpp');
      await page.getByLabel('dataset name').fill('mbpp-few');
      await page.getByRole('button', { name: 'import' }).click();
      await expect.poll(() => page.getByTestId('import-result').textContent()).toMatch(/imported mbpp-few: 3 added/);
      await shot('1-tasks');

      // 2. Sample (the round waits for feedback).
      await page.getByRole('button', { name: '2 · Sample' }).click();
      await page.getByLabel('dataset', { exact: true }).selectOption('mbpp-few');
      await page.getByLabel('split', { exact: true }).selectOption('train');
      await page.getByLabel('evaluation split').selectOption('train');
      await page.getByLabel('samples per task', { exact: true }).fill('2');
      await page.getByLabel('max tokens').fill('32');
      await page.getByLabel('evaluation samples per task').fill('2');
      await page.getByLabel('fine-tune epochs').fill('120');
      await page.getByLabel('fine-tune context').fill('256');
      await page.getByLabel('fine-tune learning rate').fill('0.0003');
      await page.getByRole('button', { name: 'start sampling' }).click();
      await expect.poll(round, { timeout: 60_000 }).toMatch(/feedbackwaiting/);
      await shot('2-sample');

      // 3. A failure, and feedback written with the keyboard.
      await page.getByRole('button', { name: '3 · Failures' }).click();
      await page.getByTestId('inbox').locator('tbody tr', { hasText: 'mbpp-few/847' }).first().click();
      await expect.poll(() => page.locator('.code-view .view-lines').count()).toBe(1);
      await page.getByLabel('your name').fill('ada');
      await page.getByLabel('your name').press('Enter');
      await page.keyboard.press('e');
      await page.keyboard.type('Return a copy of the list: slice it with xs[:].');
      await expect.poll(() => page.getByTestId('save-state').textContent()).toBe('saved');
      await shot('3-annotate');
      await page.keyboard.press('Escape');

      // 4. Refine: the round continues and waits for review.
      await page.getByRole('button', { name: '2 · Sample' }).click();
      await page.getByRole('button', { name: 'resume' }).click();
      await expect.poll(round, { timeout: 60_000 }).toMatch(/reviewwaiting/);

      // 5. Edit a (failing) refinement into a passing program and accept it.
      await page.getByRole('button', { name: '5 · Review' }).click();
      await page.getByLabel('include failing refinements').check();
      await expect.poll(() => page.getByTestId('review').locator('h2').textContent()).toMatch(/mbpp-few\/847/);
      await page.getByLabel('reviewer name').fill('ada');
      await page.getByLabel('reviewer name').press('Enter');
      await page.keyboard.press('e');
      await page.getByLabel('your edit').fill('def lcopy(xs):\n  return xs[:]\n');
      await page.keyboard.press('Control+Enter');
      await expect.poll(() => page.getByTestId('review-message').textContent(), { timeout: 30_000 }).toMatch(/mbpp-few\/847: accepted \(your edit passes its tests\)/);
      await shot('5-review');

      // 6. The round trains: the fine-tune screen follows the run and its loss chart moves.
      await page.getByRole('button', { name: '2 · Sample' }).click();
      await page.getByRole('button', { name: 'resume' }).click();
      await page.getByRole('button', { name: '6 · Fine-tune' }).click();
      const points = async (): Promise<number> => ((await page.getByTestId('train-loss').getAttribute('points')) ?? '').split(' ').filter(Boolean).length;
      await expect.poll(points, { timeout: 60_000 }).toBeGreaterThan(10);
      const earlier = await points();
      await expect.poll(points, { timeout: 60_000 }).toBeGreaterThan(earlier);
      await page.getByTestId('training-rows').locator('summary').click();
      expect(await page.getByTestId('training-rows').locator('tbody tr').first().textContent()).toMatch(/^mbpp-few\/847#\d+ada \(#\d+\)#\d+#\d+$/);
      await shot('6-finetune');

      // 7. Evaluation, before vs after.
      await page.getByRole('button', { name: '2 · Sample' }).click();
      await expect.poll(round, { timeout: 120_000 }).toMatch(/donecompleted/);
      await page.getByRole('button', { name: '7 · Evaluate' }).click();
      await expect.poll(() => page.getByTestId('pass-at-k').locator('tbody tr').count(), { timeout: 30_000 }).toBe(1);
      expect(await page.getByTestId('pass-at-k').locator('tbody tr').first().textContent()).toMatch(/^pass@1\d+\.\d%\d+\.\d%[+-]\d+\.\d points/);
      expect(await page.getByTestId('per-task').locator('tbody tr').count()).toBe(3);
      await page.getByTestId('per-task').locator('tbody tr', { hasText: '847' }).click();
      const history = page.getByTestId('task-history');
      await expect.poll(() => history.textContent()).toMatch(/mbpp-few\/847: its history/);
      expect(await history.textContent()).toMatch(/feedback by ada \(human\): Return a copy of the list/);
      expect(await history.textContent()).toMatch(/refinement \d+: fails, accepted/);
      expect(await history.locator('li', { hasText: 'evaluation run' }).count()).toBe(2);
      await shot('7-evaluate');
      const trace = store.lineage.trace(store.db.prepare<[], { id: number }>('SELECT id FROM training_examples').get()?.id ?? 0);
      expect(trace).toMatchObject({ task: { taskId: '847' }, feedback: { author: 'ada', source: 'human' }, review: { reviewer: 'ada', decision: 'accepted' } });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      await runtime.dispose();
      store.close();
    }
  }, 300_000);

  it('setup: hardware, a model downloaded from a local stand-in hub with progress, another cancelled, a file added', async () => {
    const dir = tempDir();
    const artifacts = screensDir();
    const file = path.join(dir, 'tiny.gguf');
    await writeTinyModel(file, specForParams('3M', { seed: 2 }));
    const body = fs.readFileSync(file);
    // A stand-in for a model hub: /fast.gguf at once, /slow.gguf 64 KiB every 50 ms.
    const hub = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      if (req.url === '/fast.gguf') return void res.end(body);
      let offset = 0;
      const timer = setInterval(() => {
        if (offset >= body.length || res.destroyed) { clearInterval(timer); res.end(); return; }
        res.write(body.subarray(offset, offset += 64 * 1024));
      }, 50);
    });
    await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
    const hubUrl = `http://127.0.0.1:${(hub.address() as { port: number }).port}`;
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const runtime = new LlamaRuntime({ threads: 1 });
    const { page, errors, server } = await openApp(browser, store, dir, { runtime, query: '#setup' });
    page.setDefaultTimeout(30_000);
    try {
      await page.getByRole('button', { name: '0 · Setup' }).click();
      await expect.poll(() => page.getByTestId('setup').locator('.empty').textContent()).toMatch(/No model yet/);
      await page.getByRole('button', { name: 'detect hardware' }).click();
      await expect.poll(() => page.getByTestId('hardware').textContent()).toMatch(/llama\.cpp runs on \w+/);
      // Sampling's and training's backends side by side; training's as the trainer itself found it (no GPU here).
      expect(await page.getByTestId('compute').getByRole('row', { name: /training/ }).textContent()).toMatch(/^training\s*cpu\s*CPU: .+vulkan, rocm, cpu$/);

      await page.getByLabel('download').fill(`${hubUrl}/slow.gguf`);
      await page.getByLabel('download').press('Enter');
      await expect.poll(async () => Number(await page.getByTestId('download-1').locator('progress').getAttribute('value') ?? 0)).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(artifacts, 'setup-downloading.png') });
      await page.getByTestId('download-1').getByRole('button', { name: 'cancel' }).click();
      await expect.poll(() => page.getByTestId('download-1').textContent()).toMatch(/slow\.gguf: cancelled/);
      expect(store.models.list()).toEqual([]);

      await page.getByLabel('download').fill(`${hubUrl}/fast.gguf`);
      await page.getByLabel('download').press('Enter');
      await expect.poll(() => page.getByTestId('download-2').textContent()).toMatch(/fast\.gguf: done/);
      await expect.poll(() => page.getByTestId('models').locator('tbody tr').count()).toBe(1);
      expect(await page.getByTestId('models').locator('tbody tr').first().textContent()).toMatch(/F32.*yes/);

      await page.getByLabel('model file').fill(path.join(dir, 'missing.gguf'));
      await page.getByRole('button', { name: 'add', exact: true }).click();
      await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/missing\.gguf/);
      await page.screenshot({ path: path.join(artifacts, 'setup.png') });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.close();
      await runtime.dispose();
      store.close();
      hub.close();
    }
  }, 60_000);
});
