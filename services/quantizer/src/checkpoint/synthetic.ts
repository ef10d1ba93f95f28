/**
 * Synthetic GPT-2 checkpoints: the true architecture with seeded random weights, so every stage can be
 * built and tested without downloading a model. Their predictions mean nothing, which is why the
 * config they are written with says `"synthetic": true` and everything downstream labels them.
 */
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { hashString32, Rng } from '@gpt2-int8/runtime/prng';
import { expectedGpt2Shapes } from './hf-checkpoint.js';

export type PresetName = 'tiny' | 'distil' | 'small';

/**
 * tiny keeps GPT-2's full 50257-token vocabulary so the real tokenizer works end to end; that makes
 * its embedding table (50257 × 64 floats, ~13 MB) nearly all of its size, which is still quick to
 * generate and load in tests. distil and small are DistilGPT-2's and GPT-2 small's shapes.
 */
export const PRESETS: Readonly<Record<PresetName, Readonly<Gpt2Config>>> = {
  tiny: { n_layer: 2, n_embd: 64, n_head: 4, n_positions: 128, vocab_size: 50257, layer_norm_epsilon: 1e-5 },
  distil: { n_layer: 6, n_embd: 768, n_head: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5 },
  small: { n_layer: 12, n_embd: 768, n_head: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5 },
};

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

export interface SyntheticTensor {
  /** Hugging Face name without the `transformer.` prefix, e.g. `h.0.attn.c_attn.weight`. */
  name: string;
  shape: number[];
  /** Generates the values in consecutive chunks; calling it again restarts the same sequence. */
  chunks: () => Iterable<Float32Array>;
}

// 4 MB per chunk: the largest tensor (small's 150 MB embedding) is never materialised whole.
const CHUNK_VALUES = 1 << 20;

/** What GPT-2's own initialisation draws each kind of parameter from. */
type Init = { mean: number; std: number };

function tensor(name: string, shape: number[], init: Init, seed: number): SyntheticTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  return {
    name,
    shape,
    *chunks() {
      // One stream per tensor name: a tensor's values don't depend on which tensors come before it.
      const rng = new Rng(seed, hashString32(name));
      for (let done = 0; done < count; done += CHUNK_VALUES) {
        const chunk = new Float32Array(Math.min(CHUNK_VALUES, count - done));
        for (let i = 0; i < chunk.length; i++) chunk[i] = rng.normal(init.mean, init.std);
        yield chunk;
      }
    },
  };
}

/**
 * The tensors of a GPT-2 with GPT-2's initialisation (normal(0, 0.02), residual projections scaled
 * by 1/sqrt(2·n_layer)), except that LayerNorm gains and all biases get a small perturbation instead
 * of exactly 1 and 0: a graph that forgot to apply a bias or a gain would otherwise still match.
 */
export function syntheticTensors(config: Gpt2Config, seed: number): SyntheticTensor[] {
  const std = 0.02;
  const weight: Init = { mean: 0, std };
  const residual: Init = { mean: 0, std: std / Math.sqrt(2 * config.n_layer) };
  const bias: Init = { mean: 0, std: 0.01 };
  const gain: Init = { mean: 1, std };
  const initOf = (name: string) => (name.endsWith('.bias') ? bias : /ln_[12f]\.weight$/.test(name) ? gain : name.endsWith('c_proj.weight') ? residual : weight);
  // Every parameter, in the loader's order, but lm_head: the head stays tied to wte, as GPT-2 ships.
  return [...expectedGpt2Shapes(config)].filter(([name]) => name !== 'lm_head.weight').map(([name, shape]) => tensor(name, shape, initOf(name), seed));
}

/** The config.json a synthetic checkpoint is written with: valid for Hugging Face transformers too. */
export function syntheticConfigJson(config: Gpt2Config, seed: number, preset?: PresetName): Record<string, unknown> {
  const gpt2Vocab = config.vocab_size === 50257;
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    activation_function: 'gelu_new',
    n_layer: config.n_layer,
    n_embd: config.n_embd,
    n_head: config.n_head,
    n_positions: config.n_positions,
    n_ctx: config.n_positions,
    n_inner: null,
    vocab_size: config.vocab_size,
    layer_norm_epsilon: config.layer_norm_epsilon,
    initializer_range: 0.02,
    ...(gpt2Vocab ? { bos_token_id: 50256, eos_token_id: 50256 } : {}),
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    synthetic: true,
    synthetic_seed: seed,
    ...(preset ? { synthetic_preset: preset } : {}),
  };
}
