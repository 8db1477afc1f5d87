/**
 * npm run bench:sandbox — not a test: prints figures, never fails on a slow machine.
 *
 * Runs the 974 MBPP gold programs (program, setup code, all tests) through every sandbox backend
 * available here and, in the same run, through a naive baseline implemented below: one fresh
 * /usr/bin/python3 per program, no isolation, as many at a time as there are cores.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseTaskLine } from '../../main/datasets/formats.js';
import type { TaskRecord } from '../../main/datasets/task-record.js';
import { goldRequests } from '../../main/sandbox/gold.js';
import { openBackend } from '../../main/sandbox/select.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import type { ExecutionRequest } from '../../main/sandbox/types.js';
import { describeError } from '../../main/errors.js';
import { sharedData } from '../helpers/shared-data.js';

const mbppFile = sharedData('mbpp.jsonl');
const cores = os.availableParallelism();

function loadMbpp(): TaskRecord[] {
  return fs.readFileSync(mbppFile, 'utf8').split('\n').filter((l) => l.trim()).map((line) => {
    const parsed = parseTaskLine('mbpp', JSON.parse(line));
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.task;
  });
}

/** The baseline: a new interpreter per program, `cores` at a time. */
async function naive(requests: readonly ExecutionRequest[]): Promise<{ passed: number; seconds: number }> {
  const runOne = (r: ExecutionRequest): Promise<boolean> => new Promise((resolve) => {
    const child = spawn('/usr/bin/python3', ['-'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
    child.stdin.end([r.program, r.setupCode ?? '', ...r.tests].join('\n'));
  });
  const start = performance.now();
  let next = 0;
  let passed = 0;
  await Promise.all(Array.from({ length: cores }, async () => {
    while (next < requests.length) {
      const request = requests[next++];
      if (request && await runOne(request)) passed += 1;
    }
  }));
  return { passed, seconds: (performance.now() - start) / 1000 };
}

async function sandboxed(name: 'bwrap' | 'docker', requests: readonly ExecutionRequest[]): Promise<{ passed: number; seconds: number; startup: number } | string> {
  let pool: SandboxPool | undefined;
  try {
    const t0 = performance.now();
    pool = await SandboxPool.create(await openBackend(name));
    const startup = (performance.now() - t0) / 1000;
    await pool.run(requests[0] ?? { program: '', tests: [] }); // warm
    const start = performance.now();
    let passed = 0;
    for await (const { result } of pool.runMany(requests)) if (result.status === 'passed') passed += 1;
    return { passed, seconds: (performance.now() - start) / 1000, startup };
  } catch (e) {
    return describeError(e);
  } finally {
    await pool?.dispose();
  }
}

async function main(): Promise<void> {
  const requests = goldRequests(loadMbpp().map((t) => ({ ...t, taskId: t.taskKey }))).map((g) => g.request);
  console.log(`bench:sandbox — ${requests.length} MBPP gold programs, ${cores} cores`);
  const rates: Record<string, number | undefined> = {};
  for (const name of ['bwrap', 'docker'] as const) {
    const r = await sandboxed(name, requests);
    if (typeof r === 'string') {
      console.log(`${name.padEnd(7)} unavailable: ${r}`);
      continue;
    }
    rates[name] = requests.length / r.seconds;
    console.log(`${name.padEnd(7)} ${r.passed}/${requests.length} passed in ${r.seconds.toFixed(2)} s = ${rates[name]?.toFixed(0)} programs/s (pool of ${cores} started in ${r.startup.toFixed(2)} s)`);
  }
  const base = await naive(requests);
  rates.naive = requests.length / base.seconds;
  console.log(`naive   ${base.passed}/${requests.length} passed in ${base.seconds.toFixed(2)} s = ${rates.naive.toFixed(0)} programs/s (fresh /usr/bin/python3 per program, ${cores} at a time, no isolation)`);
  const fmt = (v: number | undefined): string => (v === undefined ? 'n/a' : v.toFixed(0));
  const ratio = rates.bwrap === undefined ? 'n/a' : (rates.bwrap / rates.naive).toFixed(2);
  console.log(`sandbox bench: bwrap ${fmt(rates.bwrap)}/s docker ${fmt(rates.docker)}/s naive ${fmt(rates.naive)}/s bwrap/naive ${ratio}`);
}

await main();
