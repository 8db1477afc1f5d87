import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { peftTargetModules } from '../models/peft-import.js';
import type { Store } from '../store/store.js';
import type { ExportFormat } from './dataset.js';

/** Hyperparameters of the exported configs: `ilf train`'s defaults, so both trainers start from the same recipe. */
export const OFF_MACHINE_DEFAULTS = { rank: 8, alpha: 16, learningRate: 2e-4, epochs: 3, batchSize: 1, contextLength: 1024, seed: 42 } as const;

/** Stands in for the base model's Hugging Face id when none is recorded: the scripts refuse to run with it. */
export const UNKNOWN_BASE = 'SET-THE-BASE-MODEL/hf-id';

export interface TrainerConfigs {
  trl: string;
  axolotl: string;
  /** The base model's Hugging Face id, or null when unknown (the configs then hold UNKNOWN_BASE). */
  baseModel: string | null;
  /** The registered model the training set's samples came from (what `import-peft --model` takes). */
  modelId: number | null;
}

/** The model most of a training set's samples were drawn from. */
function sourceModel(store: Store, trainingSetId: number): { id: number; hfId: string | null; architecture: string } | undefined {
  const row = store.db.prepare<[number], { model_id: number }>(
    `SELECT sr.model_id, COUNT(*) AS n
     FROM training_examples te JOIN reviews rv ON rv.id = te.review_id JOIN refinements rf ON rf.id = rv.refinement_id
     JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id JOIN sampling_runs sr ON sr.id = s.run_id
     WHERE te.training_set_id = ? AND sr.model_id IS NOT NULL GROUP BY sr.model_id ORDER BY n DESC, sr.model_id LIMIT 1`,
  ).get(trainingSetId);
  const model = row && store.models.get(row.model_id);
  return model ? { id: model.id, hfId: model.hfId, architecture: model.architecture } : undefined;
}

const py = (s: string): string => JSON.stringify(s); // a JSON string is a valid Python string literal
const yamlString = (s: string): string => JSON.stringify(s); // and a valid YAML double-quoted scalar

function trlScript(data: string, base: string, format: ExportFormat, targets: string[], out: string, note: string): string {
  const d = OFF_MACHINE_DEFAULTS;
  const columns = format === 'messages' ? '("messages",)' : '("prompt", "completion")';
  return `#!/usr/bin/env python3
# TRL supervised fine-tuning of a LoRA on an ILF Studio training set (${note}).
#   pip install "trl>=0.20" peft datasets accelerate
#   python ${path.basename(data, '.jsonl')}.trl.py            # or: accelerate launch ... on a cluster
# The LoRA lands in OUTPUT_DIR (adapter_config.json + adapter_model.safetensors); bring it back with
#   ilf models import-peft OUTPUT_DIR --model <the GGUF of the same base model>
# Only the modules below are targeted: the ones import-peft maps to llama.cpp tensors.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_MODEL = os.environ.get("BASE_MODEL", ${py(base)})
DATA = os.path.join(HERE, ${py(path.basename(data))})
OUTPUT_DIR = os.environ.get("OUTPUT_DIR", os.path.join(HERE, ${py(out)}))

if BASE_MODEL == ${py(UNKNOWN_BASE)}:
    sys.exit("set BASE_MODEL to the Hugging Face id of the model this GGUF was converted from (e.g. BASE_MODEL=Qwen/Qwen2.5-Coder-0.5B-Instruct)")

from datasets import load_dataset  # noqa: E402  (after the check: a missing base model is said before a slow import)
from peft import LoraConfig  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

dataset = load_dataset("json", data_files=DATA, split="train")
# Each row also carries its lineage (task, feedback, review ids): not a training input.
dataset = dataset.remove_columns([c for c in dataset.column_names if c not in ${columns}])

peft_config = LoraConfig(
    r=${d.rank},
    lora_alpha=${d.alpha},
    lora_dropout=0.0,
    bias="none",
    task_type="CAUSAL_LM",
    target_modules=${JSON.stringify(targets)},
)
args = SFTConfig(
    output_dir=OUTPUT_DIR,
    num_train_epochs=${d.epochs},
    learning_rate=${d.learningRate},
    lr_scheduler_type="linear",
    per_device_train_batch_size=${d.batchSize},
    max_length=${d.contextLength},
    seed=${d.seed},
    logging_steps=1,
    save_strategy="no",
    report_to="none",
)
trainer = SFTTrainer(model=BASE_MODEL, args=args, train_dataset=dataset, peft_config=peft_config)
trainer.train()
trainer.save_model(OUTPUT_DIR)  # PEFT layout, safetensors
print(f"adapter saved in {OUTPUT_DIR}: ilf models import-peft {OUTPUT_DIR} --model ID")
`;
}

