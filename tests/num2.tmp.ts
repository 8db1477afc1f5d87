import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { specForParams, writeTinyModel } from '../native-models/gguf/writer.js';
import { generateSamples } from '../main/inference/generate.js';
await writeTinyModel('/tmp/num.gguf', specForParams('2M', { seed: 7 }));
const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error, skipDownload: true });
const model = await llama.loadModel({ modelPath: '/tmp/num.gguf' });
const prompt = model.tokenize('"""\nWrite a python function to remove first and last occurrence of a given character from the string.\n"""\n');
const mode = process.env.MODE ?? 'copy';
async function viaApp(): Promise<string> {
  const r = await generateSamples(model, { contextSize: 256, threads: 1 }, prompt, { temperature: 0, topP: 1, maxTokens: 24, stop: [], seeds: [1, 2, 3, 4] });
  return JSON.stringify(r.map((g) => g.text));
}
async function full(): Promise<string> {
  const ctx = await model.createContext({ sequences: 4, contextSize: 256, threads: 1 });
  const seqs = Array.from({ length: 4 }, () => ctx.getSequence());
  const res = await Promise.all(seqs.map(async (s) => { const out = []; for await (const t of s.evaluate(prompt, { temperature: 0 })) { out.push(t); if (out.length >= 24) break; } return model.detokenize(out); }));
  await ctx.dispose();
  return JSON.stringify(res);
}
const outs: string[] = [];
for (let i = 0; i < 6; i++) outs.push(mode === 'copy' ? await viaApp() : await full());
console.log(mode, outs.map((o) => (o === outs[0] ? '=' : 'x')).join(''), 'distinct within run0:', new Set(JSON.parse(outs[0]!) as string[]).size);
await model.dispose(); await llama.dispose();
