import path from 'node:path';
import { WRITABLE_TENSOR_TYPES, type WritableTensorType } from '../../../native-models/gguf/quantize.js';
import { ARCHITECTURES, NAMED_SHAPES, specForParams, writeLoraAdapter, writeTinyModel, type Architecture, type TinyModelSpec } from '../../../native-models/gguf/writer.js';
import { json, numberOption, stringOption, UsageError, type CommandContext } from '../context.js';

/** A ChatML template, so generated models can exercise the chat prompt path. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function choice<T extends string>(value: string | undefined, choices: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined;
  const found = choices.find((c) => c.toLowerCase() === value.toLowerCase());
  if (found === undefined) throw new UsageError(`--${option} ${value} is not one of ${choices.join(', ')}`);
  return found;
}

/** The spec `dev make-model` writes: a named real shape, or a parameter budget in one architecture. */
function specOf(ctx: CommandContext, seed: number): TinyModelSpec {
  const tensorType: WritableTensorType = choice(stringOption(ctx, 'type'), WRITABLE_TENSOR_TYPES, 'type') ?? 'F32';
  const shapeName = stringOption(ctx, 'shape');
  const architecture: Architecture | undefined = choice(stringOption(ctx, 'arch'), ARCHITECTURES, 'arch');
  const vocab = stringOption(ctx, 'vocab');
  const vocabSize = vocab === undefined ? undefined : numberOption(ctx.values, 'vocab', 0, { integer: true, min: 1, max: 1_000_000 });
  if (shapeName !== undefined) {
    const shape = choice(shapeName, Object.keys(NAMED_SHAPES), 'shape');
    const named = shape === undefined ? undefined : NAMED_SHAPES[shape];
    if (!named) throw new UsageError(`unknown --shape ${shapeName}`);
    if (stringOption(ctx, 'params') !== undefined || architecture !== undefined) throw new UsageError('--shape fixes the architecture and size; leave out --params and --arch');
    return { ...named, seed, tensorType, ...(vocabSize === undefined ? {} : { vocabSize }) };
  }
  const params = stringOption(ctx, 'params') ?? '20M';
  if (architecture === undefined && vocabSize !== undefined) throw new UsageError('--vocab needs --arch');
  return specForParams(params, {
    seed, tensorType, name: `ILF generated ${architecture ?? ''} ${params}`.replace(/\s+/g, ' '),
    ...(architecture === undefined ? {} : { architecture }),
    ...(vocabSize === undefined ? {} : { vocabSize }),
    ...(ctx.values.chat === true && architecture === undefined ? { chatTemplate: CHATML_TEMPLATE } : {}),
  });
}

export async function devCommand(ctx: CommandContext): Promise<number> {
  const [sub] = ctx.args;
  if (sub !== 'make-model') throw new UsageError(`unknown dev command "${sub ?? ''}"; use make-model`);
  const out = stringOption(ctx, 'out');
  if (out === undefined) throw new UsageError('dev make-model needs --out FILE');
  const seed = numberOption(ctx.values, 'seed', 1, { integer: true, min: 0 });
  let spec: TinyModelSpec;
  try {
    spec = specOf(ctx, seed);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message);
  }
  let model;
  try {
    model = await writeTinyModel(path.resolve(out), spec);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const adapterOut = stringOption(ctx, 'adapter-out');
  const adapter = adapterOut === undefined ? undefined : await writeLoraAdapter(path.resolve(adapterOut), spec, {
    rank: numberOption(ctx.values, 'rank', 8, { integer: true, min: 1, max: 256 }), alpha: 16, seed: seed + 1, baseModelSha256: model.sha256,
  });
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify({ model: { file: path.resolve(out), ...model }, adapter: adapter && { file: path.resolve(adapterOut ?? ''), ...adapter } }, null, 2)}\n`);
  else {
    ctx.io.stdout(`wrote ${out}: ${spec.architecture ?? 'llama'}, ${(model.parameterCount / 1e6).toFixed(1)}M parameters, ${spec.tensorType ?? 'F32'}, ` +
      `${(model.sizeBytes / 1e6).toFixed(1)} MB, sha256 ${model.sha256.slice(0, 12)}…\n` +
      `${adapter ? `wrote ${adapterOut}: LoRA adapter for it, sha256 ${adapter.sha256.slice(0, 12)}…\n` : ''}`);
  }
  return 0;
}
