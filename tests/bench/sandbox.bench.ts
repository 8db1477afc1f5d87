/**
 * npm run bench:sandbox — not a test: prints figures, never fails on a slow machine.
 *
 * Runs the 974 MBPP gold programs (program, setup code, all tests) through every sandbox backend
 * available here (tests judged in the separate harness process, as in the app) and, in the same
 * run, through two baselines implemented below, both without any isolation:
 * - naive: one fresh /usr/bin/python3 per program, as many at a time as there are cores;
 * - floor: a warm interpreter that forks per program and runs it with its tests in the child, 2 at
 *   a time (the cheapest way to run programs one process each: what isolation is measured against).
 * The machine is often shared: compare the rates of one run, not runs with each other.
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

/** The floor's warm interpreter: reads programs as JSON lines, forks one child each, answers 1/0. */
const FLOOR_PY = `
import json, os, signal, sys
import bisect, collections, copy, functools, heapq, itertools, math, operator, re, string
devnull = os.open(os.devnull, os.O_RDWR)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        signal.alarm(10)
        try:
            exec("\\n".join([job["program"], job["setup"]] + job["tests"]), {"__name__": "__main__"})
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write("1\\n" if status == 0 else "0\\n")
    sys.stdout.flush()
`;

async function floor(requests: readonly ExecutionRequest[], parallel = 2): Promise<{ passed: number; seconds: number }> {
  const workers = Array.from({ length: parallel }, () => {
    const child = spawn('/usr/bin/python3', ['-I', '-S', '-c', FLOOR_PY], { stdio: ['pipe', 'pipe', 'ignore'] });
    const waiting: ((ok: boolean) => void)[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        waiting.shift()?.(line === '1');
      }
    });
    return {
      child,
      run: (r: ExecutionRequest): Promise<boolean> => new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(`${JSON.stringify({ program: r.program, setup: r.setupCode ?? '', tests: r.tests })}\n`);
      }),
    };
  });
  // Warm: both interpreters have imported what the runner preloads.
  await Promise.all(workers.map((w) => w.run({ program: '', tests: [] })));
  const start = performance.now();
  let next = 0;
  let passed = 0;
  await Promise.all(workers.map(async (w) => {
    while (next < requests.length) {
      const request = requests[next++];
      if (request && await w.run(request)) passed += 1;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  for (const w of workers) w.child.stdin.end();
  return { passed, seconds };
}

async function sandboxed(name: 'bwrap' | 'docker', requests: readonly ExecutionRequest[], size?: number): Promise<{ passed: number; seconds: number; startup: number; judged: string; size: number } | string> {
  let pool: SandboxPool | undefined;
  try {
    const t0 = performance.now();
    pool = await SandboxPool.create(await openBackend(name), size === undefined ? {} : { size });
    const startup = (performance.now() - t0) / 1000;
    await pool.run(requests[0] ?? { program: '', tests: [] }); // warm
    const start = performance.now();
    let passed = 0;
    const judged = new Map<string, number>();
    for await (const { result } of pool.runMany(requests)) {
      if (result.status === 'passed') passed += 1;
      judged.set(result.judge ?? 'none', (judged.get(result.judge ?? 'none') ?? 0) + 1);
    }
    return { passed, seconds: (performance.now() - start) / 1000, startup, size: pool.size, judged: [...judged].map(([k, v]) => `${v} ${k}`).join(', ') };
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
    console.log(`${name.padEnd(7)} ${r.passed}/${requests.length} passed in ${r.seconds.toFixed(2)} s = ${rates[name]?.toFixed(0)} programs/s (pool of ${r.size} workers started in ${r.startup.toFixed(2)} s; judged: ${r.judged})`);
  }
  // One worker per core explicitly (whatever defaultPoolSize says), the floor's own concurrency, so a
  // pool's size is never mistaken for the runner's speed.
  const perCore = await sandboxed('bwrap', requests, cores);
  if (typeof perCore !== 'string') {
    console.log(`bwrap   ${perCore.passed}/${requests.length} passed in ${perCore.seconds.toFixed(2)} s = ${(requests.length / perCore.seconds).toFixed(0)} programs/s with one worker per core (${perCore.size})`);
  }
  const base = await naive(requests);
  rates.naive = requests.length / base.seconds;
  console.log(`naive   ${base.passed}/${requests.length} passed in ${base.seconds.toFixed(2)} s = ${rates.naive.toFixed(0)} programs/s (fresh /usr/bin/python3 per program, ${cores} at a time, no isolation)`);
  const low = await floor(requests);
  rates.floor = requests.length / low.seconds;
  console.log(`floor   ${low.passed}/${requests.length} passed in ${low.seconds.toFixed(2)} s = ${rates.floor.toFixed(0)} programs/s (a warm interpreter forking per program, 2 at a time, no isolation)`);
  const fmt = (v: number | undefined): string => (v === undefined ? 'n/a' : v.toFixed(0));
  const ratio = (of: number | undefined, to: number): string => (of === undefined ? 'n/a' : (of / to).toFixed(2));
  console.log(`sandbox bench: bwrap ${fmt(rates.bwrap)}/s docker ${fmt(rates.docker)}/s naive ${fmt(rates.naive)}/s floor ${fmt(rates.floor)}/s ` +
    `bwrap/naive ${ratio(rates.bwrap, rates.naive)} bwrap/floor ${ratio(rates.bwrap, rates.floor)}`);
}

await main();
