import type { Manifest, Quantization } from '@gpt2-int8/contract/manifest';
import type { Granularity } from './quantize-weights.js';

/**
 * What one artifact is made with, exactly as its manifest records it: the operators (operators/) read
 * `quantization`, the graph builder reads `graph`, and a later run reuses the artifact only when
 * both are the same.
 */
export type QuantizationPlan = Pick<Manifest, 'quantization' | 'graph'>;
export type Int8Quantization = Extract<Quantization, { weights: 'int8' }>;
export type Int4Quantization = Extract<Quantization, { weights: 'int4' }>;

/** int8 weights (per output channel or per tensor) for MatMulInteger; activations per row at run time. */
export function int8Quantization(granularity: Granularity): Quantization {
  return { weights: 'int8', granularity, activations: 'dynamic-per-row', embedding: 'int8' };
}

/** 4-bit weight-only blocks for MatMulNBits; activations per block of each row at run time. */
export function int4Quantization(blockSize: number): Quantization {
  return { weights: 'int4', granularity: 'per-block', block_size: blockSize, activations: 'dynamic-per-block', embedding: 'int4' };
}
