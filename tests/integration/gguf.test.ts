import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLlama, LlamaCompletion, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { AppError } from '../../main/errors.js';
import { readGgufInfo } from '../../native-models/gguf/reader.js';
import {
  BASE_MODEL_SHA256_KEY,
  countParameters,
  specForParams,
  writeLoraAdapter,
  writeTinyModel,
  type TinyModelSpec,
} from '../../native-models/gguf/writer.js';
import { decodeTensor, encodeTensorChunk, encodedBytes, WRITABLE_TENSOR_TYPES } from '../../native-models/gguf/quantize.js';
import { NAMED_SHAPES } from '../../native-models/gguf/architectures.js';
import { tempDir } from '../helpers/fs.js';
import { expectAppError } from '../helpers/errors.js';

/** node-llama-cpp defaults to at least 4 threads; on a 2-core machine that makes generation ~100× slower. */
const THREADS = os.availableParallelism();
const CHATML = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n";
const SPEC: TinyModelSpec = { ...specForParams('2M'), seed: 7, chatTemplate: CHATML, name: 'gguf test model' };
const CODE = 'def add(a, b):\n    return a + b\n';


function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('writing tiny GGUF models and reading them back', () => {
  it('describes a generated model: metadata, tensors, parameters, quantization, layout', async () => {
    const file = path.join(tempDir(), 'tiny.gguf');
    const written = await writeTinyModel(file, SPEC);
    const info = await readGgufInfo(file);

    expect(info).toMatchObject({ version: 3, architecture: 'llama', name: 'gguf test model', fileKind: 'model', contextLength: 2048 });
    expect(info).toMatchObject({ hasChatTemplate: true, quantization: 'F32', alignment: 32, fileSize: written.sizeBytes });
    expect(info.metadata['tokenizer.chat_template']).toBe(CHATML);
    expect(info.metadata['llama.embedding_length']).toBe(SPEC.embeddingLength);
    expect(info.metadata['llama.block_count']).toBe(SPEC.blockCount);
    expect(info.metadata['tokenizer.ggml.model']).toBe('gpt2');
    const tokens = info.metadata['tokenizer.ggml.tokens'];
    expect(Array.isArray(tokens) && tokens.length).toBe(info.metadata['llama.vocab_size']);

    expect(info.tensors).toHaveLength(3 + 9 * SPEC.blockCount);
    expect(info.parameterCount).toBe(written.parameterCount);
    expect(info.parameterCount).toBe(countParameters(SPEC));
    expect(written.parameterCount).toBeGreaterThan(1_500_000);
    expect(written.parameterCount).toBeLessThan(2_500_000);
    expect(info.tensors.find((t) => t.name === 'blk.0.ffn_down.weight')).toMatchObject({
      dims: [SPEC.feedForwardLength, SPEC.embeddingLength],
      type: 'F32',
      bytes: SPEC.feedForwardLength * SPEC.embeddingLength * 4,
    });
    expect(info.dataOffset % 32).toBe(0);
    for (const t of info.tensors) expect(t.offset % 32).toBe(0);
    const last = info.tensors.at(-1);
    expect(last && Math.ceil((last.offset + last.bytes) / 32) * 32).toBe(info.fileSize);

    expect(written.sha256).toBe(sha256(file));
    // The seed alone decides the bytes.
    const again = await writeTinyModel(path.join(tempDir(), 'again.gguf'), SPEC);
    expect(again.sha256).toBe(written.sha256);
    const reseeded = await writeTinyModel(path.join(tempDir(), 'other.gguf'), { ...SPEC, seed: 8 });
    expect(reseeded.sha256).not.toBe(written.sha256);
  });

  it('writes F16 matrices with F32 norms, and names the file F16', async () => {
    const file = path.join(tempDir(), 'tiny-f16.gguf');
    const written = await writeTinyModel(file, { ...SPEC, tensorType: 'F16' });
    const info = await readGgufInfo(file);
    expect(info.quantization).toBe('F16');
    expect(new Set(info.tensors.filter((t) => t.dims.length === 2).map((t) => t.type))).toEqual(new Set(['F16']));
    expect(new Set(info.tensors.filter((t) => t.dims.length === 1).map((t) => t.type))).toEqual(new Set(['F32']));
    expect(written.parameterCount).toBe(countParameters(SPEC));
  });

  it('encodes F32, F16, BF16, Q8_0 and Q4_0 as ggml does: each decodes back within its precision', () => {
    const values = new Float32Array(4096).map((_, i) => Math.sin(i * 1.7) * (1 + (i % 97) / 10));
    const worst: Record<string, number> = {};
    for (const type of WRITABLE_TENSOR_TYPES) {
      const bytes = encodeTensorChunk(type, values, new Uint8Array(encodedBytes(type, values.length) + 4));
      expect(bytes.length).toBe(encodedBytes(type, values.length));
      const back = decodeTensor(type, bytes, values.length);
      // Relative to each 32-value block's largest magnitude: the quantizers' step is that over 127 (Q8_0) or 8 (Q4_0).
      let err = 0;
      for (let b = 0; b < values.length; b += 32) {
        const amax = Math.max(...values.subarray(b, b + 32).map(Math.abs));
        for (let j = b; j < b + 32; j++) err = Math.max(err, Math.abs((back[j] ?? 0) - (values[j] ?? 0)) / amax);
      }
      worst[type] = err;
    }
    expect(worst.F32).toBe(0);
    expect(worst.F16).toBeLessThan(1e-3);
    expect(worst.BF16).toBeLessThan(8e-3);
    expect(worst.Q8_0).toBeLessThan(0.5 / 127 + 1e-3);
    expect(worst.Q8_0).toBeGreaterThan(0);
    // Q4_0 clamps the end opposite the largest value at 7 steps instead of 8: up to an eighth of it.
    expect(worst.Q4_0).toBeLessThan(1 / 8 + 1e-3);
    expect(worst.Q4_0).toBeGreaterThan(worst.Q8_0 ?? 0);
  });

  it('counts the parameters of the real Qwen2.5-Coder-0.5B shape as the model card does (494M, tied output)', () => {
    const shape = NAMED_SHAPES['qwen2.5-coder-0.5b'];
    expect(shape).toBeDefined();
    if (shape) expect(countParameters(shape)).toBe(494_032_768);
  });

  it('chooses dimensions for a parameter budget', () => {
    for (const [budget, target] of [['500K', 5e5], ['20M', 2e7], [5_000_000, 5e6]] as const) {
      const spec = specForParams(budget);
      const count = countParameters(spec);
      expect(Math.abs(count / target - 1)).toBeLessThan(0.1);
      expect(spec.embeddingLength % spec.headCount).toBe(0);
    }
    expect(() => specForParams('lots')).toThrow(AppError);
    expect(() => specForParams('3')).toThrow(/not supported/);
  });
});

