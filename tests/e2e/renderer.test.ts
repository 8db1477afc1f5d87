/**
 * The real renderer bundle in a real browser (Debian's Chromium), talking to the real services
 * over a bridge built exactly like the preload's: one named function per contract request.
 * Electron itself cannot be downloaded here; this is the layer under it.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_NAMES, REQUEST_NAMES } from '../../preload/contract.js';
import { importTasks } from '../../main/datasets/import.js';
import { dispatch } from '../../main/services/dispatch.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { noRuntime } from '../helpers/services.js';
import { repoRoot, sharedData, tempDir } from '../helpers/fs.js';

const CHROMIUM = process.env.ILF_CHROMIUM ?? '/usr/bin/chromium';
const rendererDir = path.join(repoRoot, 'dist', 'renderer');
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests`);

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

function serve(dir: string): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.resolve(dir, rel);
    if (!file.startsWith(dir) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => server.close() });
    });
  });
}

/** A page whose window.ilf is backed by dispatch() over `store`, as the preload would build it. */
async function openApp(browser: Browser, url: string, store: Store, dataDir: string): Promise<{ page: Page; errors: string[] }> {
  const handlers = createHandlers({ store, dataDir, version: '0.0.0-e2e', emit: () => undefined, runtime: noRuntime });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.exposeBinding('__ilfDispatch', (_source, name: string, payload: unknown) => dispatch(handlers, name, payload));
  await page.addInitScript(({ requests, events }) => {
    const w = globalThis as unknown as { __ilfDispatch: (n: string, p: unknown) => Promise<unknown>; ilf: unknown };
    w.ilf = Object.freeze({
      requests: Object.freeze(Object.fromEntries(requests.map((n) => [n, (input?: unknown) => w.__ilfDispatch(n, input)]))),
      events: Object.freeze(Object.fromEntries(events.map((n) => [n, () => () => undefined]))),
    });
  }, { requests: REQUEST_NAMES, events: EVENT_NAMES });
  page.setDefaultTimeout(10_000);
  await page.goto(url);
  return { page, errors };
}

describe.runIf(haveChromium)('the renderer in Chromium', () => {
  let browser: Browser;
  let server: { url: string; close: () => void };

  beforeAll(async () => {
    if (!fs.existsSync(path.join(rendererDir, 'index.html'))) throw new Error('dist/renderer is missing: run `npm run build` (npm test does)');
    server = await serve(rendererDir);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('shows what to do when there are no tasks yet', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const { page, errors } = await openApp(browser, server.url, store, dir);
    await expect.poll(() => page.locator('.empty h2').textContent()).toBe('No tasks yet');
    expect(await page.locator('.empty').textContent()).toMatch(/ilf import .* --format mbpp/);
    expect(errors).toEqual([]);
    await page.close();
    store.close();
  });

  it('lists imported tasks, filters by dataset and split, and searches', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    await importTasks(store, sharedData('humaneval.jsonl'), { format: 'humaneval' });
    const { page, errors } = await openApp(browser, server.url, store, dir);

    await expect.poll(() => page.getByTestId('summary').textContent()).toBe('2 datasets, 1138 tasks');
    expect(await page.locator('tbody tr').count()).toBe(200);
    expect(await page.locator('.more').textContent()).toBe('showing 200 of 1138');

    await page.getByLabel('dataset').selectOption('mbpp');
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
    store.close();
  });
});
