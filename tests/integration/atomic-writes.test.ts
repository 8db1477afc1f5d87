import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../main/files/atomic.js';
import { trainerBinary } from '../../main/training/trainer-binary.js';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { repoRoot, tempDir } from '../helpers/fs.js';

/**
 * Crash-safe writes, seen from the kernel: the real process runs under strace, and the order of its
 * fsync and rename calls is checked (file flushed, then renamed, then its folder flushed). A crash
 * cannot be staged here; this order is what makes one leave the old file or the whole new one.
 */
const strace = ['/usr/bin/strace', '/bin/strace'].find((p) => fs.existsSync(p));
if (!strace && process.env.CI) throw new Error('strace is missing: .ci/run installs it for the crash-safety tests');

interface Call { name: string; args: string }

/** Runs a command under strace and returns its fsync/rename calls in order, with file descriptors shown as paths. */
function traced(command: string, args: string[]): Call[] {
  const log = path.join(tempDir(), 'strace.log');
  const r = spawnSync(strace ?? 'strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', log, command, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return fs.readFileSync(log, 'utf8').split('\n')
    .map((line) => /^(?:\d+\s+)?(\w+)\((.*)\)\s+=\s+0/.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ name: m[1] ?? '', args: m[2] ?? '' }));
}

const isFsync = (c: Call): boolean => c.name === 'fsync' || c.name === 'fdatasync';
const isRename = (c: Call): boolean => c.name.startsWith('rename');

/** Index of the first call matching, after `from`; -1 when none. */
function find(calls: Call[], test: (c: Call) => boolean, from = 0): number {
  const i = calls.slice(from).findIndex(test);
  return i < 0 ? -1 : from + i;
}

/** Asserts: the temporary file is flushed, then renamed onto `file`, then `file`'s folder is flushed. */
function expectDurableReplace(calls: Call[], file: string, tmpMatch: (args: string) => boolean): void {
  const rename = find(calls, (c) => isRename(c) && c.args.includes(`"${file}"`) && tmpMatch(c.args));
  expect(rename, `rename onto ${file}`).toBeGreaterThanOrEqual(0);
  const flushed = calls.slice(0, rename).findLastIndex((c) => isFsync(c) && tmpMatch(c.args));
  expect(flushed, `fsync of the temporary file before the rename onto ${file}`).toBeGreaterThanOrEqual(0);
  const dirFlush = find(calls, (c) => isFsync(c) && c.args.includes(`<${path.dirname(file)}>`), rename + 1);
  expect(dirFlush, `fsync of ${path.dirname(file)} after the rename`).toBeGreaterThan(rename);
}

describe.skipIf(!strace)('crash-safe writes', () => {
  it('writeFileAtomic flushes the file, renames it into place, then flushes the folder; a failed write leaves nothing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'export.jsonl');
    fs.writeFileSync(file, 'old\n');
    const atomic = pathToFileURL(path.join(repoRoot, 'dist', 'main', 'files', 'atomic.js')).href;
    const calls = traced(process.execPath, ['-e', `import(${JSON.stringify(atomic)}).then((m) => m.writeFileAtomic(${JSON.stringify(file)}, 'new\\n'))`]);
    expectDurableReplace(calls, file, (args) => /\.export\.jsonl\.\d+\.\w+\.tmp/.test(args));
    expect(fs.readFileSync(file, 'utf8')).toBe('new\n');
    expect(fs.readdirSync(dir)).toEqual(['export.jsonl']);

    await expect(writeFileAtomic(path.join(dir, 'missing', 'x.json'), 'x')).rejects.toThrow(/ENOENT/);
    expect(fs.readdirSync(dir)).toEqual(['export.jsonl']);
  });

  it('the trainer flushes each checkpoint before latest.json points at it, and latest.json and the adapter the same way', async () => {
    const dir = tempDir();
    const model = path.join(dir, 'tiny.gguf');
    await writeTinyModel(model, specForParams('500K', { seed: 3 }));
    const data = path.join(dir, 'data.jsonl');
    fs.writeFileSync(data, `${Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: `def f${i}():\n`, completion: `    return ${i}\n` })).join('\n')}\n`);
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ contextSize: 64, threads: 1, epochs: 2, batchSize: 1, checkpointEvery: 2, rank: 2 }));
    const checkpoints = path.join(dir, 'checkpoints');
    const out = path.join(dir, 'adapter.gguf');
    const calls = traced(trainerBinary(), ['--model', model, '--data', data, '--config', config, '--out', out, '--checkpoint-dir', checkpoints]);

    const latest = path.join(checkpoints, 'latest.json');
    expectDurableReplace(calls, latest, (args) => args.includes(`${latest}.tmp`));
    expectDurableReplace(calls, out, (args) => args.includes(`${out}.tmp`));
    // Every rename onto latest.json comes after its step folder's files and the folder itself were flushed.
    const renames = calls.map((c, i) => ({ c, i })).filter(({ c }) => isRename(c) && c.args.includes(`"${latest}"`));
    expect(renames.length).toBeGreaterThan(1);
    for (const { i } of renames) {
      const before = calls.slice(0, i);
      const stepDir = /<([^>]*step-\d+)>/.exec(before.findLast((c) => isFsync(c) && /step-\d+>/.test(c.args))?.args ?? '')?.[1];
      expect(stepDir, 'a flushed step folder before latest.json').toBeDefined();
      for (const name of ['model.gguf', 'optimizer.gguf']) {
        expect(before.some((c) => isFsync(c) && c.args.includes(`<${stepDir}/${name}>`)), `${stepDir}/${name} flushed`).toBe(true);
      }
      expect(before.some((c) => isFsync(c) && c.args.includes(`<${checkpoints}>`))).toBe(true);
    }
    const pointed = JSON.parse(fs.readFileSync(latest, 'utf8')) as { dir: string };
    expect(fs.readdirSync(path.join(checkpoints, pointed.dir)).sort()).toEqual(['model.gguf', 'optimizer.gguf']);
    expect(fs.statSync(out).size).toBeGreaterThan(0);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);
});