describe('generated models in node-llama-cpp', () => {
  let llama: Llama;
  let model: LlamaModel;
  let modelFile: string;
  const logs: string[] = [];

  beforeAll(async () => {
    // Not tempDir(): that folder is removed after the first test, and the model file is used throughout.
    modelFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-gguf-')), 'tiny.gguf');
    await writeTinyModel(modelFile, SPEC);
    // build 'never' + skipDownload: use the prebuilt binary or fail, never fetch or compile llama.cpp.
    llama = await getLlama({
      gpu: false,
      build: 'never',
      skipDownload: true,
      progressLogs: false,
      maxThreads: THREADS,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => logs.push(`${level}: ${message}`),
    });
    model = await llama.loadModel({ modelPath: modelFile });
  });

  afterAll(async () => {
    await model.dispose();
    await llama.dispose();
    fs.rmSync(path.dirname(modelFile), { recursive: true, force: true });
  });

  async function complete(prompt: string, options: { seed?: number; temperature: number; lora?: string }): Promise<{ text: string; stopReason: string }> {
    const context = await model.createContext({
      contextSize: 256,
      threads: THREADS,
      ...(options.lora === undefined ? {} : { lora: { adapters: [{ filePath: options.lora, scale: 1 }] } }),
    });
    try {
      const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
      const { response, metadata } = await completion.generateCompletionWithMeta(prompt, {
        maxTokens: 20,
        temperature: options.temperature,
        ...(options.seed === undefined ? {} : { seed: options.seed }),
      });
      return { text: response, stopReason: metadata.stopReason };
    } finally {
      await context.dispose();
    }
  }

  it('loads the model with the metadata it was written with', () => {
    expect(model.fileInfo.metadata.general.architecture).toBe('llama');
    expect(model.trainContextSize).toBe(2048);
    expect(model.embeddingVectorSize).toBe(SPEC.embeddingLength);
    expect(model.fileInsights.totalLayers).toBe(SPEC.blockCount + 1);
  });

  it('tokenizes code and any text back to the same bytes', () => {
    for (const text of [CODE, 'x = [1 ,2] ; y = f(a , b) . z\n\n\tend', 'héllo wörld — ✓ 😀 \u0000\u001f']) {
      expect(model.detokenize(model.tokenize(text))).toBe(text);
    }
    // The merges are used: "def" and " return" are single tokens.
    expect(model.tokenize('def')).toHaveLength(1);
    expect(model.tokenize(' return')).toHaveLength(1);
    expect(model.tokenize(CODE).length).toBeLessThan(Buffer.byteLength(CODE) / 2);
  });

  it('generates 20 tokens, the same twice with the same seed', async () => {
    const first = await complete(CODE, { seed: 42, temperature: 0.8 });
    const second = await complete(CODE, { seed: 42, temperature: 0.8 });
    expect(first.stopReason).toBe('maxTokens');
    expect(second).toEqual(first);
  });

  it('generates differently with a LoRA adapter loaded', async () => {
    const dir = tempDir();
    const adapter = path.join(dir, 'adapter.gguf');
    const base = sha256(modelFile);
    const written = await writeLoraAdapter(adapter, SPEC, { rank: 4, alpha: 4, seed: 3, baseModelSha256: base });
    expect(written.sha256).toBe(sha256(adapter));

    const info = await readGgufInfo(adapter);
    expect(info.fileKind).toBe('adapter');
    expect(info.metadata['adapter.type']).toBe('lora');
    expect(info.metadata['adapter.lora.alpha']).toBe(4);
    expect(info.metadata[BASE_MODEL_SHA256_KEY]).toBe(base);
    expect(info.tensors).toHaveLength(2 * 7 * SPEC.blockCount);
    // lora_a is [inputs, rank], lora_b is [rank, outputs] for a base matrix of [inputs, outputs].
    expect(info.tensors.find((t) => t.name === 'blk.0.ffn_down.weight.lora_a')?.dims).toEqual([SPEC.feedForwardLength, 4]);
    expect(info.tensors.find((t) => t.name === 'blk.0.ffn_down.weight.lora_b')?.dims).toEqual([4, SPEC.embeddingLength]);

    const without = await complete(CODE, { temperature: 0 });
    const withAdapter = await complete(CODE, { temperature: 0, lora: adapter });
    expect(withAdapter.text).not.toBe(without.text);
    // Unloading the adapter brings the base model back.
    expect(await complete(CODE, { temperature: 0 })).toEqual(without);
  });

  it('refuses an adapter made for a model of other dimensions', async () => {
    const adapter = path.join(tempDir(), 'wrong.gguf');
    await writeLoraAdapter(adapter, { ...SPEC, embeddingLength: SPEC.embeddingLength + 32, headCount: SPEC.headCount + 1 }, { rank: 4, alpha: 4, seed: 3 });
    logs.length = 0;
    const failure: unknown = await complete(CODE, { temperature: 0, lora: adapter }).then(() => undefined, (e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe(`Failed to initialize LoRA adapter "${adapter}"`);
    // The reason only reaches llama.cpp's log.
    expect(logs.join('\n')).toMatch(/tensor 'blk\.0\.attn_\w+\.weight' has incorrect shape \(hint: maybe wrong base model\?\)/);
  });
});

describe('reading files that are not valid GGUF', () => {
  async function tinyModelFile(): Promise<{ file: string; bytes: Buffer }> {
    const file = path.join(tempDir(), 'model.gguf');
    await writeTinyModel(file, specForParams('500K'));
    return { file, bytes: fs.readFileSync(file) };
  }

  function variant(name: string, bytes: Uint8Array): string {
    const file = path.join(tempDir(), name);
    fs.writeFileSync(file, bytes);
    return file;
  }

  it('says what a non-GGUF file seems to be, without quoting its bytes', async () => {
    const notes = await expectAppError(readGgufInfo(variant('notes.txt', Buffer.from('hello world, not a model\n'))), 'BAD_INPUT', /is not a GGUF file \(it is a text file/);
    expect(notes.message).not.toMatch(/hello/);
    await expectAppError(readGgufInfo(variant('page.gguf', Buffer.from('<!DOCTYPE html><html>'))), 'BAD_INPUT', /it looks like an HTML or XML page/);
    await expectAppError(readGgufInfo(variant('model.bin', Buffer.from('PK\x03\x04rest', 'latin1'))), 'BAD_INPUT', /it is a zip archive/);
    await expectAppError(readGgufInfo(variant('empty.gguf', Buffer.alloc(0))), 'BAD_INPUT', /is not a GGUF file \(it is empty/);
    await expectAppError(readGgufInfo(path.join(tempDir(), 'missing.gguf')), 'NOT_FOUND', /does not exist/);
  });

  it('reports truncation in the metadata, in the tensor table and in the tensor data', async () => {
    const { bytes, file } = await tinyModelFile();
    const info = await readGgufInfo(file);

    // 2000 bytes in is the vocabulary, whose item count no longer fits; 4000 bytes in, its strings are cut.
    const inVocabulary = variant('cut-vocabulary.gguf', bytes.subarray(0, 2000));
    await expectAppError(readGgufInfo(inVocabulary), 'BAD_INPUT', /is truncated: 'tokenizer\.ggml\.tokens' claims \d+ items but the file ends at byte 2000/);
    const keys = Object.keys(info.metadata).length;
    const inMetadata = variant('cut-metadata.gguf', bytes.subarray(0, 4000));
    await expectAppError(readGgufInfo(inMetadata), 'BAD_INPUT', new RegExp(`is truncated: header says ${keys} metadata keys \\(the value of 'tokenizer\\.ggml\\.tokens' is cut off\\) but the file ends at byte 4000`));

    const cut = info.dataOffset - 40;
    const inTensorTable = variant('cut-tensors.gguf', bytes.subarray(0, cut));
    await expectAppError(readGgufInfo(inTensorTable), 'BAD_INPUT', new RegExp(`is truncated: header says ${info.tensors.length} tensors but the file ends at byte ${cut}`));

    const inData = variant('cut-data.gguf', bytes.subarray(0, bytes.length - 1000));
    await expectAppError(readGgufInfo(inData), 'BAD_INPUT', /tensor data extends past the end of the file \(file truncated\?\): 'blk\.\d+\.ffn_down\.weight'/);
  });

  it('rejects unsupported versions', async () => {
    const { bytes } = await tinyModelFile();
    const withVersion = (v: number, littleEndian = true): string => {
      const copy = Buffer.from(bytes);
      if (littleEndian) copy.writeUInt32LE(v, 4);
      else copy.writeUInt32BE(v, 4);
      return variant(`v${v}-${littleEndian ? 'le' : 'be'}.gguf`, copy);
    };
    await expectAppError(readGgufInfo(withVersion(99)), 'BAD_INPUT', /is GGUF version 99; supported versions are 2 and 3/);
    await expectAppError(readGgufInfo(withVersion(1)), 'BAD_INPUT', /GGUF version 1, which llama.cpp no longer reads/);
    await expectAppError(readGgufInfo(withVersion(3, false)), 'BAD_INPUT', /big-endian/);
  });

  it('rejects absurd counts before allocating for them', async () => {
    const { bytes } = await tinyModelFile();
    const hugeTensors = Buffer.from(bytes);
    hugeTensors.writeBigUInt64LE(1n << 40n, 8);
    await expectAppError(readGgufInfo(variant('huge-tensors.gguf', hugeTensors)), 'BAD_INPUT', /corrupt header: it claims 1099511627776 tensors/);
    const manyTensors = Buffer.from(bytes);
    manyTensors.writeBigUInt64LE(100_000n, 8);
    await expectAppError(readGgufInfo(variant('many-tensors.gguf', manyTensors)), 'BAD_INPUT', /truncated: header says 100000 tensors but the file ends at byte/);

    // A header whose single key claims an array of 2^50 u32 values, and one whose string claims 2^40 bytes.
    const header = (tail: Buffer): Buffer => {
      const head = Buffer.alloc(24);
      head.write('GGUF', 0, 'latin1');
      head.writeUInt32LE(3, 4);
      head.writeBigUInt64LE(0n, 8);
      head.writeBigUInt64LE(1n, 16);
      const key = Buffer.alloc(9);
      key.writeBigUInt64LE(1n, 0);
      key.write('k', 8);
      return Buffer.concat([head, key, tail, Buffer.alloc(64)]);
    };
    const array = Buffer.alloc(16);
    array.writeUInt32LE(9, 0);
    array.writeUInt32LE(4, 4);
    array.writeBigUInt64LE(1n << 50n, 8);
    await expectAppError(readGgufInfo(variant('huge-array.gguf', header(array))), 'BAD_INPUT', /'k' claims 1125899906842624 items but the file ends at byte/);
    const string = Buffer.alloc(12);
    string.writeUInt32LE(8, 0);
    string.writeBigUInt64LE(1n << 40n, 4);
    await expectAppError(readGgufInfo(variant('huge-string.gguf', header(string))), 'BAD_INPUT', /corrupt header: a string of 1099511627776 bytes/);
  });
});
