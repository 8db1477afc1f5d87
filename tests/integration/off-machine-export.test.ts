import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { hfIdFromGguf } from '../../main/models/registry.js';
import { Store } from '../../main/store/store.js';
import type { GgufInfo } from '../../native-models/gguf/reader.js';
import { ilf, requireBuiltCli } from '../helpers/cli.js';
import { buildTrainingSet, exportTrainingSet } from '../../main/training/dataset.js';
import { UNKNOWN_BASE, type TrainerConfigs } from '../../main/training/off-machine.js';
import { sharedData, tempDir } from '../helpers/fs.js';
import { FAILED, sample, seedRun, taskRowId } from '../helpers/lineage.js';

async function storeWithTrainingSet(): Promise<{ store: Store; dir: string; setId: number; modelId: number }> {
  const dir = tempDir();
  const store = Store.open(path.join(dir, 'ilf.sqlite'));
  await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
  const { runId, modelId } = seedRun(store, 'mbpp', 'train');
  for (const [task, program] of [['311', 'def f():\n    return 1\n'], ['313', 'def h():\n    return 3\n']] as const) {
    const [sampleId] = store.runs.insertSamples(runId, [sample(taskRowId(store, 'mbpp', task), 0)]);
    const executionId = store.runs.recordSampleExecution(sampleId ?? 0, FAILED);
    const feedbackId = store.lineage.addFeedback({ sampleId: sampleId ?? 0, executionId, source: 'human', author: 'ada', text: 'fix it' });
    const refinementId = store.lineage.addRefinement({ feedbackId, origin: 'human', author: 'ada', program });
    store.lineage.addReview({ refinementId, reviewer: 'grace', decision: 'accepted', editedProgram: null });
  }
  return { store, dir, setId: buildTrainingSet(store, 'round 1').trainingSetId, modelId };
}

describe('training-set exports for trainers elsewhere (TRL, Axolotl)', () => {
  it('writes a TRL SFT script and an Axolotl config beside the data, naming the base model\'s Hugging Face id recorded on it', async () => {
    const { store, dir, setId, modelId } = await storeWithTrainingSet();
    store.models.setHfId(modelId, 'Qwen/Qwen2.5-Coder-0.5B-Instruct');
    let configs: TrainerConfigs | undefined;
    const data = path.join(dir, 'round1.jsonl');
    expect(await exportTrainingSet(store, setId, data, 'messages', { onConfigs: (c) => { configs = c; } })).toBe(2);
    expect(configs).toEqual({ trl: path.join(dir, 'round1.trl.py'), axolotl: path.join(dir, 'round1.axolotl.yml'), baseModel: 'Qwen/Qwen2.5-Coder-0.5B-Instruct', modelId });

    const trl = fs.readFileSync(path.join(dir, 'round1.trl.py'), 'utf8');
    // Real Python accepts it (compiles; trl itself is not installed here, so it is not run to the end).
    execFileSync('/usr/bin/python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', path.join(dir, 'round1.trl.py')]);
    expect(trl).toContain('BASE_MODEL = os.environ.get("BASE_MODEL", "Qwen/Qwen2.5-Coder-0.5B-Instruct")');
    expect(trl).toContain('DATA = os.path.join(HERE, "round1.jsonl")');
    expect(trl).toContain('target_modules=["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]');
    expect(trl).toMatch(/r=8,\n\s+lora_alpha=16,/);
    expect(trl).toContain('if c not in ("messages",)');

    const yml = fs.readFileSync(path.join(dir, 'round1.axolotl.yml'), 'utf8');
    expect(yml).toMatch(/^base_model: "Qwen\/Qwen2\.5-Coder-0\.5B-Instruct"$/m);
    expect(yml).toMatch(/^ {2}- path: "\.\/round1\.jsonl"\n {4}ds_type: json\n {4}type: chat_template\n {4}field_messages: messages$/m);
    expect(yml).toMatch(/^adapter: lora\nlora_r: 8\nlora_alpha: 16$/m);
    expect(yml).toMatch(/^lora_target_modules: \["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"\]$/m);
    store.close();
  });

  it('with no Hugging Face id known, the configs say so and the script stops before training; --hf-id style override wins', async () => {
    const { store, dir, setId } = await storeWithTrainingSet();
    const data = path.join(dir, 'pc.jsonl');
    let configs: TrainerConfigs | undefined;
    await exportTrainingSet(store, setId, data, 'prompt-completion', { onConfigs: (c) => { configs = c; } });
    expect(configs?.baseModel).toBeNull();
    const run = spawnSync('/usr/bin/python3', [path.join(dir, 'pc.trl.py')], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('set BASE_MODEL to the Hugging Face id');
    const yml = fs.readFileSync(path.join(dir, 'pc.axolotl.yml'), 'utf8');
    expect(yml).toContain(`base_model: "${UNKNOWN_BASE}"`);
    expect(yml).toMatch(/field_instruction: prompt\n {6}field_output: completion/);

    await exportTrainingSet(store, setId, data, 'prompt-completion', { hfId: 'deepseek-ai/deepseek-coder-1.3b-base' });
    expect(fs.readFileSync(path.join(dir, 'pc.trl.py'), 'utf8')).toContain('"deepseek-ai/deepseek-coder-1.3b-base"');
    expect(fs.readFileSync(path.join(dir, 'pc.trl.py'), 'utf8')).toContain('if c not in ("prompt", "completion")');
    store.close();
  });
});

describe('a model\'s Hugging Face id', () => {
  it('`models add --hf-id` records it (checked before anything is registered); a GGUF\'s own source URL is read when there is one', async () => {
    requireBuiltCli();
    const dir = tempDir();
    const file = path.join(dir, 'm.gguf');
    expect((await ilf(['--data-dir', dir, 'dev', 'make-model', '--out', file, '--params', '2M'])).code).toBe(0);
    const bad = await ilf(['--data-dir', dir, 'models', 'add', file, '--hf-id', 'not an id']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('"not an id" is not a Hugging Face id');
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    expect(store.models.list()).toEqual([]);
    store.close();
    const added = await ilf(['--data-dir', dir, 'models', 'add', file, '--hf-id', 'Qwen/Qwen2.5-Coder-0.5B-Instruct', '--json']);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ hfId: 'Qwen/Qwen2.5-Coder-0.5B-Instruct' });
    const again = Store.open(path.join(dir, 'ilf.sqlite'));
    expect(again.models.list().map((m) => m.hfId)).toEqual(['Qwen/Qwen2.5-Coder-0.5B-Instruct']);
    again.close();

    const info = (metadata: Record<string, string>): GgufInfo => ({ metadata } as unknown as GgufInfo);
    expect(hfIdFromGguf(info({ 'general.source.repo_url': 'https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B' }))).toBe('Qwen/Qwen2.5-Coder-1.5B');
    expect(hfIdFromGguf(info({ 'general.base_model.0.repo_url': 'https://huggingface.co/bigcode/starcoder2-3b' }))).toBe('bigcode/starcoder2-3b');
    expect(hfIdFromGguf(info({ 'general.source.repo_url': 'https://example.com/Qwen/Qwen2.5' }))).toBeNull();
    expect(hfIdFromGguf(info({}))).toBeNull();
  }, 60_000);
});
