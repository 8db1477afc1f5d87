import type { GgufInfo } from '../../native-models/gguf/reader.js';
import { TRAINABLE_QUANTIZATIONS } from './quantization.js';

/** Where a model that cannot train here can still be fine-tuned. */
export const OFF_MACHINE_FINE_TUNE =
  'fine-tune it off this machine instead: export the training set (`ilf export training-set --id N --format messages`) and train with TRL or Axolotl on the original Hugging Face weights, then bring the adapter back with `ilf models import-peft DIR --model ID`';

export interface TrainingSupport {
  readonly trainable: boolean;
  /** Why not, naming what the trainer would hit; absent when trainable. */
  readonly reason?: string;
  /** What to do instead: another weight type, or the off-machine path. */
  readonly instead?: string;
  /** Matrices the trainer gives no LoRA pair, with why (fused tensors). */
  readonly notAdapted: readonly string[];
}

export interface ModelSupport {
  /** Sampling (completion and chat), refinement and evaluation need only inference, which llama.cpp does for every architecture it loads. */
  readonly sample: true;
  readonly chat: boolean;
  readonly train: TrainingSupport;
}

/** Short form for lists: "sample, chat, train" or "sample, chat; no training: <reason>". */
export function describeSupport(s: ModelSupport): string {
  const can = ['sample', ...(s.chat ? ['chat'] : []), 'refine', 'evaluate', ...(s.train.trainable ? ['train'] : [])].join(', ');
  const fused = s.train.notAdapted.length > 0 ? `; not adapted: ${s.train.notAdapted.join(', ')}` : '';
  return s.train.trainable ? `${can}${fused}` : `${can}; no training: ${s.train.reason ?? ''}`;
}

/** What decides support; from a GGUF header (modelSupport) or, for a registered model, its architecture (supportOfModel). */
export interface SupportFacts {
  readonly architecture: string | undefined;
  readonly quantization: string | undefined;
  readonly hasChatTemplate: boolean;
  /** LayerNorm (a norm with a bias): ggml's NORM op. */
  readonly layerNorm: boolean;
  /** Gate and up projections in one matrix (a fused swiglu). */
  readonly fusedGateUp: boolean;
  readonly fusedQkv: boolean;
}

/** Architectures whose real models use LayerNorm or fused tensors, for rows where only the name is stored. */
const LAYER_NORM_ARCHITECTURES = new Set(['starcoder2', 'starcoder', 'gpt2', 'gptneox', 'falcon', 'bloom', 'phi2', 'stablelm', 'mpt', 'refact']);
const FUSED_GATE_UP_ARCHITECTURES = new Set(['phi3']);
const FUSED_QKV_ARCHITECTURES = new Set(['phi3', 'phi2', 'falcon', 'bloom', 'gptneox', 'mpt']);

/** From a GGUF header: the tensors say what the architecture has. */
export function modelSupport(info: Pick<GgufInfo, 'architecture' | 'quantization' | 'tensors' | 'hasChatTemplate'>): ModelSupport {
  const has = (suffix: string): boolean => info.tensors.some((t) => t.name.endsWith(suffix));
  return supportFrom({
    architecture: info.architecture, quantization: info.quantization, hasChatTemplate: info.hasChatTemplate,
    layerNorm: has('.attn_norm.bias') || has('output_norm.bias'),
    fusedGateUp: has('.ffn_up.weight') && !has('.ffn_gate.weight') && FUSED_GATE_UP_ARCHITECTURES.has(info.architecture ?? ''),
    fusedQkv: has('.attn_qkv.weight'),
  });
}

/** For a registered model (the list, the Setup screen): its architecture stands for its tensors. */
export function supportOfModel(m: { architecture: string; quantization: string; hasChatTemplate: boolean }): ModelSupport {
  return supportFrom({
    architecture: m.architecture, quantization: m.quantization, hasChatTemplate: m.hasChatTemplate,
    layerNorm: LAYER_NORM_ARCHITECTURES.has(m.architecture), fusedGateUp: FUSED_GATE_UP_ARCHITECTURES.has(m.architecture),
    fusedQkv: FUSED_QKV_ARCHITECTURES.has(m.architecture),
  });
}

/**
 * What the app can do with a model. The refusals are what the CPU trainer (the @qvac/fabric llama.cpp fork) does
 * with generated models of each architecture and weight type (tests/integration/model-matrix.test.ts proves
 * them): each would otherwise abort the trainer once it starts, or train an adapter that learns next to nothing.
 */
export function supportFrom(f: SupportFacts): ModelSupport {
  const notAdapted = f.fusedQkv ? ['attn_qkv (fused query/key/value: no LoRA target names it)'] : [];
  const quantization = (f.quantization ?? 'unknown').toUpperCase();
  const refuse = (reason: string, instead: string): ModelSupport => ({ sample: true, chat: f.hasChatTemplate, train: { trainable: false, reason, instead, notAdapted } });
  if (f.layerNorm) {
    return refuse(`${f.architecture ?? 'this'} models use LayerNorm, which has no backward pass in the trainer (ggml: "unsupported ggml op for backward pass: NORM")`, OFF_MACHINE_FINE_TUNE);
  }
  if (f.fusedGateUp) {
    return refuse('its feed-forward gate and up projections are fused in one matrix, and the trainer only has a backward pass for them split (ggml: "backward pass only implemented for split swiglu")', OFF_MACHINE_FINE_TUNE);
  }
  if (!TRAINABLE_QUANTIZATIONS.includes(quantization)) {
    return refuse(`it is quantized as ${quantization}, which the trainer cannot train on (K- and I-quants have no backward pass)`, 'use an F32, F16 or Q8_0 GGUF of the same model');
  }
  if (quantization === 'BF16') {
    return refuse('its weights are BF16, on which the CPU trainer aborts (ggml: "unable to assign a backend for tensor (grad for result_norm)")', 'use the F16, F32 or Q8_0 GGUF of the same model');
  }
  if (quantization === 'Q4_0') {
    return refuse('its weights are Q4_0, on which the adapter barely learns (see Q4_0 in README: Model support)', 'use the Q8_0 (or F16) GGUF of the same model');
  }
  return { sample: true, chat: f.hasChatTemplate, train: { trainable: true, notAdapted } };
}
