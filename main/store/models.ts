import type { Database } from 'better-sqlite3';

/** Registered models (local GGUF files and OpenAI-compatible endpoints) and LoRA adapters. */

/** How to reach an endpoint model. The API key itself is never stored, only its variable's name. */
export interface EndpointSpec {
  /** Base URL without the /v1 suffix, e.g. http://127.0.0.1:8080. */
  url: string;
  /** The model id the server serves (sent as `model`). */
  servedModel: string;
  apiKeyEnv: string | null;
  maxConcurrency: number;
  /** The server honours `n` (several choices per request); otherwise one request per sample. */
  nPerRequest: boolean;
  /** The local GGUF the server runs (llama-server): that model's adapters may be applied on the server. */
  servesModelId: number | null;
}

export interface NewModel {
  name: string;
  path: string;
  sha256: string;
  architecture: string;
  quantization: string;
  sizeBytes: number;
  parameterCount?: number | null;
  contextLength?: number | null;
  hasChatTemplate: boolean;
  source?: string | null;
  /** Set for an endpoint; undefined/null for a local GGUF. */
  endpoint?: EndpointSpec | null;
  /** Its Hugging Face id (OWNER/NAME) when known: the base model named in TRL/Axolotl exports. */
  hfId?: string | null;
}

export interface ModelRow extends Required<NewModel> {
  id: number;
  kind: 'gguf' | 'endpoint';
  addedAt: string;
}

export interface NewAdapter {
  baseModelId: number;
  trainingRunId?: number | null;
  name: string;
  path: string;
  sha256: string;
  rank?: number | null;
  alpha?: number | null;
}

export interface AdapterRow extends Required<NewAdapter> {
  id: number;
  baseModelSha256: string;
  createdAt: string;
}

interface ModelDbRow {
  id: number; name: string; path: string; sha256: string; architecture: string; quantization: string; size_bytes: number;
  parameter_count: number | null; context_length: number | null; has_chat_template: number; source: string | null; added_at: string;
  kind: 'gguf' | 'endpoint'; endpoint_url: string | null; served_model: string | null; api_key_env: string | null;
  max_concurrency: number | null; n_per_request: number; serves_model_id: number | null;
  hf_id: string | null;
}

const toModel = (r: ModelDbRow): ModelRow => ({
  id: r.id, name: r.name, path: r.path, sha256: r.sha256, architecture: r.architecture, quantization: r.quantization,
  sizeBytes: r.size_bytes, parameterCount: r.parameter_count, contextLength: r.context_length,
  hasChatTemplate: r.has_chat_template === 1, source: r.source, hfId: r.hf_id, addedAt: r.added_at, kind: r.kind,
  endpoint: r.kind === 'endpoint' && r.endpoint_url !== null && r.served_model !== null
    ? { url: r.endpoint_url, servedModel: r.served_model, apiKeyEnv: r.api_key_env, maxConcurrency: r.max_concurrency ?? 4,
        nPerRequest: r.n_per_request === 1, servesModelId: r.serves_model_id }
    : null,
});

interface AdapterDbRow {
  id: number; base_model_id: number; training_run_id: number | null; name: string; path: string; sha256: string;
  rank: number | null; alpha: number | null; created_at: string; base_sha256: string;
}

const toAdapter = (r: AdapterDbRow): AdapterRow => ({
  id: r.id, baseModelId: r.base_model_id, trainingRunId: r.training_run_id, name: r.name, path: r.path, sha256: r.sha256,
  rank: r.rank, alpha: r.alpha, createdAt: r.created_at, baseModelSha256: r.base_sha256,
});

export class Models {
  constructor(private readonly db: Database) {}

