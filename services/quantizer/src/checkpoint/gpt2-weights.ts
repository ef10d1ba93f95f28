import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import type { Source } from '../source.js';

/** A dense FP32 tensor in row-major order. */
export interface FloatTensor {
  dims: number[];
  data: Float32Array;
}

export interface LayerNormWeights {
  weight: FloatTensor; // [n_embd]
  bias: FloatTensor; // [n_embd]
}

/** A linear layer in GPT-2's Conv1D layout: y = x · weight + bias, weight is [in, out]. */
export interface LinearWeights {
  weight: FloatTensor;
  bias: FloatTensor;
}

export interface Gpt2Block {
  ln1: LayerNormWeights;
  attn: { qkv: LinearWeights /* [E, 3E] */; proj: LinearWeights /* [E, E] */ };
  ln2: LayerNormWeights;
  mlp: { fc: LinearWeights /* [E, 4E] */; proj: LinearWeights /* [4E, E] */ };
}

/** GPT-2's parameters, independent of how they were stored. */
export interface Gpt2Weights {
  wte: FloatTensor; // [vocab, E]
  wpe: FloatTensor; // [n_positions, E]
  blocks: Gpt2Block[];
  lnF: LayerNormWeights;
  /** [vocab, E]; absent when the head is tied to wte (GPT-2's default). */
  lmHead?: FloatTensor;
}

/** Where the checkpoint came from, and the sha256 (hex) over its files (config and weights). */
export type CheckpointSource = Pick<Source, 'kind' | 'id'> & { sha256: string };

export interface Gpt2Checkpoint {
  config: Gpt2Config;
  weights: Gpt2Weights;
  source: CheckpointSource;
  /** True when the weights are random (made by make-model): predictions mean nothing. */
  synthetic: boolean;
}
