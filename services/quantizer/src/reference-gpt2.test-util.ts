/**
 * A plain-TypeScript GPT-2 forward pass, written from the paper and nanoGPT's model.py rather than
 * from the ONNX graph, so the graph builder is checked against something independent. Test-only:
 * float64 accumulation, no batching, slow and obvious on purpose.
 */
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import type { FloatTensor, Gpt2Weights, LayerNormWeights, LinearWeights } from './checkpoint/gpt2-weights.js';

type Vec = Float64Array;

function row(t: FloatTensor, r: number): Vec {
  const n = t.dims[1] as number;
  return Float64Array.from(t.data.subarray(r * n, (r + 1) * n));
}

function layerNorm(x: Vec, p: LayerNormWeights, eps: number): Vec {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= n;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= n;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * (p.weight.data[i] as number) + (p.bias.data[i] as number));
}

/** y = x · W + b with W stored [in, out] (GPT-2's Conv1D). */
function linear(x: Vec, p: LinearWeights): Vec {
  const [k, n] = p.weight.dims as [number, number];
  const y = Float64Array.from(p.bias.data);
  for (let i = 0; i < k; i++) {
    const xi = x[i] as number;
    for (let j = 0; j < n; j++) y[j] = (y[j] as number) + xi * (p.weight.data[i * n + j] as number);
  }
  return y;
}

function geluTanh(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

export interface ReferenceCache {
  keys: Vec[][]; // [layer][position] → [E]
  values: Vec[][];
}

export function emptyCache(nLayer: number): ReferenceCache {
  return { keys: Array.from({ length: nLayer }, () => []), values: Array.from({ length: nLayer }, () => []) };
}

/**
 * Runs `tokens` (positions continuing after what `cache` holds) and returns the logits of each
 * new position; `cache` is extended in place.
 */
export function referenceForward(cfg: Gpt2Config, w: Gpt2Weights, tokens: number[], cache: ReferenceCache): Float64Array[] {
  const E = cfg.n_embd;
  const H = cfg.n_head;
  const D = E / H;
  const head = w.lmHead ?? w.wte;
  const out: Float64Array[] = [];
  for (const token of tokens) {
    const position = cache.keys[0]?.length ?? 0;
    const tokEmb = row(w.wte, token);
    const posEmb = row(w.wpe, position);
    let x = tokEmb.map((v, i) => v + (posEmb[i] as number));
    w.blocks.forEach((blk, l) => {
      const qkv = linear(layerNorm(x, blk.ln1, cfg.layer_norm_epsilon), blk.attn.qkv);
      const q = qkv.subarray(0, E);
      (cache.keys[l] as Vec[]).push(qkv.slice(E, 2 * E));
      (cache.values[l] as Vec[]).push(qkv.slice(2 * E, 3 * E));
      const keys = cache.keys[l] as Vec[];
      const values = cache.values[l] as Vec[];
      const attn = new Float64Array(E);
      for (let h = 0; h < H; h++) {
        const scores = keys.map((k) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += (q[h * D + d] as number) * (k[h * D + d] as number);
          return s / Math.sqrt(D);
        });
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const sum = exps.reduce((a, c) => a + c, 0);
        exps.forEach((e, t) => {
          for (let d = 0; d < D; d++) attn[h * D + d] = (attn[h * D + d] as number) + (e / sum) * ((values[t] as Vec)[h * D + d] as number);
        });
      }
      const attnOut = linear(attn, blk.attn.proj);
      x = x.map((v, i) => v + (attnOut[i] as number));
      const proj = linear(linear(layerNorm(x, blk.ln2, cfg.layer_norm_epsilon), blk.mlp.fc).map(geluTanh), blk.mlp.proj);
      x = x.map((v, i) => v + (proj[i] as number));
    });
    const h = layerNorm(x, w.lnF, cfg.layer_norm_epsilon);
    const logits = new Float64Array(cfg.vocab_size);
    for (let v = 0; v < cfg.vocab_size; v++) {
      let s = 0;
      for (let i = 0; i < E; i++) s += (h[i] as number) * (head.data[v * E + i] as number);
      logits[v] = s;
    }
    out.push(logits);
  }
  return out;
}
