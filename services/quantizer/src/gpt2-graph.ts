import type { onnx } from '@gpt2-int8/runtime/onnx-proto';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { GRAPH_IO } from '@gpt2-int8/runtime/graph-io';
import type { FloatTensor, Gpt2Weights, LayerNormWeights, LinearWeights } from './checkpoint/gpt2-weights.js';
import { DT, GraphBuilder, modelProto, MS_DOMAIN } from '@gpt2-int8/runtime/onnx-graph-builder';

/** The most negative float32: masked scores are replaced (not offset) so softmax never sees -inf. */
const LOWEST = -3.4028234663852886e38;
const i64 = DT.INT64;

export type LogitsKind = 'last' | 'all';

export interface GraphOptions {
  /**
   * 'last' (the default): logits for the last position only, [batch, 1, vocab], which is all that
   * next-token prediction and generation read. 'all': every position, [batch, sequence, vocab], as
   * optimum exports it — for scoring text; the LM head then costs sequence × more time, and its
   * int32/float intermediates (4 × batch × sequence × 50257 values) dominate a worker's memory.
   */
  logits?: LogitsKind;
}

/** Inputs of one layer's attention: projected q, k, v [B, S, E] and the cache [B, H, P, D]. */
interface AttentionInputs {
  q: string;
  k: string;
  v: string;
  pastKey: string;
  pastValue: string;
  layer: number;
}
/** Builds one layer's attention, naming this call's keys and values present_new.{layer}.key|value; returns [B, S, E]. */
type Attention = (a: AttentionInputs) => string;

/**
 * Attention with the past kept apart: the cache is only read, never copied into a present. Scores
 * against the past and against this call's own keys are computed separately and share one softmax;
 * the output is probs_past · past_values + probs_new · new_values. A graph that concatenated past
 * and new (optimum's present.*, or MultiHeadAttention) copies the whole cache every call, whether
 * or not the caller fetches it: ONNX Runtime runs every node of the graph. The callers keep the
 * cache themselves from present_new.* (shared/runtime/src/kv-decoder.ts, batch-decoder.ts).
 *
 * This call's scores come first in the softmax, the past's after them: a row's unmasked scores
 * then sit at the same indices whatever the cache's capacity, and its masked slots (scores replaced
 * by the lowest float: weight exactly 0) only trail, so a sequence computes the same bits in a
 * buffer of any capacity, alone or batched (shared/runtime/src/batch-decoder.test.ts).
 */
