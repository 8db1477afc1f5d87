import path from 'node:path';
import { LORA_TARGET_MODULES, type TrainingConfig, type TrainingProgress, type TrainingRunInfo } from '../../../preload/contract.js';
import { AppError } from '../../errors.js';
import { readTrainingFile } from '../../training/examples.js';
import { TrainingJobs } from '../../training/jobs.js';
import { json, numberOption, stringOption, table, UsageError, type CommandContext } from '../context.js';

type LoraTarget = (typeof LORA_TARGET_MODULES)[number];

/** Only the options given on the command line; the contract's defaults fill the rest. */
function configFromOptions(ctx: CommandContext): Partial<TrainingConfig> {
  const v = ctx.values;
  const num = (name: string, check: { integer?: boolean; min?: number; max?: number } = {}): number | undefined =>
    v[name] === undefined ? undefined : numberOption(v, name, NaN, check);
  const targets = stringOption(ctx, 'targets')?.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of targets ?? []) {
    if (!(LORA_TARGET_MODULES as readonly string[]).includes(t)) throw new UsageError(`unknown --targets module "${t}"; use ${LORA_TARGET_MODULES.join(', ')}`);
  }
  const scheduleOption = stringOption(ctx, 'schedule');
  if (scheduleOption !== undefined && scheduleOption !== 'linear' && scheduleOption !== 'constant') throw new UsageError('--schedule is linear or constant');
  const schedule: TrainingConfig['lrSchedule'] | undefined = scheduleOption;
  const config: Partial<TrainingConfig> = { threads: ctx.runtime().threads };
  const set = <K extends keyof TrainingConfig>(key: K, value: TrainingConfig[K] | undefined): void => {
    if (value !== undefined) config[key] = value;
  };
  set('rank', num('rank', { integer: true }));
  set('alpha', num('alpha'));
  set('learningRate', num('lr'));
  set('epochs', num('epochs', { integer: true }));
  set('batchSize', num('batch-size', { integer: true }));
  set('lengthGroups', num('length-groups', { integer: true }));
  set('contextSize', num('context', { integer: true }));
  set('validationFraction', num('validation'));
  set('seed', num('seed', { integer: true }));
  set('checkpointEvery', num('checkpoint-every', { integer: true }));
  set('weightDecay', num('weight-decay'));
  set('targetModules', targets?.filter((t): t is LoraTarget => (LORA_TARGET_MODULES as readonly string[]).includes(t)));
  set('lrSchedule', schedule);
  return config;
}

function progressLine(p: TrainingProgress): string {
  const total = p.totalSteps ?? 0;
  const width = 20;
  const filled = total > 0 ? Math.round((width * p.step) / total) : 0;
  return `run ${p.runId} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${p.step}/${total || '?'} · epoch ${p.epoch.toFixed(2)}` +
    `${p.loss !== null ? ` · loss ${p.loss.toFixed(3)}` : ''}${p.validationLoss !== null ? ` · val ${p.validationLoss.toFixed(3)}` : ''}` +
    `${p.tokensPerS !== null ? ` · ${Math.round(p.tokensPerS)} useful tok/s` : ''}${p.computedTokensPerS !== null ? ` (${Math.round(p.computedTokensPerS)} computed)` : ''}${p.etaS !== null && p.status === 'running' ? ` · ~${Math.ceil(p.etaS)} s left` : ''}`;
}

/** Rows left out for being longer than the context, named (the first few), so none goes silently. */
export function tooLongNote(run: TrainingRunInfo): string | undefined {
  const report = run.dataReport;
  if (!report || report.tooLong.count === 0) return undefined;
  const shown = report.tooLong.rows.slice(0, 10).map((r) => `${r.ref} (${r.tokens} tokens)`).join(', ');
  const more = report.tooLong.count > 10 ? ` and ${report.tooLong.count - 10} more` : '';
  return `run ${run.id}: ${report.tooLong.count} row${report.tooLong.count === 1 ? ' is' : 's are'} longer than ${report.limit} tokens and left out: ${shown}${more}` +
    ` (raise --context, up to the model's context, to keep them)\n`;
}

