import { runSampling } from '../../inference/sampling.js';
import { json, numberOption, stringOption, UsageError, type CommandContext } from '../context.js';

export async function sampleCommand(ctx: CommandContext): Promise<number> {
  const modelId = numberOption(ctx.values, 'model', NaN, { integer: true, min: 1 });
  if (Number.isNaN(modelId)) throw new UsageError('sample needs --model ID (see `ilf models list`)');
  const dataset = stringOption(ctx, 'dataset');
  if (dataset === undefined) throw new UsageError('sample needs --dataset NAME');
  const format = stringOption(ctx, 'format') ?? 'completion';
  if (format !== 'completion' && format !== 'chat') throw new UsageError(`unknown --format ${format}; use completion or chat`);
  const adapter = numberOption(ctx.values, 'adapter', NaN, { integer: true, min: 1 });
  const resume = numberOption(ctx.values, 'resume', NaN, { integer: true, min: 1 });
  const stops = ctx.values.stop;
  const limit = numberOption(ctx.values, 'limit', NaN, { integer: true, min: 1 });
  const report = await runSampling({ store: ctx.store(), runtime: ctx.runtime() }, {
    modelId,
    adapterId: Number.isNaN(adapter) ? null : adapter,
    dataset,
    split: stringOption(ctx, 'split'),
    n: numberOption(ctx.values, 'n', 30, { integer: true, min: 1, max: 1000 }),
    temperature: numberOption(ctx.values, 'temperature', 0.8, { min: 0, max: 5 }),
    topP: numberOption(ctx.values, 'top-p', 0.95, { min: 0.01, max: 1 }),
    maxTokens: numberOption(ctx.values, 'max-tokens', 300, { integer: true, min: 1, max: 8192 }),
    seed: numberOption(ctx.values, 'seed', 1, { integer: true, min: 0 }),
    promptFormat: format,
    ...(Array.isArray(stops) ? { stop: stops.map((s) => s.replace(/\\n/g, '\n')) } : {}),
    limit: Number.isNaN(limit) ? undefined : limit,
  }, {
    ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    ...(Number.isNaN(resume) ? {} : { resumeRunId: resume }),
    onProgress: (p) => ctx.progress.show(`run ${p.runId}: ${p.tasksDone}/${p.tasksTotal} tasks, ${p.samplesCreated} samples, ` +
      `${p.tokensPerSecond.toFixed(0)} tok/s${p.etaSeconds !== null ? `, ~${Math.ceil(p.etaSeconds)} s left` : ''}`),
  });
  ctx.progress.done();
  ctx.io.stdout(json(ctx) ? `${JSON.stringify(report, null, 2)}\n`
    : `run ${report.runId}: ${report.samplesCreated} samples for ${report.tasks} tasks (${report.samplesSkipped} already there) in ${report.seconds.toFixed(1)} s, ${report.tokensPerSecond.toFixed(0)} tok/s\n`);
  return 0;
}