function axolotlConfig(data: string, base: string, format: ExportFormat, targets: string[], out: string, note: string): string {
  const d = OFF_MACHINE_DEFAULTS;
  const dataset = format === 'messages'
    ? ['  - path: ' + yamlString(`./${path.basename(data)}`), '    ds_type: json', '    type: chat_template', '    field_messages: messages', '    roles_to_train: ["assistant"]']
    : ['  - path: ' + yamlString(`./${path.basename(data)}`), '    ds_type: json', '    type:', '      field_instruction: prompt', '      field_output: completion',
      '      format: "{instruction}"', '      no_input_format: "{instruction}"'];
  return [
    `# Axolotl LoRA fine-tune of an ILF Studio training set (${note}).`,
    `#   pip install axolotl; axolotl train ${path.basename(data, '.jsonl')}.axolotl.yml   (run from this folder)`,
    `# Bring the adapter back with: ilf models import-peft ${out} --model <the GGUF of the same base model>`,
    base === UNKNOWN_BASE ? '# base_model is unknown: set it to the Hugging Face id the GGUF was converted from.' : '',
    `base_model: ${yamlString(base)}`,
    'datasets:',
    ...dataset,
    'val_set_size: 0',
    `sequence_len: ${d.contextLength}`,
    'train_on_inputs: false',
    'adapter: lora',
    `lora_r: ${d.rank}`,
    `lora_alpha: ${d.alpha}`,
    'lora_dropout: 0.0',
    `lora_target_modules: ${JSON.stringify(targets)}`,
    `micro_batch_size: ${d.batchSize}`,
    'gradient_accumulation_steps: 1',
    `num_epochs: ${d.epochs}`,
    `learning_rate: ${d.learningRate}`,
    'lr_scheduler: linear',
    'optimizer: adamw_torch',
    `seed: ${d.seed}`,
    `output_dir: ${yamlString(`./${out}`)}`,
    'save_safetensors: true',
    '',
  ].filter((line, i) => line !== '' || i > 0).join('\n');
}

/**
 * Writes `<stem>.trl.py` and `<stem>.axolotl.yml` beside an exported training set `dataFile`, with
 * the base model's Hugging Face id (`hfId` given, else the one recorded on the model the samples
 * came from). Both target only modules import-peft can bring back.
 */
export async function writeTrainerConfigs(store: Store, trainingSetId: number, dataFile: string, format: ExportFormat, options: { hfId?: string } = {}): Promise<TrainerConfigs> {
  const model = sourceModel(store, trainingSetId);
  const baseModel = options.hfId ?? model?.hfId ?? null;
  const base = baseModel ?? UNKNOWN_BASE;
  const targets = peftTargetModules(model?.architecture ?? 'llama');
  const stem = path.join(path.dirname(dataFile), path.basename(dataFile).replace(/\.jsonl?$/i, ''));
  const out = `${path.basename(stem)}-lora`;
  const note = `training set ${trainingSetId}, ${format} format${model ? `, sampled from model ${model.id}` : ''}`;
  const trl = `${stem}.trl.py`;
  const axolotl = `${stem}.axolotl.yml`;
  await writeFileAtomic(trl, trlScript(dataFile, base, format, targets, out, note));
  await writeFileAtomic(axolotl, axolotlConfig(dataFile, base, format, targets, out, note));
  return { trl, axolotl, baseModel, modelId: model?.id ?? null };
}