function summary(run: TrainingRunInfo): string {
  switch (run.status) {
    case 'completed': return `run ${run.id}: trained ${run.step} steps; adapter ${run.adapterId ?? '?'} registered for model ${run.baseModelId}\n`;
    case 'cancelled': return `run ${run.id}: stopped at step ${run.step}/${run.totalSteps ?? '?'}; the adapter so far is usable; continue with \`ilf train --resume ${run.id}\`\n`;
    default: return `run ${run.id}: ${run.status}${run.error ? ` — ${run.error}` : ''}\n`;
  }
}

/**
 * `ilf train`: a LoRA fine-tune with progress on the terminal. Ctrl-C stops gracefully (the
 * trainer checkpoints and writes its adapter); `--resume RUN` continues; `--list` shows runs.
 */
export async function trainCommand(ctx: CommandContext): Promise<number> {
  const store = ctx.store();
  const jobs = new TrainingJobs({
    store, dataDir: ctx.dataDir, runtime: ctx.runtime,
    onProgress: (p) => ctx.progress.show(progressLine(p)),
    progressIntervalMs: ctx.io.isTty ? 200 : 2000,
  });
  if (ctx.values.list === true) {
    const runs = jobs.list();
    ctx.io.stdout(json(ctx) ? `${JSON.stringify(runs, null, 2)}\n` : runs.length === 0 ? 'no training runs yet\n'
      : table([['RUN', 'STATUS', 'MODEL', 'SET', 'STEP', 'ADAPTER'], ...runs.map((r) => [String(r.id), r.status, String(r.baseModelId), String(r.trainingSetId),
        `${r.step}/${r.totalSteps ?? '?'}`, r.adapterId === null ? '' : String(r.adapterId)])]));
    return 0;
  }
  let started: TrainingRunInfo;
  const resume = numberOption(ctx.values, 'resume', NaN, { integer: true, min: 1 });
  if (!Number.isNaN(resume)) {
    started = await jobs.resume(resume);
  } else {
    const modelId = numberOption(ctx.values, 'model', NaN, { integer: true, min: 1 });
    if (Number.isNaN(modelId)) throw new UsageError('train needs --model ID (see `ilf models list`)');
    const data = stringOption(ctx, 'data');
    const setOption = numberOption(ctx.values, 'training-set', NaN, { integer: true, min: 1 });
    if ((data === undefined) === Number.isNaN(setOption)) throw new UsageError('train needs one of --data FILE.jsonl or --training-set ID');
    let trainingSetId = setOption;
    if (data !== undefined) {
      const { sha256 } = await readTrainingFile(data); // every line checked before a run exists
      trainingSetId = store.training.createFileTrainingSet(path.basename(data), path.resolve(data), sha256);
    }
    const out = stringOption(ctx, 'out');
    started = await jobs.start({ modelId, trainingSetId, config: configFromOptions(ctx), ...(out ? { outDir: out } : {}) });
  }
  const tooLong = tooLongNote(started);
  if (tooLong && !json(ctx)) ctx.io.stderr(tooLong);
  const onAbort = (): void => { jobs.stop(started.id); };
  ctx.io.signal?.addEventListener('abort', onAbort, { once: true });
  const finished = await jobs.wait(started.id);
  ctx.io.signal?.removeEventListener('abort', onAbort);
  ctx.progress.done();
  ctx.io.stdout(json(ctx) ? `${JSON.stringify(finished, null, 2)}\n` : summary(finished));
  if (finished.status === 'failed' && finished.error) throw new AppError('INTERNAL', finished.error, 'the end of the trainer log is in `ilf train --list --json` (logTail)');
  return finished.status === 'completed' ? 0 : finished.status === 'cancelled' ? 130 : 1;
}
