/**
 * The real-size model the benchmarks run: Qwen2.5-Coder-0.5B's shape (d 896, 24 layers, 14 heads /
 * 2 KV, FFN 4864, vocabulary 151,936, QKV biases, tied output) with random weights, from the fixture
 * writer's named shapes.
 */
import { NAMED_SHAPES, writeTinyModel, type WritableTensorType } from '../../native-models/gguf/writer.js';

export type RealShapeType = Extract<WritableTensorType, 'F32' | 'F16' | 'Q8_0'>;

function shape(): NonNullable<(typeof NAMED_SHAPES)[string]> {
  const s = NAMED_SHAPES['qwen2.5-coder-0.5b'];
  if (!s) throw new Error('the fixture writer has no qwen2.5-coder-0.5b shape');
  return s;
}

export const realShapeVocab = (): number => shape().vocabSize;

export async function writeRealShapeModel(file: string, type: RealShapeType): Promise<void> {
  await writeTinyModel(file, { ...shape(), tensorType: type, seed: 5 });
}
