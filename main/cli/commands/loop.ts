import fs from 'node:fs';
import { compareEvaluations, evaluate, type Comparison } from '../../evaluation/evaluate.js';
import { addHumanFeedback, automaticFeedback } from '../../pipeline/feedback-step.js';
import { exportEvaluation, exportFeedback, exportSamples } from '../../pipeline/exports.js';
import { FEEDBACK_FIELDS, importFeedback, type FeedbackField, type FieldMap } from '../../pipeline/import-feedback.js';
import { checkHfId } from '../../models/registry.js';
import { exportTrainingSet } from '../../training/dataset.js';
import { createLoop, parseLoopConfig, runLoop } from '../../pipeline/loop.js';
import { refineAndTest } from '../../pipeline/refine-step.js';
import { addHumanRefinement, reviewRefinement } from '../../pipeline/review.js';
import type { SandboxPool } from '../../sandbox/pool.js';
import { openPool } from './pipeline.js';
import { TrainingJobs } from '../../training/jobs.js';
import { json, numberOption, stringOption, table, UsageError, type CommandContext } from '../context.js';


/** A sandbox pool opened on first use and closed when the command ends. */
async function withPool<T>(ctx: CommandContext, fn: (pool: () => Promise<SandboxPool>) => Promise<T>): Promise<T> {
  let opened: Promise<SandboxPool> | undefined;
  const pool = (): Promise<SandboxPool> => (opened ??= openPool(ctx));
  try {
    return await fn(pool);
  } finally {
    if (opened) await (await opened).dispose();
  }
}

const requiredId = (ctx: CommandContext, name: string, what: string): number => {
  const v = numberOption(ctx.values, name, NaN, { integer: true, min: 1 });
  if (Number.isNaN(v)) throw new UsageError(`${what} needs --${name} ID`);
  return v;
};
const optionalId = (ctx: CommandContext, name: string): number | undefined => {
  const v = numberOption(ctx.values, name, NaN, { integer: true, min: 1 });
  return Number.isNaN(v) ? undefined : v;
};
const person = (ctx: CommandContext, name: string): string => {
  const v = stringOption(ctx, name) ?? ctx.io.env.ILF_AUTHOR ?? ctx.io.env.USER;
  if (!v?.trim()) throw new UsageError(`give --${name} NAME (or set ILF_AUTHOR): feedback and reviews record who wrote them`);
  return v.trim();
};
const signalOf = (ctx: CommandContext): { signal?: AbortSignal } => (ctx.io.signal ? { signal: ctx.io.signal } : {});

function comparisonLines(comparisons: readonly Comparison[]): string {
  return comparisons.map((c) => `pass@${c.k}: ${(100 * c.before).toFixed(1)}% → ${(100 * c.after).toFixed(1)}% ` +
    `(${c.difference.mean >= 0 ? '+' : ''}${(100 * c.difference.mean).toFixed(1)} points, ${Math.round(100 * c.difference.confidence)}% CI ` +
    `${(100 * c.difference.low).toFixed(1)} … ${(100 * c.difference.high).toFixed(1)}, ${c.tasks.length} tasks)\n`).join('');
}

