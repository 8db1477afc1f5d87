import type { Migration } from '../migration.js';

/**
 * OpenAI-compatible endpoints as a kind of model. An endpoint row keeps `path` = its base URL and
 * `sha256` = a hash of (base URL, served model), so adding it twice finds the same row. The API
 * key is never stored: only the name of the environment variable that holds it. `serves_model_id`
 * names the local GGUF the server runs (llama-server), so that model's adapters can be applied on
 * the server. A sample drawn from an endpoint keeps the server's `system_fingerprint`.
 */
const COLUMNS: readonly (readonly [table: string, column: string, definition: string])[] = [
  ['models', 'kind', "TEXT NOT NULL DEFAULT 'gguf' CHECK (kind IN ('gguf', 'endpoint'))"],
  ['models', 'endpoint_url', 'TEXT'],
  ['models', 'served_model', 'TEXT'],
  ['models', 'api_key_env', 'TEXT'],
  ['models', 'max_concurrency', 'INTEGER CHECK (max_concurrency IS NULL OR max_concurrency > 0)'],
  ['models', 'n_per_request', 'INTEGER NOT NULL DEFAULT 0 CHECK (n_per_request IN (0, 1))'],
  ['models', 'serves_model_id', 'INTEGER REFERENCES models(id)'],
  ['samples', 'system_fingerprint', 'TEXT'],
];

export const endpoints: Migration = {
  version: 6,
  name: 'endpoints',
  up(db) {
    // Column by column, skipping any already there: a file whose user_version was set back by hand
    // (as older builds' tests do) still migrates.
    for (const [table, column, definition] of COLUMNS) {
      const have = (db.pragma(`table_info(${table})`) as { name: string }[]).some((c) => c.name === column);
      // Names and definitions are the constants above, never input (DDL takes no ? parameters).
      const alterSql = `ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`;
      if (!have) db.exec(alterSql);
    }
  },
};