function pastApartAttention(b: GraphBuilder, ids: string, mask: string, H: number, D: number): Attention {
  // allowed[b, 1, i, j]: query i (at absolute position past + i) may see key j, keys in the mask's order (past, then new).
  const seqLen = b.op('Shape', [ids], { start: 1, end: 2 }); // [1]: S
  const totalLen = b.op('Shape', [mask], { start: 1, end: 2 }); // [1]: T
  const pastLen = b.op('Sub', [totalLen, seqLen]); // [1]: P
  const scalar = (t: string) => b.op('Squeeze', [t, b.constant([0], i64)]);
  const one = b.scalar(1, i64);
  const keyIdx = b.op('Range', [b.scalar(0, i64), scalar(totalLen), one]); // [T]
  const queryIdx = b.op('Range', [scalar(pastLen), scalar(totalLen), one]); // [S]
  const causal = b.op('LessOrEqual', [b.op('Unsqueeze', [keyIdx, b.constant([0], i64)]), b.op('Unsqueeze', [queryIdx, b.constant([1], i64)])]); // [S, T]
  const padding = b.op('Unsqueeze', [b.op('Cast', [mask], { to: DT.BOOL }), b.constant([1, 2], i64)]); // [B, 1, 1, T]
  const allowed = b.op('And', [padding, causal]); // [B, 1, S, T]
  const lastAxis = b.constant([3], i64);
  const start = b.constant([0], i64);
  const end = b.constant([Number.MAX_SAFE_INTEGER], i64);
  // [B, 1, S, S + P]: this call's keys first, then the past's
  const allowedNewFirst = b.op('Concat', [b.op('Slice', [allowed, pastLen, end, lastAxis]), b.op('Slice', [allowed, start, pastLen, lastAxis])], { axis: 3 });
  const lowest = b.scalar(LOWEST);
  // Scaling q (S × D values) rather than the scores (S × T).
  const headScale = b.scalar(1 / Math.sqrt(D));
  // [B, S, E] -> [B, S, H, D] -> [B, H, S, D]
  const splitHeads = (t: string, name?: string) => b.op('Transpose', [b.op('Reshape', [t, b.constant([0, 0, H, D], i64)])], { perm: [0, 2, 1, 3] }, '', name);
  const keysT = (t: string) => b.op('Transpose', [t], { perm: [0, 1, 3, 2] }); // [B, H, n, D] -> [B, H, D, n]
  return (a) => {
    const q = b.op('Mul', [splitHeads(a.q), headScale]); // [B, H, S, D]
    const k = splitHeads(a.k, GRAPH_IO.presentNewKey(a.layer)); // [B, H, S, D]
    const v = splitHeads(a.v, GRAPH_IO.presentNewValue(a.layer)); // [B, H, S, D]
    const scores = b.op('Concat', [b.op('MatMul', [q, keysT(k)]), b.op('MatMul', [q, keysT(a.pastKey)])], { axis: 3 }); // [B, H, S, S + P]
    const probs = b.op('Softmax', [b.op('Where', [allowedNewFirst, scores, lowest])], { axis: -1 }); // [B, H, S, S + P]
    const fromNew = b.op('MatMul', [b.op('Slice', [probs, start, seqLen, lastAxis]), v]); // [B, H, S, S] @ [B, H, S, D]
    const fromPast = b.op('MatMul', [b.op('Slice', [probs, seqLen, end, lastAxis]), a.pastValue]); // [B, H, S, P] @ [B, H, P, D]
    // [B, H, S, D] -> [B, S, H, D] -> [B, S, E]
    return b.op('Reshape', [b.op('Transpose', [b.op('Add', [fromNew, fromPast])], { perm: [0, 2, 1, 3] }), b.constant([0, 0, H * D], i64)]);
  };
}

/**
 * GPT-2 as an FP32 ONNX graph with a KV cache: Hugging Face optimum's decoder inputs, and as
 * outputs the logits and this call's keys and values (graph-io.ts); the quantizer (quantize/) makes the integer copy of its linear layers and embedding. Shapes in the
 * comments: B batch, S this call's positions, P past positions in the cache, T = P + S, E n_embd,
 * H heads, D = E / H, V vocabulary.
 */
