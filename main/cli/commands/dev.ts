import path from 'node:path';
import { specForParams, writeLoraAdapter, writeTinyModel } from '../../../native-models/gguf/writer.js';
import { json, numberOption, stringOption, UsageError, type CommandContext } from '../context.js';

/** A ChatML template, so generated models can exercise the chat prompt path. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export async function devCommand(ctx: CommandContext): Promise<number> {
  const [sub] = ctx.args;
  if (sub !== 'make-model') throw new UsageError(`unknown dev command "${sub ?? ''}"; use make-model`);
  const out = stringOption(ctx, 'out');
  if (out === undefined) throw new UsageError('dev make-model needs --out FILE');
  const seed = numberOption(ctx.values, 'seed', 1, { integer: true, min: 0 });
  let spec;
  try {
    spec = specForParams(stringOption(ctx, 'params') ?? '20M', {
      seed, name: `ILF generated ${stringOption(ctx, 'params') ?? '20M'}`, ...(ctx.values.chat === true ? { chatTemplate: CHATML_TEMPLATE } : {}),
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const model = await writeTinyModel(path.resolve(out), spec);
  const adapterOut = stringOption(ctx, 'adapter-out');
  const adapter = adapterOut === undefined ? undefined : await writeLoraAdapter(path.resolve(adapterOut), spec, {
    rank: numberOption(ctx.values, 'rank', 8, { integer: true, min: 1, max: 256 }), alpha: 16, seed: seed + 1, baseModelSha256: model.sha256,
  });
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify({ model: { file: path.resolve(out), ...model }, adapter: adapter && { file: path.resolve(adapterOut ?? ''), ...adapter } }, null, 2)}\n`);
  else {
    ctx.io.stdout(`wrote ${out}: ${(model.parameterCount / 1e6).toFixed(1)}M parameters, ${(model.sizeBytes / 1e6).toFixed(1)} MB, sha256 ${model.sha256.slice(0, 12)}…\n` +
      `${adapter ? `wrote ${adapterOut}: LoRA adapter for it, sha256 ${adapter.sha256.slice(0, 12)}…\n` : ''}`);
  }
  return 0;
}
