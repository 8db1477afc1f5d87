/**
 * The packaged shape of the app: the Electron main, its preload and the renderer, launched for
 * real. Runs where the Electron binary is installed; here (no access to Electron's downloads) it
 * says so and skips. Everything under it is covered by the Chromium tests over server mode.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { _electron as electron } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from '../helpers/fs.js';

const require = createRequire(import.meta.url);

/**
 * The installed Electron binary, read from the package's path.txt. Not `require('electron')`: when
 * the binary is missing that tries to download it, which this test must never do.
 */
function electronBinary(): string | undefined {
  const pkg = path.dirname(require.resolve('electron/package.json'));
  const pathFile = path.join(pkg, 'path.txt');
  if (!fs.existsSync(pathFile)) return undefined;
  const binary = path.join(pkg, 'dist', fs.readFileSync(pathFile, 'utf8').trim());
  return fs.existsSync(binary) ? binary : undefined;
}

const binary = electronBinary();
if (!binary) {
  console.warn('electron smoke test skipped: the Electron binary is not installed (its download is not reachable from this machine); ' +
    'run `npm install` where github.com/electron is reachable to run it');
}

describe.runIf(binary !== undefined)('the Electron app', () => {
  it('opens one sandboxed window whose bridge has only the contract\'s named functions, and answers a request', async () => {
    execFileSync(process.execPath, [path.join(repoRoot, 'native-models', 'tools', 'ensure-electron-sqlite.mjs')], { stdio: 'inherit' });
    const app = await electron.launch({ executablePath: binary, args: [repoRoot], env: { ...process.env, ILF_DATA_DIR: tempDir() } });
    try {
      const page = await app.firstWindow();
      expect(await page.title()).toBe('ILF Studio');
      const bridge = await page.evaluate(() => {
        const w = globalThis as unknown as { ilf?: { requests: Record<string, unknown> }; require?: unknown; process?: unknown };
        return { names: Object.keys(w.ilf?.requests ?? {}), require: typeof w.require, process: typeof w.process };
      });
      expect(bridge.names).toContain('app.info');
      expect(bridge).toMatchObject({ require: 'undefined', process: 'undefined' });
      const info = await page.evaluate(async () => (globalThis as unknown as { ilf: { requests: { 'app.info': () => Promise<unknown> } } }).ilf.requests['app.info']());
      expect(info).toMatchObject({ ok: true, value: { schemaVersion: expect.any(Number) } });
      expect(app.windows()).toHaveLength(1);
    } finally {
      await app.close();
    }
  }, 120_000);
});