  /** Adds a model, or returns the one already registered with the same content (sha256). */
  add(m: NewModel): { id: number; created: boolean } {
    const e = m.endpoint ?? null;
    const existing = this.bySha256(m.sha256);
    if (existing && e) {
      // The same (URL, model) again: its settings (key variable, concurrency, …) are updated.
      this.db.prepare('UPDATE models SET name = ?, api_key_env = ?, max_concurrency = ?, n_per_request = ?, serves_model_id = ? WHERE id = ?')
        .run(m.name, e.apiKeyEnv, e.maxConcurrency, e.nPerRequest ? 1 : 0, e.servesModelId, existing.id);
      return { id: existing.id, created: false };
    }
    if (existing) {
      if (existing.path !== m.path) this.db.prepare('UPDATE models SET path = ? WHERE id = ?').run(m.path, existing.id);
      if (m.hfId && m.hfId !== existing.hfId) this.setHfId(existing.id, m.hfId);
      return { id: existing.id, created: false };
    }
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO models (name, path, sha256, architecture, quantization, size_bytes, parameter_count,
                               context_length, has_chat_template, source, added_at,
                               kind, endpoint_url, served_model, api_key_env, max_concurrency, n_per_request, serves_model_id, hf_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(m.name, m.path, m.sha256, m.architecture, m.quantization, m.sizeBytes, m.parameterCount ?? null,
          m.contextLength ?? null, m.hasChatTemplate ? 1 : 0, m.source ?? null, new Date().toISOString(),
          e ? 'endpoint' : 'gguf', e?.url ?? null, e?.servedModel ?? null, e?.apiKeyEnv ?? null, e?.maxConcurrency ?? null,
          e?.nPerRequest ? 1 : 0, e?.servesModelId ?? null, m.hfId ?? null).lastInsertRowid,
    );
    return { id, created: true };
  }

  /** Records (or with null, forgets) a model's Hugging Face id. */
  setHfId(id: number, hfId: string | null): void {
    this.db.prepare('UPDATE models SET hf_id = ? WHERE id = ?').run(hfId, id);
  }

  get(id: number): ModelRow | undefined {
    const r = this.db.prepare<[number], ModelDbRow>('SELECT * FROM models WHERE id = ?').get(id);
    return r && toModel(r);
  }

  bySha256(sha256: string): ModelRow | undefined {
    const r = this.db.prepare<[string], ModelDbRow>('SELECT * FROM models WHERE sha256 = ?').get(sha256);
    return r && toModel(r);
  }

  list(): ModelRow[] {
    return this.db.prepare<[], ModelDbRow>('SELECT * FROM models ORDER BY id').all().map(toModel);
  }

  addAdapter(a: NewAdapter): { id: number; created: boolean } {
    const existing = this.db.prepare<[string], { id: number }>('SELECT id FROM adapters WHERE sha256 = ?').get(a.sha256);
    if (existing) return { id: existing.id, created: false };
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO adapters (base_model_id, training_run_id, name, path, sha256, rank, alpha, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(a.baseModelId, a.trainingRunId ?? null, a.name, a.path, a.sha256, a.rank ?? null, a.alpha ?? null,
          new Date().toISOString()).lastInsertRowid,
    );
    return { id, created: true };
  }

  adapter(id: number): AdapterRow | undefined {
    const r = this.db
      .prepare<[number], AdapterDbRow>('SELECT a.*, m.sha256 AS base_sha256 FROM adapters a JOIN models m ON m.id = a.base_model_id WHERE a.id = ?')
      .get(id);
    return r && toAdapter(r);
  }

  /** The adapter a training run produced, if it finished. */
  adapterOfRun(trainingRunId: number): AdapterRow | undefined {
    const r = this.db
      .prepare<[number], AdapterDbRow>('SELECT a.*, m.sha256 AS base_sha256 FROM adapters a JOIN models m ON m.id = a.base_model_id WHERE a.training_run_id = ? ORDER BY a.id LIMIT 1')
      .get(trainingRunId);
    return r && toAdapter(r);
  }

  adapters(baseModelId?: number): AdapterRow[] {
    const rows = this.db
      .prepare<[], AdapterDbRow>('SELECT a.*, m.sha256 AS base_sha256 FROM adapters a JOIN models m ON m.id = a.base_model_id ORDER BY a.id')
      .all();
    return rows.map(toAdapter).filter((a) => baseModelId === undefined || a.baseModelId === baseModelId);
  }
}
