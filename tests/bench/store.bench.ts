/**
 * npm run bench:store — not a test: prints figures, never fails on a slow machine.
 *
 * Inserts 100k samples with their executions into a real SQLite file, in batches, and reads one
 * page of the failures inbox (failing samples of tasks with zero passing samples, newest first).
 * Baselines, measured in the same run:
 *   - inserts: one transaction per sample (what a naive "save each result as it comes" does);
 *   - inbox: deriving verdicts by joining executions instead of the samples.passed column.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { importTasks } from '../../main/datasets/import.js';
import type { ExecutionRecord, NewSample } from '../../main/store/runs.js';
import { Store } from '../../main/store/store.js';
import { seededRandom } from '../../main/random.js';
import { sharedData } from '../helpers/shared-data.js';

const TOTAL = Number(process.env.BENCH_SAMPLES ?? 100_000);
const BATCH = 1000;
const BASELINE_SAMPLES = 2000;
const mbpp = sharedData('mbpp.jsonl');

interface Fixture {
  tasks: { id: number; solution: string; tests: string[] }[];
  /** Tasks where no sample passes: the ILF candidates. */
  hopeless: Set<number>;
}

async function prepare(file: string): Promise<{ store: Store; runId: number; fixture: Fixture }> {
  const store = Store.open(file);
  await importTasks(store, mbpp, { format: 'mbpp' });
  const tasks = store.db
    .prepare<[], { id: number; reference_solution: string; tests: string }>('SELECT id, reference_solution, tests FROM tasks ORDER BY id')
    .all()
    .map((t) => ({ id: t.id, solution: t.reference_solution, tests: JSON.parse(t.tests) as string[] }));
  const random = seededRandom(7);
  const hopeless = new Set(tasks.filter(() => random() < 0.3).map((t) => t.id));
  const { id: modelId } = store.models.add({
    name: 'bench', path: '/bench.gguf', sha256: 'b'.repeat(64), architecture: 'llama', quantization: 'Q8_0', sizeBytes: 1, hasChatTemplate: false,
  });
  const datasetId = store.catalog.dataset('mbpp')?.id ?? 0;
  const runId = store.runs.createSamplingRun({
    purpose: 'ilf', modelId, datasetId, split: 'train', promptFormat: 'completion', n: Math.ceil(TOTAL / tasks.length),
    temperature: 0.8, topP: 0.95, maxTokens: 300, stop: ['\nclass', '\ndef', '\n#', '\nif', '\nprint'], seed: 1,
  });
  return { store, runId, fixture: { tasks, hopeless } };
}

function makeRow(f: Fixture, i: number, random: () => number): { sample: NewSample; execution: ExecutionRecord } {
  const task = f.tasks[i % f.tasks.length];
  if (!task) throw new Error('no tasks');
  const sampleIndex = Math.floor(i / f.tasks.length);
  const program = `${task.solution}\n# sample ${sampleIndex}\n`;
  const passes = !f.hopeless.has(task.id) && random() < 0.4;
  const execution: ExecutionRecord = passes
    ? {
        status: 'passed', errorKind: null, testResults: task.tests.map((_, index) => ({ index, outcome: 'passed' as const })),
        stdout: '', stderr: '', outputTruncated: false, durationMs: 2 + random() * 10, backend: 'bench',
      }
    : {
        status: 'failed', errorKind: 'assertion_failure',
        testResults: task.tests.map((_, index) => (index === 0
          ? { index, outcome: 'assertion_failed' as const, expected: '(4, 5)', actual: '(5, 4)', message: null }
          : { index, outcome: 'not_run' as const })),
        exceptionType: 'AssertionError', exceptionMessage: '',
        traceback: `Traceback (most recent call last):\n  File "<tests>", line 1, in <module>\n    ${task.tests[0] ?? ''}\nAssertionError`,
        stdout: '', stderr: '', outputTruncated: false, durationMs: 2 + random() * 10, backend: 'bench',
      };
  return {
    sample: { taskId: task.id, sampleIndex, seed: 1 + sampleIndex, prompt: `"""\nprompt of task ${task.id}\n"""\n`, completion: program, program },
    execution,
  };
}

function insertRows(store: Store, runId: number, rows: { sample: NewSample; execution: ExecutionRecord }[]): void {
  const ids = store.runs.insertSamples(runId, rows.map((r) => r.sample));
  ids.forEach((id, k) => {
    const row = rows[k];
    if (row) store.runs.recordSampleExecution(id, row.execution);
  });
}

type Mode = 'per-sample' | 'batched-full' | 'batched-normal';

