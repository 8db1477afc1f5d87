import type { Migration } from '../migration.js';

/**
 * Models record their Hugging Face id (e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct) when one is known:
 * given with `models add --hf-id`, from the recommended list, or from the GGUF's own
 * general.source.repo_url. Training-set exports name it as the base model of their TRL and
 * Axolotl configs. NULL: unknown (a local or generated file).
 */
export const modelHfId: Migration = {
  version: 7,
  name: 'model-hf-id',
  up(db) {
    // A file rewound to an older user_version by hand (tests do) may have the column already.
    const columns = db.prepare<[], { name: string }>('SELECT name FROM pragma_table_info(\'models\')').all();
    if (!columns.some((c) => c.name === 'hf_id')) db.exec('ALTER TABLE models ADD COLUMN hf_id TEXT');
  },
};
