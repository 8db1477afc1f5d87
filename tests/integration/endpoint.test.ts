import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { CHATML_TEMPLATE } from '../../main/cli/commands/dev.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { importTasks } from '../../main/datasets/import.js';
import { addEndpoint } from '../../main/inference/endpoint.js';
import { generateRefinements } from '../../main/inference/refine.js';
import { runSampling, type SamplingConfig } from '../../main/inference/sampling.js';
import { addLocalModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { automaticFeedback } from '../../main/pipeline/feedback-step.js';
import { testSamplingRun } from '../../main/pipeline/test-samples.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import { Store } from '../../main/store/store.js';
import { TrainingJobs } from '../../main/training/jobs.js';
import { expectAppError } from '../helpers/errors.js';
import { sharedData } from '../helpers/fs.js';
import { llamaServerBinary, startLlamaServer, type LlamaServer } from '../helpers/llama-server.js';
import { anyBackend } from '../helpers/sandbox.js';

/**
 * The app against a real llama-server (built from node-llama-cpp's own llama.cpp source by
 * .ci/setup-llama-server) on 127.0.0.1, serving a generated model: sampling, a crash and resume,
 * chat refinements, model feedback, and an adapter our trainer made, applied on the server.
 */
const binary = llamaServerBinary();
const sandbox = await anyBackend();
const skipReason = binary.reason ?? (sandbox.available ? null : sandbox.reason);

let dir: string;
let store: Store;
let runtime: LlamaRuntime;
let modelFile: string;
let localId: number;
let server: LlamaServer;
let endpointId: number;
const servers: LlamaServer[] = [];

async function serve(options: { lora?: string[]; port?: number } = {}): Promise<LlamaServer> {
  const s = await startLlamaServer(binary.path ?? '', { model: modelFile, alias: 'tiny', logFile: path.join(dir, 'llama-server.log'), parallel: 4, threads: 1, ...options });
  servers.push(s);
  return s;
}

const base = (modelId: number): SamplingConfig => ({
  modelId, dataset: 'mbpp', split: 'test', n: 4, temperature: 0.8, topP: 0.95, maxTokens: 24, seed: 42, promptFormat: 'completion', limit: 2,
});
const countSamples = (runId: number): number => store.db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM samples WHERE run_id = ?').get(runId)?.n ?? 0;

describe.skipIf(skipReason !== null)(`against a real llama-server${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(async () => {
    // Not tempDir(): that one is removed after each test, and this folder serves the whole file (afterAll removes it).
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-endpoint-'));
    store = Store.open(path.join(dir, 'ilf.sqlite'));
    runtime = new LlamaRuntime({ threads: 1 });
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    modelFile = path.join(dir, 'tiny.gguf');
    // utf8Output: llama-server answers 500 to output that is not UTF-8, which random weights write and real models do not.
    await writeTinyModel(modelFile, specForParams('500K', { seed: 5, chatTemplate: CHATML_TEMPLATE }), { utf8Output: true });
    localId = (await addLocalModel(store, runtime, modelFile)).model.id;
    server = await serve();
    endpointId = (await addEndpoint(store, `${server.url}/v1/`, { servedModel: 'tiny', maxConcurrency: 4 })).model.id;
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) await s.kill();
    await runtime?.dispose();
    store?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('registers an endpoint: URL normalized, the key never stored, a model the server does not serve refused', async () => {
    const model = store.models.get(endpointId);
    expect(model).toMatchObject({ kind: 'endpoint', path: server.url, endpoint: { url: server.url, servedModel: 'tiny', apiKeyEnv: null, maxConcurrency: 4 } });
    process.env.ILF_TEST_ENDPOINT_KEY = 'sk-secret-never-stored';
    const keyed = await addEndpoint(store, server.url, { servedModel: 'tiny', apiKeyEnv: 'ILF_TEST_ENDPOINT_KEY', maxConcurrency: 2 });
    expect(keyed).toMatchObject({ created: false, model: { id: endpointId, endpoint: { apiKeyEnv: 'ILF_TEST_ENDPOINT_KEY', maxConcurrency: 2 } } });
    const bytes = fs.readFileSync(path.join(dir, 'ilf.sqlite'));
    expect(bytes.includes('sk-secret-never-stored')).toBe(false);
    await addEndpoint(store, server.url, { servedModel: 'tiny', maxConcurrency: 4 }); // back to no key
    await expectAppError(addEndpoint(store, server.url, { servedModel: 'gpt-9' }), 'BAD_INPUT', /does not serve "gpt-9".*/);
    await expectAppError(addEndpoint(store, `http://user:pw@127.0.0.1:${server.port}`, { servedModel: 'tiny' }), 'BAD_INPUT', /credentials/);
    await expectAppError(addEndpoint(store, server.url, { servedModel: 'tiny', apiKeyEnv: 'sk-live-123' }), 'BAD_INPUT', /not an environment variable name/);
  }, 60_000);

  it('samples through /v1/completions: n per task, stored with the server\'s fingerprint, marked not bit-reproducible, then tested in the sandbox', async () => {
    const report = await runSampling({ store, runtime }, base(endpointId));
    expect(report).toMatchObject({ tasks: 2, samplesCreated: 8, samplesSkipped: 0 });
    expect(report.tokens).toBeGreaterThan(0);
    const run = store.runs.samplingRun(report.runId);
    expect(run?.params).toMatchObject({ endpoint: { baseUrl: server.url, servedModel: 'tiny' }, reproducible: false });
    const rows = store.db.prepare<[number], { system_fingerprint: string | null; token_count: number; finish_reason: string; seed: number }>(
      'SELECT system_fingerprint, token_count, finish_reason, seed FROM samples WHERE run_id = ?').all(report.runId);
    expect(rows).toHaveLength(8);
    for (const r of rows) {
      expect(r.system_fingerprint?.length).toBeGreaterThan(0);
      expect(r.token_count).toBeGreaterThan(0);
      expect(r.token_count).toBeLessThanOrEqual(24);
    }
    expect(new Set(rows.map((r) => r.seed)).size).toBe(8); // one seed per sample: one request each

    const pool = await SandboxPool.create(await sandbox.open(), { size: 1 });
    try {
      const tested = await testSamplingRun(store, pool, report.runId);
      expect(tested.passed + tested.failed + tested.sandboxErrors).toBe(8);
    } finally {
      await pool.dispose();
    }
    const untested = store.db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM samples WHERE run_id = ? AND passed IS NULL').get(report.runId)?.n;
    expect(untested).toBe(0);
  }, 180_000);

  it('the server killed mid-run: the run fails after its retries, and --resume redoes nothing stored', async () => {
    const crashing = await serve();
    const id = (await addEndpoint(store, crashing.url, { servedModel: 'tiny', maxConcurrency: 4 })).model.id;
    const config = { ...base(id), limit: 6, maxTokens: 24 };
    const total = 6 * 4;
    let runId = 0;
    let killed = false;
    // Killed as soon as the first task's samples are stored.
    const watch = setInterval(() => {
      if (!killed && runId > 0 && countSamples(runId) >= 4) {
        killed = true;
        void crashing.kill();
      }
    }, 2);
    const first = runSampling({ store, runtime, endpointOptions: { retries: 2, backoffMs: 50, timeoutMs: 20_000 } }, config, { onRun: (r) => { runId = r; } });
    try {
      await expectAppError(first, 'UNAVAILABLE', /failed 3 times; last: cannot connect/);
    } finally {
      clearInterval(watch);
    }
    expect(killed).toBe(true);
    expect(store.runs.samplingRun(runId)?.status).toBe('failed');
    const stored = countSamples(runId);
    expect(stored).toBeGreaterThanOrEqual(4);
    expect(stored).toBeLessThan(total);
    const before = store.db.prepare<[number], { id: number; completion: string }>('SELECT id, completion FROM samples WHERE run_id = ? ORDER BY id').all(runId);

    // The same server again on the same port; the run picks up where it stopped.
    await serve({ port: crashing.port });
    const resumed = await runSampling({ store, runtime }, config, { resumeRunId: runId });
    expect(resumed).toMatchObject({ runId, samplesSkipped: stored, samplesCreated: total - stored });
    expect(countSamples(runId)).toBe(total);
    const distinct = store.db.prepare<[number], { n: number }>('SELECT COUNT(DISTINCT task_id || \':\' || sample_index) AS n FROM samples WHERE run_id = ?').get(runId)?.n;
    expect(distinct).toBe(total);
    // What was stored before the crash is untouched.
    const after = store.db.prepare<[number], { id: number; completion: string }>('SELECT id, completion FROM samples WHERE run_id = ? ORDER BY id').all(runId);
    expect(after.slice(0, stored)).toEqual(before);
    expect(store.runs.samplingRun(runId)?.status).toBe('completed');
  }, 180_000);

  it('retries a 503 and a 429 with backoff, and a cancel stops the run with what finished kept', async () => {
    // A real proxy in front of the server that answers the first two generation requests it sees with 503, then 429
    // (only POSTs count: a run first asks GET /lora-adapters, which goes through).
    let seen = 0;
    const proxy = http.createServer((req, res) => {
      const generation = req.url?.startsWith('/v1/') === true && req.method === 'POST';
      if (generation) seen += 1;
      if (generation && seen <= 2) {
        res.writeHead(seen === 1 ? 503 : 429, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(JSON.stringify({ error: { message: 'busy' } }));
        return;
      }
      if (generation && seen === 100) {
        // What llama-server answers when it cannot parse the model's output: the same request would fail again.
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 500, message: 'The model produced output that does not match the expected Content-only format', type: 'server_error' } }));
        return;
      }
      const upstream = http.request(`${server.url}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const proxied = (await addEndpoint(store, url, { servedModel: 'tiny', maxConcurrency: 1 })).model.id;
      seen = 0;
      const report = await runSampling({ store, runtime, endpointOptions: { retries: 3, backoffMs: 20 } }, { ...base(proxied), n: 1, limit: 1, maxTokens: 8 });
      expect(report.samplesCreated).toBe(1);
      expect(seen).toBe(3); // 503, 429, then the answer
      // With no retries left, the same errors fail the run and say what to do.
      seen = 0;
      await expectAppError(runSampling({ store, runtime, endpointOptions: { retries: 1, backoffMs: 20 } }, { ...base(proxied), n: 1, limit: 1, maxTokens: 8, seed: 2 }),
        'UNAVAILABLE', /failed 2 times; last: HTTP 429: "busy"/);
      // A 500 is the server failing on that very request: reported at once, not retried.
      seen = 99;
      await expectAppError(runSampling({ store, runtime, endpointOptions: { retries: 3, backoffMs: 20 } }, { ...base(proxied), n: 1, limit: 1, maxTokens: 8, seed: 3 }),
        'BAD_INPUT', /failed: HTTP 500: "The model produced output that does not match/);
      expect(seen).toBe(100);

      const controller = new AbortController();
      let runId = 0;
      const watch = setInterval(() => { if (runId > 0 && countSamples(runId) >= 4) controller.abort(); }, 2);
      seen = 10;
      const cancelled = runSampling({ store, runtime }, { ...base(proxied), limit: 6, seed: 9 }, { signal: controller.signal, onRun: (r) => { runId = r; } });
      await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
      clearInterval(watch);
      expect(store.runs.samplingRun(runId)?.status).toBe('cancelled');
      const kept = countSamples(runId);
      expect(kept).toBeGreaterThanOrEqual(4);
      expect(kept).toBeLessThan(24);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 180_000);

  it('refines through /v1/chat/completions and writes model feedback through the endpoint', async () => {
    const sampled = await runSampling({ store, runtime }, { ...base(endpointId), n: 2, limit: 2, seed: 7 });
    const pool = await SandboxPool.create(await sandbox.open(), { size: 1 });
    try {
      await testSamplingRun(store, pool, sampled.runId);
    } finally {
      await pool.dispose();
    }
    const failing = store.db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM samples WHERE run_id = ? AND passed = 0').get(sampled.runId)?.n ?? 0;
    expect(failing).toBeGreaterThan(0); // a random 500K-parameter model solves nothing
    const feedback = await automaticFeedback({ store, runtime }, sampled.runId, 'model', { modelId: endpointId, seed: 3 });
    expect(feedback.length).toBeGreaterThan(0);
    const written = store.db.prepare<[number], { author: string; model_id: number }>('SELECT author, model_id FROM feedback WHERE id = ?').get(feedback[0] ?? 0);
    expect(written).toMatchObject({ model_id: endpointId, author: expect.stringMatching(/^model:tiny @ http/) as unknown });

    const ids = await generateRefinements({ store, runtime }, {
      feedbackId: feedback[0] ?? 0, k: 3, modelId: endpointId, temperature: 0.7, topP: 0.9, maxTokens: 24, seed: 11, promptFormat: 'chat',
    });
    expect(ids).toHaveLength(3);
    const rows = store.db.prepare<[string], { refiner_model_id: number; params: string; completion: string; program: string }>(
      'SELECT refiner_model_id, params, completion, program FROM refinements WHERE id IN (SELECT value FROM json_each(?)) ORDER BY refinement_index').all(JSON.stringify(ids));
    for (const r of rows) {
      expect(r.refiner_model_id).toBe(endpointId);
      const params = JSON.parse(r.params) as Record<string, unknown>;
      expect(params).toMatchObject({ promptFormat: 'chat', reproducible: false, endpoint: { kind: 'endpoint', baseUrl: server.url, servedModel: 'tiny' } });
      expect((params.endpoint as { systemFingerprint: unknown }).systemFingerprint).toEqual(expect.any(String));
      expect(r.program.endsWith('\n')).toBe(true);
    }
  }, 180_000);

  it('an adapter our trainer made is applied on the server and changes greedy output exactly as it does locally', async () => {
    // Train: one example, enough steps that greedy decoding changes.
    const data = path.join(dir, 'train.jsonl');
    const prompt = completionPrompt({ text: 'Write a function to add two numbers.', exampleTest: 'assert add(1, 2) == 3', codePrefix: null });
    fs.writeFileSync(data, `${JSON.stringify({ prompt, completion: 'def add(a, b):\n    return a + b\n' })}\n`);
    const setId = store.training.createFileTrainingSet('train.jsonl', data, 'test');
    await using training = new TrainingJobs({ store, dataDir: dir, runtime: () => runtime });
    const run = await training.wait((await training.start({ modelId: localId, trainingSetId: setId, config: {
      epochs: 60, learningRate: 1e-3, contextSize: 128, validationFraction: 0, threads: 1, checkpointEvery: 0,
      targetModules: ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'ffn_gate', 'ffn_up', 'ffn_down', 'output'],
    } })).id);
    expect(run.status).toBe('completed');
    const adapter = store.models.adapterOfRun(run.id);
    if (!adapter) throw new Error('training registered no adapter');

    // The first server was started without it: the app says what to restart it with.
    await expectAppError(runSampling({ store, runtime }, { ...base(endpointId), adapterId: adapter.id, n: 1 }), 'BAD_INPUT', /was made for model/);
    await addEndpoint(store, server.url, { servedModel: 'tiny', maxConcurrency: 4, servesModelId: localId });
    await expectAppError(runSampling({ store, runtime }, { ...base(endpointId), adapterId: adapter.id, n: 1 }), 'BAD_INPUT', /has not loaded the adapter/);

    const withLora = await serve({ lora: [adapter.path] });
    const loraEndpoint = (await addEndpoint(store, withLora.url, { servedModel: 'tiny', maxConcurrency: 1, servesModelId: localId })).model.id;
    const greedy = { dataset: 'mbpp', split: 'test', n: 1, temperature: 0, topP: 1, maxTokens: 16, seed: 1, promptFormat: 'completion', limit: 3, stop: [] } as const;
    const texts = async (modelId: number, adapterId: number | null): Promise<string[]> => {
      const r = await runSampling({ store, runtime }, { ...greedy, modelId, adapterId });
      return store.db.prepare<[number], { completion: string }>('SELECT completion FROM samples WHERE run_id = ? ORDER BY task_id').all(r.runId).map((s) => s.completion);
    };
    const localBase = await texts(localId, null);
    const localAdapted = await texts(localId, adapter.id);
    const serverBase = await texts(loraEndpoint, null);
    const serverAdapted = await texts(loraEndpoint, adapter.id);
    expect(localAdapted).not.toEqual(localBase); // the adapter changes what the model writes …
    expect(serverBase).toEqual(localBase); // … the server without it writes what node-llama-cpp writes …
    expect(serverAdapted).toEqual(localAdapted); // … and with it, the same change.
  }, 600_000);
});
