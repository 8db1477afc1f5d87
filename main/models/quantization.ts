/**
 * Weight types the LoRA trainer (the @qvac/fabric llama.cpp fork) can train over. K-quants and
 * the i-quants cannot be trained on: their dequantize-and-backprop paths do not exist there.
 */
export const TRAINABLE_QUANTIZATIONS: readonly string[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'];

export function isTrainable(quantization: string): boolean {
  return TRAINABLE_QUANTIZATIONS.includes(quantization.toUpperCase());
}
