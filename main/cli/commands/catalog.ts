import { DATASET_FORMATS, type DatasetFormat } from '../../../preload/contract.js';
import { json, oneLine, stringOption, table, UsageError, type CommandContext } from '../context.js';

function isFormat(value: string): value is DatasetFormat {
  return (DATASET_FORMATS as readonly string[]).includes(value);
}

export async function importCommand(ctx: CommandContext): Promise<number> {
  const [file, extra] = ctx.args;
  if (file === undefined || extra !== undefined) throw new UsageError('import takes one FILE');
  const format = stringOption(ctx, 'format');
  if (format === undefined) throw new UsageError(`import needs --format (${DATASET_FORMATS.join('|')})`);
  if (!isFormat(format)) throw new UsageError(`unknown --format ${format}; use one of ${DATASET_FORMATS.join(', ')}`);
  const report = await ctx.call('datasets.import', { file, format, name: stringOption(ctx, 'name'), defaultSplit: stringOption(ctx, 'split') });
  ctx.progress.done();
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const splits = Object.entries(report.splits).map(([s, n]) => `${s} ${n}`).join(' / ');
    ctx.io.stdout(`${report.dataset}: ${report.added} added, ${report.updated} updated, ${report.unchanged} unchanged` +
      `${report.notInFile ? `, ${report.notInFile} no longer in the file (kept)` : ''}\nsplits: ${splits}\n`);
  }
  return 0;
}

export async function datasetsCommand(ctx: CommandContext): Promise<number> {
  const datasets = await ctx.call('datasets.list');
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify(datasets, null, 2)}\n`);
  else if (datasets.length === 0) ctx.io.stdout('no datasets yet: import one with `ilf import FILE --format mbpp|humaneval|jsonl`\n');
  else {
    ctx.io.stdout(table([['NAME', 'FORMAT', 'TASKS', 'SPLITS'], ...datasets.map((d) => [
      d.name, d.format, String(d.taskCount), Object.entries(d.splits).map(([s, n]) => `${s} ${n}`).join(' / '),
    ])]));
  }
  return 0;
}

export async function tasksCommand(ctx: CommandContext): Promise<number> {
  const query = { dataset: stringOption(ctx, 'dataset'), split: stringOption(ctx, 'split'), search: stringOption(ctx, 'search') };
  const all = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await ctx.call('tasks.list', { ...query, offset, limit: 1000 });
    all.push(...page.tasks);
    if (all.length >= page.total || page.tasks.length === 0) break;
  }
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify(all, null, 2)}\n`);
  else if (all.length === 0) ctx.io.stdout('no tasks match\n');
  else ctx.io.stdout(table([['DATASET', 'TASK', 'SPLIT', 'TEXT'], ...all.map((t) => [t.dataset, t.taskId, t.split, oneLine(t.text, 70)])]));
  return 0;
}

export async function taskCommand(ctx: CommandContext): Promise<number> {
  const [dataset, taskId] = ctx.args;
  if (dataset === undefined || taskId === undefined) throw new UsageError('task takes DATASET and TASK_ID');
  const task = await ctx.call('tasks.get', { dataset, taskId });
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify(task, null, 2)}\n`);
  else {
    ctx.io.stdout(`${task.dataset} ${task.taskId} (${task.split})\n\n--- prompt ---\n${task.prompt}\n--- tests (${task.tests.length}) ---\n` +
      `${task.tests.join('\n')}\n${task.setupCode ? `--- setup code (runs after the program) ---\n${task.setupCode}\n` : ''}`);
  }
  return 0;
}

export async function infoCommand(ctx: CommandContext): Promise<number> {
  const info = await ctx.call('app.info');
  ctx.io.stdout(json(ctx) ? `${JSON.stringify(info, null, 2)}\n`
    : `ILF Studio ${info.version}\ndata folder: ${info.dataDir}\ndatabase:    ${info.databaseFile} (schema v${info.schemaVersion})\n`);
  return 0;
}
