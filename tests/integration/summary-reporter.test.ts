import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/fs.js';

/**
 * The summary line CI reads must agree with vitest's exit status. Each case runs vitest itself, in
 * its own process, on fixture files (tests/fixtures/reporter/, outside the suite's include globs).
 */
const fixtures = path.join(repoRoot, 'tests', 'fixtures', 'reporter');
const vitestBin = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');

async function vitest(files: string[]): Promise<{ code: number; line: string; output: string }> {
  // The child must not believe it is a worker of this run.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'TEST' && k !== 'NODE_ENV'));
  const { code, stdout, stderr } = await promisify(execFile)(process.execPath,
    [vitestBin, 'run', '--config', path.join(fixtures, 'vitest.config.ts'), ...files], { cwd: fixtures, env, timeout: 60_000 })
    .then(({ stdout: out, stderr: err }) => ({ code: 0, stdout: out, stderr: err }), (e: unknown) => e as { code: number; stdout: string; stderr: string });
  const lines = stdout.trim().split('\n');
  return { code, line: lines.at(-1) ?? '', output: `${stdout}\n${stderr}` };
}

describe('the summary line', () => {
  it.concurrent.each([
    ['a passing file with a test skipped on purpose', ['passes.fixture.ts'], 0, '1 passed, 0 failed, 1 skipped'],
    ['a file whose beforeAll throws: its tests did not run, so they failed', ['setup-fails.fixture.ts'], 1, '0 passed, 2 failed'],
    ['a file whose afterAll throws after its test passed', ['teardown-fails.fixture.ts'], 1, '1 passed, 1 failed'],
    ['a file that fails to load', ['load-fails.fixture.ts'], 1, '0 passed, 1 failed'],
    ['an unhandled rejection in a passing test', ['unhandled.fixture.ts'], 1, '1 passed, 1 failed'],
    ['a passing file beside one whose set-up failed', ['passes.fixture.ts', 'setup-fails.fixture.ts'], 1, '1 passed, 2 failed, 1 skipped'],
  ] as const)('%s', async (_name, files, code, line) => {
    const r = await vitest([...files]);
    expect(r.code, r.output).toBe(code);
    expect(r.line, r.output).toBe(line);
  }, 90_000);
});
