import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { Rng } from '@gpt2-int8/runtime/prng';
import type { FloatTensor, Gpt2Weights } from './checkpoint/gpt2-weights.js';

/** Small random GPT-2 weights in memory, for graph tests that don't need a checkpoint on disk. */
export function randomWeights(cfg: Gpt2Config, seed: number, opts: { untiedHead?: boolean; std?: number } = {}): Gpt2Weights {
  const rng = new Rng(seed);
  const std = opts.std ?? 0.02;
  const normal = () => rng.normal(0, std);
  const t = (dims: number[], fill?: number): FloatTensor => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = fill === undefined ? normal() : fill + normal() * 0.1;
    return { dims, data };
  };
  const E = cfg.n_embd;
  const ln = () => ({ weight: t([E], 1), bias: t([E], 0) });
  const lin = (i: number, o: number) => ({ weight: t([i, o]), bias: t([o]) });
  return {
    wte: t([cfg.vocab_size, E]),
    wpe: t([cfg.n_positions, E]),
    blocks: Array.from({ length: cfg.n_layer }, () => ({
      ln1: ln(),
      attn: { qkv: lin(E, 3 * E), proj: lin(E, E) },
      ln2: ln(),
      mlp: { fc: lin(E, 4 * E), proj: lin(4 * E, E) },
    })),
    lnF: ln(),
    ...(opts.untiedHead ? { lmHead: t([cfg.vocab_size, E]) } : {}),
  };
}