/** `ilf run`: a whole ILF round, or `--resume ID` / `--next ID` / `--list`. */
export async function runCommand(ctx: CommandContext): Promise<number> {
  const store = ctx.store();
  if (ctx.values.list === true) {
    const rows = store.pipeline.list();
    ctx.io.stdout(json(ctx) ? `${JSON.stringify(rows, null, 2)}\n` : rows.length === 0 ? 'no ILF runs yet\n'
      : table([['RUN', 'ROUND', 'MODEL', 'ADAPTER', 'STEP', 'STATUS', 'MESSAGE'], ...rows.map((r) => [String(r.id), String(r.round), String(r.modelId),
        r.adapterId === null ? '' : String(r.adapterId), r.step, r.status, (r.message ?? '').slice(0, 60)])]));
    return 0;
  }
  let pipelineId = optionalId(ctx, 'resume');
  if (pipelineId === undefined) {
    const dataset = stringOption(ctx, 'dataset');
    if (dataset === undefined) throw new UsageError('run needs --dataset NAME (or --resume ID)');
    const num = (name: string): number | undefined => (ctx.values[name] === undefined ? undefined : numberOption(ctx.values, name, NaN));
    const config = parseLoopConfig(Object.fromEntries(Object.entries({
      dataset, split: stringOption(ctx, 'split'), evalSplit: stringOption(ctx, 'eval-split'), limit: num('limit'), evalLimit: num('eval-limit'),
      n: num('n'), temperature: num('temperature'), maxTokens: num('max-tokens'), seed: num('seed'), promptFormat: stringOption(ctx, 'format'),
      feedbackSource: stringOption(ctx, 'feedback'), criticModelId: num('critic'), k: num('k'), review: stringOption(ctx, 'review'),
      evalN: num('eval-n'), evalTemperature: num('eval-temperature'),
      training: Object.fromEntries(Object.entries({
        epochs: num('epochs'), learningRate: num('lr'), rank: num('rank'), contextSize: num('context'), threads: ctx.runtime().threads,
        checkpointEvery: num('checkpoint-every'), validationFraction: num('validation'), targetModules: stringOption(ctx, 'targets')?.split(','),
      }).filter(([, v]) => v !== undefined)),
    }).filter(([, v]) => v !== undefined)));
    const next = optionalId(ctx, 'next');
    pipelineId = next !== undefined ? createLoop(store, 0, config, next) : createLoop(store, requiredId(ctx, 'model', 'run'), config);
    ctx.io.stderr(`ILF run ${pipelineId} started (resume it with \`ilf run --resume ${pipelineId}\`)\n`);
  }
  const id = pipelineId;
  await using training = new TrainingJobs({ store, dataDir: ctx.dataDir, runtime: ctx.runtime, progressIntervalMs: 1000,
    onProgress: (p) => ctx.progress.show(`run ${id} train: step ${p.step}/${p.totalSteps ?? '?'}${p.loss !== null ? `, loss ${p.loss.toFixed(3)}` : ''}`) });
  const result = await withPool(ctx, (pool) => runLoop({ store, runtime: ctx.runtime(), pool, training }, id, {
    ...signalOf(ctx), onProgress: (p) => ctx.progress.show(`run ${id} ${p.step}: ${p.text}`),
  }));
  ctx.progress.done();
  const p = result.pipeline;
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify({ ...p, comparisons: result.comparisons.map(({ tasks: _t, ...c }) => c) }, null, 2)}\n`);
  else if (p.status === 'waiting') ctx.io.stdout(`ILF run ${id} is waiting at ${p.step}: ${p.message ?? ''}\n`);
  else ctx.io.stdout(`ILF run ${id} round ${p.round}: ${p.status}; adapter ${p.resultAdapterId ?? '—'}\n${comparisonLines(result.comparisons)}`);
  return 0;
}

/** `ilf feedback add --sample ID --text TEXT [--author NAME]` and `ilf feedback auto --run ID --source execution|shuffled-control|model`. */
export async function feedbackCommand(ctx: CommandContext): Promise<number> {
  const [sub] = ctx.args;
  const store = ctx.store();
  if (sub === 'add') {
    const sampleId = requiredId(ctx, 'sample', 'feedback add');
    const text = stringOption(ctx, 'text') ?? (stringOption(ctx, 'file') ? fs.readFileSync(stringOption(ctx, 'file') ?? '', 'utf8') : undefined);
    if (!text?.trim()) throw new UsageError('feedback add needs --text TEXT or --file FILE');
    const id = addHumanFeedback(store, { sampleId, author: person(ctx, 'author'), text });
    ctx.io.stdout(json(ctx) ? `${JSON.stringify({ feedbackId: id })}\n` : `feedback ${id} saved for sample ${sampleId}\n`);
    return 0;
  }
  if (sub === 'auto') {
    const source = stringOption(ctx, 'source') ?? 'execution';
    if (source !== 'execution' && source !== 'shuffled-control' && source !== 'model') throw new UsageError('--source is execution, shuffled-control or model');
    const critic = optionalId(ctx, 'critic');
    const ids = await automaticFeedback({ store, runtime: ctx.runtime() }, requiredId(ctx, 'run', 'feedback auto'), source, { ...signalOf(ctx), ...(critic ? { modelId: critic } : {}) });
    ctx.io.stdout(json(ctx) ? `${JSON.stringify({ feedbackIds: ids })}\n` : `${ids.length} feedbacks from ${source}\n`);
    return 0;
  }
  throw new UsageError(`unknown feedback command "${sub ?? ''}"; use add or auto`);
}

/** `ilf refine --feedback ID[,ID…] --model ID [--k 4]`: refinements, each tested. */
export async function refineCommand(ctx: CommandContext): Promise<number> {
  const ids = (stringOption(ctx, 'feedback') ?? '').split(',').filter(Boolean).map(Number);
  if (ids.length === 0 || ids.some((i) => !Number.isInteger(i) || i < 1)) throw new UsageError('refine needs --feedback ID[,ID…]');
  const format = stringOption(ctx, 'format') ?? 'completion';
  if (format !== 'completion' && format !== 'chat') throw new UsageError('--format is completion or chat');
  const report = await withPool(ctx, async (pool) => refineAndTest({ store: ctx.store(), runtime: ctx.runtime(), pool: await pool() }, ids, {
    k: numberOption(ctx.values, 'k', 4, { integer: true, min: 1, max: 64 }), modelId: requiredId(ctx, 'model', 'refine'), adapterId: optionalId(ctx, 'adapter') ?? null,
    temperature: numberOption(ctx.values, 'temperature', 0.8, { min: 0, max: 5 }), topP: 0.95, maxTokens: numberOption(ctx.values, 'max-tokens', 300, { integer: true, min: 1 }),
    seed: numberOption(ctx.values, 'seed', 1, { integer: true, min: 0 }), promptFormat: format, fewShot: numberOption(ctx.values, 'few-shot', 0, { integer: true, min: 0, max: 8 }),
  }, { ...signalOf(ctx), onProgress: (done, total) => ctx.progress.show(`refining: ${done}/${total}`) }));
  ctx.progress.done();
  ctx.io.stdout(json(ctx) ? `${JSON.stringify(report)}\n` : `${report.generated} refinements for ${report.feedbacks} feedbacks; ${report.passed} pass, ${report.failed} fail\n`);
  return 0;
}

/** `ilf review --refinement ID --accept|--reject [--edit FILE] [--reviewer NAME]`, or `--write FILE --feedback ID` for a human refinement. */
export async function reviewCommand(ctx: CommandContext): Promise<number> {
  const store = ctx.store();
  return withPool(ctx, async (pool) => {
    const write = stringOption(ctx, 'write');
    if (write !== undefined) {
      const r = await addHumanRefinement(store, await pool(), { feedbackId: requiredId(ctx, 'feedback', 'review --write'), author: person(ctx, 'reviewer'), program: fs.readFileSync(write, 'utf8') });
      ctx.io.stdout(json(ctx) ? `${JSON.stringify({ refinementId: r.refinementId, passed: r.passed })}\n` : `refinement ${r.refinementId} written; it ${r.passed ? 'passes' : 'fails'} its tests\n`);
      return 0;
    }
    const accept = ctx.values.accept === true;
    if (accept === (ctx.values.reject === true)) throw new UsageError('review needs one of --accept or --reject');
    const edit = stringOption(ctx, 'edit');
    const outcome = await reviewRefinement(store, await pool(), {
      refinementId: requiredId(ctx, 'refinement', 'review'), reviewer: person(ctx, 'reviewer'), decision: accept ? 'accepted' : 'rejected',
      editedProgram: edit === undefined ? null : fs.readFileSync(edit, 'utf8'), note: stringOption(ctx, 'note') ?? null,
    }, ctx.io.signal);
    ctx.io.stdout(json(ctx) ? `${JSON.stringify({ reviewId: outcome.reviewId, decision: outcome.decision })}\n` : `review ${outcome.reviewId}: ${outcome.decision}${edit ? ' (edit re-tested: passes)' : ''}\n`);
    return 0;
  });
}

/** `ilf eval --model ID [--adapter ID] --dataset NAME --split test [--n 10]`, `ilf eval --compare A,B`, `ilf eval --list`. */
export async function evalCommand(ctx: CommandContext): Promise<number> {
  const store = ctx.store();
  if (ctx.values.list === true) {
    const rows = store.evaluations.list();
    ctx.io.stdout(json(ctx) ? `${JSON.stringify(rows, null, 2)}\n` : table([['EVAL', 'MODEL', 'ADAPTER', 'DATASET', 'SPLIT', 'N', 'T', 'PASS@K'], ...rows.map((r) => [
      String(r.id), String(r.modelId), r.adapterId === null ? '' : String(r.adapterId), r.dataset, r.split, String(r.n), String(r.temperature),
      Object.entries(r.passAtK).map(([k, v]) => `@${k} ${(100 * v).toFixed(1)}%`).join(' ')])]));
    return 0;
  }
  const compare = stringOption(ctx, 'compare');
  if (compare !== undefined) {
    const [a, b] = compare.split(',').map(Number);
    if (!a || !b) throw new UsageError('--compare needs two evaluation ids: BEFORE,AFTER');
    const before = store.evaluations.get(a);
    const comparisons = [1, 10].filter((k) => k <= (before?.n ?? 1)).map((k) => compareEvaluations(store, a, b, k));
    ctx.io.stdout(json(ctx) ? `${JSON.stringify(comparisons, null, 2)}\n` : comparisonLines(comparisons));
    return 0;
  }
  const dataset = stringOption(ctx, 'dataset');
  if (dataset === undefined) throw new UsageError('eval needs --dataset NAME');
  const format = stringOption(ctx, 'format') ?? 'completion';
  if (format !== 'completion' && format !== 'chat') throw new UsageError('--format is completion or chat');
  const limit = optionalId(ctx, 'limit');
  const report = await withPool(ctx, async (pool) => evaluate({ store, runtime: ctx.runtime(), pool: await pool() }, {
    modelId: requiredId(ctx, 'model', 'eval'), adapterId: optionalId(ctx, 'adapter') ?? null, dataset, split: stringOption(ctx, 'split') ?? 'test',
    n: numberOption(ctx.values, 'n', 10, { integer: true, min: 1, max: 1000 }), temperature: numberOption(ctx.values, 'temperature', 0.8, { min: 0, max: 5 }),
    topP: 0.95, maxTokens: numberOption(ctx.values, 'max-tokens', 300, { integer: true, min: 1 }), seed: numberOption(ctx.values, 'seed', 1, { integer: true, min: 0 }),
    promptFormat: format, limit,
  }, { ...signalOf(ctx), ...(optionalId(ctx, 'resume') !== undefined ? { resumeRunId: optionalId(ctx, 'resume') } : {}),
    onProgress: (e) => ctx.progress.show(e.phase === 'sampling' ? `sampling: ${e.progress.tasksDone}/${e.progress.tasksTotal} tasks` : `testing: ${e.done}/${e.total}`) }));
  ctx.progress.done();
  ctx.io.stdout(json(ctx) ? `${JSON.stringify(report, null, 2)}\n`
    : `evaluation ${report.id}: ${Object.entries(report.passAtK).map(([k, v]) => `pass@${k} ${(100 * v).toFixed(1)}%`).join(', ')} over ${report.tasks.length} tasks (n=${report.n}, T=${report.temperature}, seed ${report.seed})\n`);
  return 0;
}

/**
 * `ilf export KIND --out FILE`: training-set --id N [--format messages|prompt-completion],
 * samples --run N (EvalPlus {task_id, completion}), feedback [--run N], evaluation --id N [--format json|csv].
 */
export async function exportCommand(ctx: CommandContext): Promise<number> {
  const [kind] = ctx.args;
  const out = stringOption(ctx, 'out');
  if (out === undefined) throw new UsageError('export needs --out FILE');
  const store = ctx.store();
  const format = stringOption(ctx, 'format');
  let rows: number;
  switch (kind) {
    case 'training-set': {
      if (format !== undefined && format !== 'messages' && format !== 'prompt-completion') throw new UsageError('--format is messages or prompt-completion');
      const hfId = stringOption(ctx, 'hf-id');
      rows = await exportTrainingSet(store, requiredId(ctx, 'id', 'export training-set'), out, format ?? 'messages', {
        ...(hfId !== undefined ? { hfId: checkHfId(hfId) } : {}),
        onConfigs: (c) => {
          if (json(ctx)) return;
          ctx.io.stderr(`wrote ${c.trl} (TRL) and ${c.axolotl} (Axolotl) for base model ${c.baseModel ?? 'UNKNOWN: set BASE_MODEL / base_model, or export again with --hf-id OWNER/NAME'}\n` +
            `bring the trained LoRA back with: ilf models import-peft DIR --model ${c.modelId ?? 'ID'}\n`);
        },
      });
      break;
    }
    case 'samples':
      rows = await exportSamples(store, requiredId(ctx, 'run', 'export samples'), out);
      break;
    case 'feedback':
      rows = await exportFeedback(store, out, optionalId(ctx, 'run') !== undefined ? { runId: optionalId(ctx, 'run') } : {});
      break;
    case 'evaluation': {
      if (format !== undefined && format !== 'json' && format !== 'csv') throw new UsageError('--format is json or csv');
      rows = await exportEvaluation(store, requiredId(ctx, 'id', 'export evaluation'), out, format ?? (out.endsWith('.csv') ? 'csv' : 'json'));
      break;
    }
    default:
      throw new UsageError(`unknown export "${kind ?? ''}"; use training-set, samples, feedback or evaluation`);
  }
  ctx.io.stdout(json(ctx) ? `${JSON.stringify({ file: out, rows })}\n` : `wrote ${rows} rows to ${out}\n`);
  return 0;
}

/** `ilf import-feedback FILE --dataset NAME [--map task_id=FIELD,program=FIELD,…] [--annotator NAME]`. */
export async function importFeedbackCommand(ctx: CommandContext): Promise<number> {
  const [file] = ctx.args;
  if (file === undefined) throw new UsageError('import-feedback needs a FILE');
  const dataset = stringOption(ctx, 'dataset');
  if (dataset === undefined) throw new UsageError('import-feedback needs --dataset NAME (the tasks the feedback is about)');
  const mapping: FieldMap = {};
  for (const pair of (stringOption(ctx, 'map') ?? '').split(',').filter(Boolean)) {
    const [field, key] = pair.split('=');
    if (!field || !key || !(FEEDBACK_FIELDS as readonly string[]).includes(field)) throw new UsageError(`--map takes FIELD=KEY pairs with FIELD one of ${FEEDBACK_FIELDS.join(', ')}; got "${pair}"`);
    mapping[field as FeedbackField] = key;
  }
  const report = await withPool(ctx, async (pool) => importFeedback(ctx.store(), await pool(), file, {
    dataset, mapping, ...(stringOption(ctx, 'annotator') ? { defaultAnnotator: stringOption(ctx, 'annotator') } : {}), ...signalOf(ctx),
  }));
  ctx.io.stdout(json(ctx) ? `${JSON.stringify(report, null, 2)}\n`
    : `${report.imported} of ${report.rows} rows imported (${report.withRefinement} with a human refinement)${report.samplingRunId ? ` as run ${report.samplingRunId}` : ''}; ` +
      `fields: ${Object.entries(report.fields).map(([f, k]) => `${f}←${k}`).join(', ')}\n` +
      report.rejected.map((r) => `  line ${r.line}: ${r.reason}\n`).join(''));
  return report.rejected.length > 0 && report.imported === 0 ? 1 : 0;
}
