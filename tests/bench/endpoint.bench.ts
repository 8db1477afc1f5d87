/**
 * npm run bench:endpoint — not a test: prints figures, never fails on a slow machine.
 *
 * llama-server (built by .ci/setup-llama-server) on 127.0.0.1 serves a generated ~20M-parameter
 * model with PARALLEL slots and threads = physical cores. In the same run, the same SAMPLES × TOKENS
 * for one prompt are drawn
 *   (a) through the app's endpoint path (the generator sampling uses: concurrent requests up to
 *       the endpoint's max concurrency = PARALLEL), and
 *   (b) one request at a time (a plain fetch loop written here, same bodies).
 * Both are timed the same way, from the first request to the last answer; tokens are the server's
 * own completion_tokens.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { endpointGenerator } from '../../main/inference/generator.js';
import { physicalCores } from '../../main/models/runtime.js';
import { llamaServerBinary, startLlamaServer } from '../helpers/llama-server.js';

const SAMPLES = 16;
const TOKENS = 64;
const PARALLEL = 8;
const prompt = completionPrompt({
  text: 'Write a function to find the shared elements from the given two lists.',
  exampleTest: 'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))',
  codePrefix: null,
});
const seeds = Array.from({ length: SAMPLES }, (_, i) => 1000 + i);

async function main(): Promise<void> {
  const binary = llamaServerBinary();
  if (!binary.path) throw new Error(`bench:endpoint needs llama-server: ${binary.reason ?? ''}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-bench-endpoint-'));
  const threads = physicalCores();
  const file = path.join(dir, 'model-20m.gguf');
  const written = await writeTinyModel(file, specForParams('20M', { seed: 3 }), { utf8Output: true });
  const server = await startLlamaServer(binary.path, {
    model: file, alias: 'bench', logFile: path.join(dir, 'server.log'), parallel: PARALLEL, threads, contextSize: 512,
  });
  try {
    console.log(`bench:endpoint — llama-server, generated model ${(written.parameterCount / 1e6).toFixed(1)}M params, ${SAMPLES} samples × ${TOKENS} tokens, ` +
      `--parallel ${PARALLEL}, ${threads} threads`);
    const endpoint = { url: server.url, servedModel: 'bench', apiKeyEnv: null, maxConcurrency: PARALLEL, nPerRequest: false, servesModelId: null };
    const generator = endpointGenerator(endpoint);
    const params = { temperature: 0.8, topP: 0.95, maxTokens: TOKENS, stop: [] as string[], seeds };

    // Warm-up: the first request loads pages and fills caches for both sides alike.
    await generator.generate(prompt, 'completion', { ...params, seeds: [1], maxTokens: 8 });

    let started = performance.now();
    const app = await generator.generate(prompt, 'completion', params);
    const appSeconds = (performance.now() - started) / 1000;
    const appTokens = app.reduce((n, g) => n + g.tokens, 0);

    started = performance.now();
    let serialTokens = 0;
    for (const seed of seeds) {
      const res = await fetch(`${server.url}/v1/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'bench', prompt, max_tokens: TOKENS, temperature: 0.8, top_p: 0.95, seed }),
      });
      const body = (await res.json()) as { usage?: { completion_tokens?: number } };
      serialTokens += body.usage?.completion_tokens ?? 0;
    }
    const serialSeconds = (performance.now() - started) / 1000;
    const appRate = appTokens / appSeconds;
    const serialRate = serialTokens / serialSeconds;
    console.log(`app: ${appTokens} tokens in ${appSeconds.toFixed(2)} s; one at a time: ${serialTokens} tokens in ${serialSeconds.toFixed(2)} s`);
    console.log(`endpoint bench: app ${appRate.toFixed(1)} tok/s serial ${serialRate.toFixed(1)} tok/s ratio ${(appRate / serialRate).toFixed(2)}`);
  } finally {
    await server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
