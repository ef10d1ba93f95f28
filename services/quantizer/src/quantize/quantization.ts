import type { Manifest, Quantization } from '@gpt2-int8/contract/manifest';
import type { Granularity } from './quantize-weights.js';

/**
 * What one artifact is made with, exactly as its manifest records it: the operators (operators/) read
 * `quantization`, the graph builder reads `graph`, and a later run reuses the artifact only when
 * both are the same.
 */
export type QuantizationPlan = Pick<Manifest, 'quantization' | 'graph'>;
/** MatMulInteger: int8 weights per channel or per tensor, activations per row. */
export type RowQuantization = Extract<Quantization, { activations: 'dynamic-per-row' }>;
/** MatMulNBits: 4- or 8-bit weights in blocks of K, activations per block of each row. */
export type BlockQuantization = Extract<Quantization, { activations: 'dynamic-per-block' }>;

/** The bits of a block quantization's codes. */
export function blockBits(q: BlockQuantization): 4 | 8 {
  return q.weights === 'int4' ? 4 : 8;
}

/**
 * int8 weights (per output channel or per tensor) for MatMulInteger; activations per row at run time.
 * With `headBlockSize`, the LM head and the token embedding use int8 blocks of that size instead
 * (MatMulNBits, GatherBlockQuantized): the head's few rows per call (logits for the last position)
 * suit MatMulNBits' kernel, and it is where per-row activations cost most agreement.
 * `activationPasses` 2 (the default) quantizes the widening linears' activations twice
 * (Quantizer.int8TwoPassActivation): student-tiny's agreement with FP32 98.51% → 98.92% top-1, at +22% on
 * a 128-token prompt (docs/performance.md).
 */
export function int8Quantization(granularity: Granularity, options: { headBlockSize?: number; activationPasses?: 1 | 2 } = {}): Quantization {
  const { headBlockSize, activationPasses = 2 } = options;
  return { weights: 'int8', granularity, activations: 'dynamic-per-row', embedding: 'int8', ...(headBlockSize === undefined ? {} : { head_block_size: headBlockSize }), activation_passes: activationPasses };
}

/** How many times the activations of a linear that widens its input `widening` times are quantized (the manifest's activation_passes). */
export function activationPasses(q: RowQuantization, widening: number): 1 | 2 {
  return q.activation_passes === 2 && widening >= WIDENING ? 2 : 1;
}

/**
 * GPT-2's MLP widens 4× (c_fc) and its head 65× (768 → 50,257); its attention's c_attn 3×. Those two
 * read a LayerNorm's output and hold most of the agreement lost to activation rounding on
 * student-tiny, where c_attn's share is within noise (docs/performance.md).
 */
const WIDENING = 4;

/** The quantization of the LM head and the token embedding: `q`'s head blocks when it has them, else `q`. */
export function headQuantization(q: Quantization): Quantization {
  return 'head_block_size' in q && q.head_block_size !== undefined ? int8BlockQuantization(q.head_block_size) : q;
}

/** int8 weights in blocks of K for MatMulNBits (bits = 8); activations per block of each row at run time. */
export function int8BlockQuantization(blockSize: number): Quantization {
  return { weights: 'int8', granularity: 'per-block', block_size: blockSize, activations: 'dynamic-per-block', embedding: 'int8' };
}

/** 4-bit weight-only blocks for MatMulNBits; activations per block of each row at run time. */
export function int4Quantization(blockSize: number): Quantization {
  return { weights: 'int4', granularity: 'per-block', block_size: blockSize, activations: 'dynamic-per-block', embedding: 'int4' };
}
