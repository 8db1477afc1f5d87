import { importPeftAdapter } from '../../models/peft-import.js';
import { addAdapter, checkHfId, downloadModel } from '../../models/registry.js';
import { formatBytes, json, numberOption, stringOption, table, UsageError, type CommandContext } from '../context.js';

export async function modelsCommand(ctx: CommandContext): Promise<number> {
  const [sub, arg, extra] = ctx.args;
  const out = (value: unknown, text: string): void => ctx.io.stdout(json(ctx) ? `${JSON.stringify(value, null, 2)}\n` : text);
  switch (sub) {
    case undefined:
    case 'list': {
      const { models, adapters } = await ctx.call('models.list');
      if (json(ctx)) out({ models, adapters }, '');
      else if (models.length === 0) ctx.io.stdout('no models yet: `ilf models add FILE.gguf`, `ilf models download REF` or `ilf models recommended`\n');
      else {
        ctx.io.stdout(table([['ID', 'NAME', 'ARCH', 'QUANT', 'PARAMS', 'SIZE', 'CHAT', 'TRAINABLE', 'SHA256'], ...models.map((m) => [
          String(m.id), m.name, m.architecture, m.quantization, m.parameterCount ? `${(m.parameterCount / 1e6).toFixed(1)}M` : m.endpoint ? '-' : '?',
          m.endpoint ? m.endpoint.url : formatBytes(m.sizeBytes), m.hasChatTemplate ? 'yes' : 'no', m.trainable ? 'yes' : 'no', m.sha256.slice(0, 12),
        ])]));
        // What each model supports, and why one cannot train: the table has no room for the reasons.
        ctx.io.stdout(`\n${models.map((m) => `model ${m.id} supports: ${m.support}`).join('\n')}\n`);
        if (adapters.length > 0) {
          ctx.io.stdout(`\n${table([['ADAPTER', 'NAME', 'BASE MODEL', 'RANK', 'PATH'], ...adapters.map((a) => [
            String(a.id), a.name, String(a.baseModelId), a.rank === null ? '?' : String(a.rank), a.path,
          ])])}`);
        }
      }
      return 0;
    }
    case 'add': {
      if (arg === undefined || extra !== undefined) throw new UsageError('models add takes one FILE.gguf');
      const hfId = stringOption(ctx, 'hf-id');
      const checked = hfId === undefined ? undefined : checkHfId(hfId); // before anything is registered
      const added = await ctx.call('models.add', { file: arg, name: stringOption(ctx, 'name') });
      if (checked !== undefined) ctx.store().models.setHfId(added.model.id, checked);
      const model = { ...added.model, ...(checked !== undefined ? { hfId: checked } : {}) };
      const created = added.created;
      out(model, `${created ? 'added' : 'already registered'}: model ${model.id} ${model.name} (${model.architecture}, ${model.quantization}, ` +
        `${model.parameterCount ? `${(model.parameterCount / 1e6).toFixed(1)}M params, ` : ''}sha256 ${model.sha256.slice(0, 12)}…` +
        `${checked !== undefined ? `, Hugging Face id ${checked}` : ''})\n`);
      return 0;
    }
    case 'download': {
      if (arg === undefined || extra !== undefined) throw new UsageError('models download takes one REF (hf:OWNER/REPO/FILE.gguf or a URL)');
      const expectedSha256 = stringOption(ctx, 'sha256');
      const { model, created } = await downloadModel(ctx.store(), ctx.runtime(), arg, ctx.dataDir, {
        ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
        ...(expectedSha256 ? { expectedSha256 } : {}),
        onProgress: (p) => ctx.progress.show(`downloading: ${formatBytes(p.bytes)}${p.totalBytes ? ` of ${formatBytes(p.totalBytes)}` : ''}` +
          ` at ${formatBytes(p.bytesPerSecond)}/s${p.etaSeconds !== null ? `, ${Math.ceil(p.etaSeconds)} s left` : ''}`),
      });
      ctx.progress.done();
      out(model, `${created ? 'downloaded and added' : 'already registered'}: model ${model.id} ${model.name}\n`);
      return 0;
    }
    case 'add-adapter': {
      if (arg === undefined || extra !== undefined) throw new UsageError('models add-adapter takes one FILE.gguf and --model ID');
      const modelId = numberOption(ctx.values, 'model', NaN, { integer: true, min: 1 });
      if (Number.isNaN(modelId)) throw new UsageError('models add-adapter needs --model ID (the base model)');
      const { adapter, created } = await addAdapter(ctx.store(), arg, modelId, { name: stringOption(ctx, 'name') });
      out(adapter, `${created ? 'added' : 'already registered'}: adapter ${adapter.id} ${adapter.name} for model ${adapter.baseModelId}\n`);
      return 0;
    }
    case 'add-endpoint': {
      if (arg === undefined || extra !== undefined) throw new UsageError('models add-endpoint takes one URL and --model NAME');
      const servedModel = stringOption(ctx, 'model');
      if (servedModel === undefined) throw new UsageError('models add-endpoint needs --model NAME (the model id the server serves)');
      const apiKeyEnv = stringOption(ctx, 'api-key-env');
      const maxConcurrency = numberOption(ctx.values, 'max-concurrency', 4, { integer: true, min: 1, max: 1024 });
      const serves = ctx.values.serves === undefined ? undefined : numberOption(ctx.values, 'serves', 0, { integer: true, min: 1 });
      const name = stringOption(ctx, 'name');
      const { model, created } = await ctx.call('models.addEndpoint', {
        url: arg, servedModel, maxConcurrency, ...(apiKeyEnv !== undefined ? { apiKeyEnv } : {}), ...(serves !== undefined ? { servesModelId: serves } : {}),
        ...(ctx.values['n-per-request'] === true ? { nPerRequest: true } : {}), ...(name !== undefined ? { name } : {}),
      });
      out(model, `${created ? 'added' : 'updated'}: model ${model.id} ${model.name} (endpoint ${model.endpoint?.url ?? arg}, ` +
        `up to ${model.endpoint?.maxConcurrency ?? maxConcurrency} requests at a time${model.endpoint?.apiKeyEnv ? `, key from $${model.endpoint.apiKeyEnv}` : ''})\n`);
      return 0;
    }
    case 'import-peft': {
      if (arg === undefined || extra !== undefined) throw new UsageError('models import-peft takes one DIR (adapter_config.json + adapter_model.safetensors) and --model ID');
      const modelId = numberOption(ctx.values, 'model', NaN, { integer: true, min: 1 });
      if (Number.isNaN(modelId)) throw new UsageError('models import-peft needs --model ID (the base model the adapter was trained on)');
      const name = stringOption(ctx, 'name');
      const { adapter, created, file } = await importPeftAdapter(ctx.store(), arg, modelId, ctx.dataDir, name ? { name } : {});
      out({ ...adapter, file }, `${created ? 'imported' : 'already registered'}: adapter ${adapter.id} ${adapter.name} for model ${adapter.baseModelId}` +
        ` (rank ${adapter.rank ?? '?'}, alpha ${adapter.alpha ?? '?'}) → ${file}\n`);
      return 0;
    }
    case 'recommended': {
      const recommended = await ctx.call('models.recommended');
      out(recommended, table([['NAME', 'SIZE', 'QUANT', 'TRAINABLE', 'LICENCE', 'SHA256', 'REF'], ...recommended.map((m) => [
        m.name, `${m.sha256 ? '' : '~'}${formatBytes(m.sizeBytes)}`, m.quantization, m.trainable ? 'yes' : 'no (K-quant)', m.licence,
        m.sha256 ? `${m.sha256.slice(0, 12)}…` : 'unpinned', m.ref,
      ])]));
      return 0;
    }
    default:
      throw new UsageError(`unknown models command "${sub}"; use list, add, download, add-adapter, add-endpoint, import-peft or recommended`);
  }
}

export async function hardwareCommand(ctx: CommandContext): Promise<number> {
  const report = await ctx.call('hardware.detect');
  if (json(ctx)) ctx.io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else {
    ctx.io.stdout(`platform: ${report.platform}\n` +
      `sampling: ${report.backend}${report.requested !== report.backend ? ` (asked for ${report.requested})` : ''}; available: ${report.available.join(', ')}\n` +
      `${report.training.summary}\n` +
      `${report.devices.length ? `devices: ${report.devices.join(', ')}\n` : ''}` +
      `${report.vram ? `VRAM: ${formatBytes(report.vram.freeBytes)} free of ${formatBytes(report.vram.totalBytes)}\n` : ''}` +
      `CPU: ${report.cpu.model}, ${report.cpu.physicalCores} physical / ${report.cpu.logicalCores} logical cores; llama.cpp threads: ${report.threads}\n` +
      `RAM: ${formatBytes(report.ramBytes.free)} free of ${formatBytes(report.ramBytes.total)}\n` +
      report.warnings.map((w) => `warning: ${w}\n`).join(''));
  }
  return 0;
}
