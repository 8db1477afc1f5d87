import { testSamplingRun } from '../../pipeline/test-samples.js';
import { SandboxPool } from '../../sandbox/pool.js';
import { openBackend, type BackendChoice } from '../../sandbox/select.js';
import { json, numberOption, stringOption, table, UsageError, type CommandContext } from '../context.js';

export function backendChoice(ctx: CommandContext): BackendChoice {
  const backend = stringOption(ctx, 'backend') ?? 'auto';
  if (backend !== 'auto' && backend !== 'bwrap' && backend !== 'docker') throw new UsageError(`unknown --backend ${backend}; use auto, bwrap or docker`);
  return backend;
}

/** `--workers N`: sandbox workers; default: the Docker daemon's CPUs, or this machine's cores. */
export function workersOption(ctx: CommandContext): number | undefined {
  const n = numberOption(ctx.values, 'workers', NaN, { integer: true, min: 1, max: 1024 });
  return Number.isNaN(n) ? undefined : n;
}

/** The sandbox pool a command asked for (--backend, --workers), saying on stderr when the sandbox image is shipped to a Docker host. */
export async function openPool(ctx: CommandContext): Promise<SandboxPool> {
  const size = workersOption(ctx);
  const backend = await openBackend(backendChoice(ctx), {
    onProgress: (message, milestone) => {
      if (!milestone) return ctx.progress.show(message);
      ctx.progress.done();
      ctx.io.stderr(`${message}\n`);
    },
  });
  return SandboxPool.create(backend, size === undefined ? {} : { size });
}

/** `ilf test-samples --run ID`: every untested sample of a run through the sandbox. */
export async function testSamplesCommand(ctx: CommandContext): Promise<number> {
  const runId = numberOption(ctx.values, 'run', NaN, { integer: true, min: 1 });
  if (Number.isNaN(runId)) throw new UsageError('test-samples needs --run RUN_ID (printed by `ilf sample`)');
  const pool = await openPool(ctx);
  try {
    const report = await testSamplingRun(ctx.store(), pool, runId, {
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
      onProgress: (done, total) => ctx.progress.show(`testing samples: ${done}/${total}`),
    });
    ctx.progress.done();
    ctx.io.stdout(json(ctx) ? `${JSON.stringify(report, null, 2)}\n`
      : `run ${runId}: ${report.tested} samples tested on ${pool.backend.name} in ${report.seconds.toFixed(1)} s — ${report.passed} passed, ${report.failed} failed` +
        `${report.sandboxErrors ? `, ${report.sandboxErrors} sandbox errors (run again to retry them)` : ''}\n` +
        `${report.tasksWithoutPass} of ${report.tasks} tasks have no passing sample: see them with \`ilf failures --run ${runId}\`\n`);
    return 0;
  } finally {
    await pool.dispose();
  }
}

/** `ilf failures`: the failures inbox. */
export async function failuresCommand(ctx: CommandContext): Promise<number> {
  const run = numberOption(ctx.values, 'run', NaN, { integer: true, min: 1 });
  const items = await ctx.call('failures.list', {
    ...(Number.isNaN(run) ? {} : { runId: run }),
    dataset: stringOption(ctx, 'dataset'),
    split: stringOption(ctx, 'split'),
    includeSolved: ctx.values.all === true,
    limit: numberOption(ctx.values, 'limit', 50, { integer: true, min: 1, max: 500 }),
  });
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify(items, null, 2)}\n`);
  else if (items.length === 0) ctx.io.stdout('no failures to look at: every task has a passing sample, or nothing is tested yet (`ilf test-samples --run ID`)\n');
  else {
    ctx.io.stdout(table([['SAMPLE', 'RUN', 'TASK', 'SPLIT', '#', 'KIND', 'TESTS', 'FEEDBACK'], ...items.map((f) => [
      String(f.sampleId), String(f.runId), `${f.dataset}/${f.taskId}${f.taskSolved ? ' (solved)' : ''}`, f.split, String(f.sampleIndex), f.errorKind ?? '',
      `${f.testsPassed}/${f.testsTotal}`, String(f.feedbackCount),
    ])]));
  }
  return 0;
}
