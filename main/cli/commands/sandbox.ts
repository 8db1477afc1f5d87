import { execGold, requireGoldTasks } from '../../sandbox/gold.js';
import type { BackendChoice } from '../../sandbox/select.js';
import { json, stringOption, UsageError, type CommandContext } from '../context.js';
import { openPool } from './pipeline.js';

function isBackendChoice(value: string): value is BackendChoice {
  return value === 'auto' || value === 'bwrap' || value === 'docker';
}

export async function execGoldCommand(ctx: CommandContext): Promise<number> {
  const dataset = stringOption(ctx, 'dataset');
  if (dataset === undefined) throw new UsageError('exec-gold needs --dataset NAME');
  const backend = stringOption(ctx, 'backend') ?? 'auto';
  if (!isBackendChoice(backend)) throw new UsageError(`unknown --backend ${backend}; use auto, bwrap or docker`);
  const store = ctx.store();
  requireGoldTasks(store, dataset); // says how to import it, before any sandbox starts
  const pool = await openPool(ctx);
  let report;
  try {
    report = await execGold(store, dataset, pool, {
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
      onProgress: (done, total) => ctx.progress.show(`running gold programs on ${pool.size} ${pool.backend.name} workers: ${done}/${total}`),
    });
  } finally {
    await pool.dispose();
  }
  ctx.progress.done();
  if (json(ctx)) {
    ctx.io.stdout(`${JSON.stringify({ backend: report.backend, workers: report.workers, total: report.total, passed: report.passed, failed: report.failed, judged: report.judged, inProcess: report.inProcess, seconds: Number(report.seconds.toFixed(3)) })}\n`);
  } else {
    ctx.io.stdout(`${report.backend} (${report.workers} workers): ${report.passed}/${report.total} gold programs passed in ${report.seconds.toFixed(2)} s` +
      ` (judged: ${report.judged['separate-process']} separate-process, ${report.judged['in-process']} in-process` +
      `${report.inProcess.length ? `: ${report.inProcess.join(', ')}` : ''})` +
      `${report.failed.length ? `\nfailed: ${report.failed.join(', ')}` : ''}` +
      `${report.sandboxErrors.length ? `\nsandbox errors (not the programs' fault): ${report.sandboxErrors.join(', ')}` : ''}\n`);
  }
  return report.failed.length === 0 ? 0 : 1;
}