async function insertBench(dir: string, mode: Mode, count: number): Promise<{ store: Store; runId: number; seconds: number }> {
  const { store, runId, fixture } = await prepare(path.join(dir, `${mode}.sqlite`));
  const random = seededRandom(42);
  const start = performance.now();
  for (let i = 0; i < count; i += mode === 'per-sample' ? 1 : BATCH) {
    const n = mode === 'per-sample' ? 1 : Math.min(BATCH, count - i);
    const rows = Array.from({ length: n }, (_, k) => makeRow(fixture, i + k, random));
    if (mode === 'batched-normal') store.bulk(() => insertRows(store, runId, rows));
    else store.transaction(() => insertRows(store, runId, rows));
  }
  return { store, runId, seconds: (performance.now() - start) / 1000 };
}

/** The inbox computed without the samples.passed verdict column: the baseline. */
function naiveInbox(store: Store, runId: number, limit: number): unknown[] {
  return store.db
    .prepare(
      `SELECT s.id, t.task_key, e.error_kind, e.tests_passed, e.tests_total
       FROM samples s
       JOIN executions e ON e.sample_id = s.id AND e.status = 'failed'
       JOIN tasks t ON t.id = s.task_id
       WHERE s.run_id = ?
         AND NOT EXISTS (SELECT 1 FROM samples p JOIN executions pe ON pe.sample_id = p.id
                         WHERE p.task_id = s.task_id AND p.run_id = s.run_id AND pe.status = 'passed')
       ORDER BY s.id DESC LIMIT ?`,
    )
    .all(runId, limit);
}

function timeIt(fn: () => unknown, repeats: number): { first: number; median: number } {
  const times: number[] = [];
  for (let i = 0; i < repeats; i += 1) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  const first = times[0] ?? 0;
  times.sort((a, b) => a - b);
  return { first, median: times[Math.floor(times.length / 2)] ?? 0 };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-bench-store-'));
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  console.log(`bench:store — ${fmt(TOTAL)} samples + executions over 974 MBPP tasks, ${os.cpus().length} cores, SQLite file in ${dir}`);
  try {
    const base = await insertBench(dir, 'per-sample', BASELINE_SAMPLES);
    const baseRate = BASELINE_SAMPLES / base.seconds;
    base.store.close();
    console.log(`baseline  one transaction per sample (sync FULL): ${fmt(baseRate)} samples/s  (${fmt(BASELINE_SAMPLES)} in ${base.seconds.toFixed(2)} s)`);

    const full = await insertBench(dir, 'batched-full', TOTAL);
    const fullRate = TOTAL / full.seconds;
    full.store.close();
    console.log(`batched   ${BATCH}/transaction (sync FULL):        ${fmt(fullRate)} samples/s  (${full.seconds.toFixed(2)} s)  ×${(fullRate / baseRate).toFixed(1)} vs baseline`);

    const bulk = await insertBench(dir, 'batched-normal', TOTAL);
    const bulkRate = TOTAL / bulk.seconds;
    console.log(`batched   ${BATCH}/transaction (sync NORMAL, bulk): ${fmt(bulkRate)} samples/s  (${bulk.seconds.toFixed(2)} s)  ×${(bulkRate / baseRate).toFixed(1)} vs baseline`);

    const { store, runId } = bulk;
    const candidates = store.db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM samples WHERE run_id = ? AND passed = 0').get(runId)?.n ?? 0;
    const inbox = timeIt(() => store.runs.failures({ runId, limit: 50 }), 21);
    const page = store.runs.failures({ runId, limit: 50 });
    const nextPage = timeIt(() => store.runs.failures({ runId, limit: 50, beforeSampleId: page.at(-1)?.sampleId }), 21);
    const filtered = timeIt(() => store.runs.failures({ runId, limit: 50, split: 'refine' }), 21);
    const naive = timeIt(() => naiveInbox(store, runId, 50), 5);
    const same = JSON.stringify(naiveInbox(store, runId, 50).map((r) => (r as { id: number }).id)) === JSON.stringify(page.map((r) => r.sampleId));
    console.log(`inbox     page of 50 of ${fmt(candidates)} failing samples: first ${inbox.first.toFixed(2)} ms, median ${inbox.median.toFixed(2)} ms`);
    console.log(`inbox     next page (keyset): median ${nextPage.median.toFixed(2)} ms; filtered to split=refine: median ${filtered.median.toFixed(2)} ms`);
    console.log(`baseline  inbox via executions join: median ${naive.median.toFixed(2)} ms  → verdict column ×${(naive.median / inbox.median).toFixed(1)} faster (same rows: ${same})`);
    const size = fs.statSync(store.file).size + (fs.existsSync(`${store.file}-wal`) ? fs.statSync(`${store.file}-wal`).size : 0);
    console.log(`size      ${(size / 1024 / 1024).toFixed(1)} MiB for ${fmt(TOTAL)} samples with executions`);
    store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