export function buildGpt2Graph(config: Gpt2Config, w: Gpt2Weights, options: GraphOptions = {}): onnx.ModelProto {
  const { n_layer, n_embd: E, n_head: H, vocab_size: V } = config;
  const D = E / H;
  if (w.blocks.length !== n_layer) throw new Error(`weights have ${w.blocks.length} blocks, config says n_layer=${n_layer}`);
  const b = new GraphBuilder();
  const init = (name: string, t: FloatTensor) => b.initializer(name, { dims: t.dims, dataType: DT.FLOAT, data: t.data });

  const ids = b.input(GRAPH_IO.inputIds, i64, ['batch_size', 'sequence_length']); // [B, S]
  const mask = b.input(GRAPH_IO.attentionMask, i64, ['batch_size', 'total_sequence_length']); // [B, T]
  const pos = b.input(GRAPH_IO.positionIds, i64, ['batch_size', 'sequence_length']); // [B, S]
  const attention = pastApartAttention(b, ids, mask, H, D);

  const layerNorm = (x: string, p: LayerNormWeights, name: string) => // [..., E] -> [..., E]
    b.op('LayerNormalization', [x, init(`${name}.weight`, p.weight), init(`${name}.bias`, p.bias)], {
      axis: -1,
      epsilon: { float: config.layer_norm_epsilon },
    });
  // [B, S, in] -> [B, S, out], weight [in, out]. The input's shape is declared (value_info): the
  // quantizer gives activations with the same rows one zero point (quantize/declared-rows.ts).
  const linear = (x: string, p: LinearWeights, name: string) =>
    b.op('Add', [b.op('MatMul', [b.declare(x, DT.FLOAT, ['batch_size', 'sequence_length', p.weight.dims[0] as number]), init(`${name}.weight`, p.weight)]), init(`${name}.bias`, p.bias)]);

  // Logits first, as optimum orders its outputs; then this call's keys and values per layer.
  const last = (options.logits ?? 'last') === 'last';
  b.output(GRAPH_IO.logits, DT.FLOAT, ['batch_size', last ? 1 : 'sequence_length', V]); // [B, 1 or S, V]

  const wte = init('transformer.wte.weight', w.wte); // [V, E]
  let x = b.op('Add', [b.op('Gather', [wte, ids]), b.op('Gather', [init('transformer.wpe.weight', w.wpe), pos])]); // [B, S, E]
  w.blocks.forEach((blk, l) => {
    const p = `transformer.h.${l}`;
    const qkv = linear(layerNorm(x, blk.ln1, `${p}.ln_1`), blk.attn.qkv, `${p}.attn.c_attn`); // [B, S, 3E]
    const [q, k, v] = b.opN('Split', [qkv, b.constant([E, E, E], i64)], 3, { axis: -1 }) as [string, string, string]; // 3 × [B, S, E]
    const pastKey = b.input(GRAPH_IO.pastKey(l), DT.FLOAT, ['batch_size', H, 'past_sequence_length', D]); // [B, H, P, D]
    const pastValue = b.input(GRAPH_IO.pastValue(l), DT.FLOAT, ['batch_size', H, 'past_sequence_length', D]); // [B, H, P, D]
    b.output(GRAPH_IO.presentNewKey(l), DT.FLOAT, ['batch_size', H, 'sequence_length', D]); // [B, H, S, D]
    b.output(GRAPH_IO.presentNewValue(l), DT.FLOAT, ['batch_size', H, 'sequence_length', D]); // [B, H, S, D]
    x = b.op('Add', [x, linear(attention({ q, k, v, pastKey, pastValue, layer: l }), blk.attn.proj, `${p}.attn.c_proj`)]); // [B, S, E]
    const hidden = b.op('Gelu', [linear(layerNorm(x, blk.ln2, `${p}.ln_2`), blk.mlp.fc, `${p}.mlp.c_fc`)], { approximate: 'tanh' }); // [B, S, 4E]
    x = b.op('Add', [x, linear(hidden, blk.mlp.proj, `${p}.mlp.c_proj`)]); // [B, S, E]
  });

  // The head is a Gemm against [V, E] with transB so a tied head shares wte's initializer.
  const head = w.lmHead === undefined ? wte : init('lm_head.weight', w.lmHead); // [V, E]
  const normed = layerNorm(x, w.lnF, 'transformer.ln_f'); // [B, S, E]
  const kept = last ? b.op('Slice', [normed, b.constant([-1], i64), b.constant([Number.MAX_SAFE_INTEGER], i64), b.constant([1], i64)]) : normed; // [B, 1 or S, E]
  const final = b.op('Reshape', [kept, b.constant([-1, E], i64)]); // [B·(1 or S), E]
  const logitsShape = b.op('Concat', [b.op('Shape', [kept], { end: 2 }), b.constant([V], i64)], { axis: 0 }); // [B, 1 or S, V]
  b.op('Reshape', [b.op('Gemm', [final, head], { transB: 1 }), logitsShape], {}, '', GRAPH_IO.logits); // [B·(1 or S), V] -> [B, 1 or S, V]

  return modelProto(b.graph('gpt2'), { 'gpt2-int8.config': JSON.stringify(config) });
}
