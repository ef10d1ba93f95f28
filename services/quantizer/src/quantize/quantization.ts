import type { Manifest, Quantization } from '@gpt2-int8/shared/manifest';
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

/** int8 weights (per output channel or per tensor) for MatMulInteger; activations per row at run time. */
export function int8Quantization(granularity: Granularity): Quantization {
  return { weights: 'int8', granularity, activations: 'dynamic-per-row', embedding: 'int8' };
}

/** int8 weights in blocks of K for MatMulNBits (bits = 8); activations per block of each row at run time. */
export function int8BlockQuantization(blockSize: number): Quantization {
  return { weights: 'int8', granularity: 'per-block', block_size: blockSize, activations: 'dynamic-per-block', embedding: 'int8' };
}

/** 4-bit weight-only blocks for MatMulNBits; activations per block of each row at run time. */
export function int4Quantization(blockSize: number): Quantization {
  return { weights: 'int4', granularity: 'per-block', block_size: blockSize, activations: 'dynamic-per-block', embedding: 'int4' };
}
