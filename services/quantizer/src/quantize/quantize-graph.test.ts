import { describe, expect, it } from 'vitest';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { Gpt2Session, lastPositionLogits, leftPad } from '@gpt2-int8/runtime/gpt2-session';
import { buildGpt2Graph } from '../gpt2-graph.js';
import * as ort from 'onnxruntime-node';
import { decodeModel, DT, encodeModel, GraphBuilder, modelProto } from '@gpt2-int8/runtime/onnx-graph-builder';
import { randomWeights } from '../random-weights.test-util.js';
import { withoutDeclaredShapes } from './declared-rows.js';
import { quantizeModel } from './quantize-graph.js';
import { int4Quantization, int8BlockQuantization, int8Quantization } from './quantization.js';

const config: Gpt2Config = { n_layer: 2, n_embd: 64, n_head: 4, n_positions: 64, vocab_size: 503, layer_norm_epsilon: 1e-5 };
const weights = randomWeights(config, 11);
const fp32 = encodeModel(buildGpt2Graph(config, weights));

function quantized(granularity: 'per-channel' | 'per-tensor' = 'per-channel') {
  const { model, stats } = quantizeModel(decodeModel(fp32), int8Quantization(granularity));
  return { bytes: encodeModel(model), model, stats };
}

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0, na = 0, nb = 0;
  a.forEach((v, i) => { dot += v * (b[i] as number); na += v * v; nb += (b[i] as number) ** 2; });
  return dot / Math.sqrt(na * nb);
};
const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > (a[best] as number) ? i : best), 0);
const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

const prompts = [[1, 2, 3, 4, 5], [400, 17], [9, 9, 9, 9, 9, 9, 9, 9, 9], [250], [33, 44, 55, 66], [100, 200, 300, 400, 500, 1, 2], [7, 70], [12, 13, 14]];

describe('quantizeModel', () => {
  it('replaces every linear layer and the embedding with integer ops', () => {
    const { model, stats } = quantized();
    // 4 linears per block + the tied head, and the token embedding (the position table stays FP32).
    expect(stats.linear).toBe(4 * config.n_layer + 1);
    expect(stats.embedding).toBe(1);
    const ops = model.graph?.node?.map((n) => n.opType) ?? [];
    expect(ops.filter((o) => o === 'MatMulIntegerToFloat')).toHaveLength(4 * config.n_layer + 1);
    // A second QuantizeLinear for the widening linears' second pass: each MLP's first and the head.
    expect(ops.filter((o) => o === 'QuantizeLinear')).toHaveLength(4 * config.n_layer + 1 + config.n_layer + 1);
    expect(ops).not.toContain('Gemm');
    const floatMatrices = model.graph?.initializer?.filter((t) => t.dataType === DT.FLOAT && (t.dims?.length ?? 0) === 2) ?? [];
    expect(floatMatrices.map((t) => t.name)).toEqual(['transformer.wpe.weight']);
  });

  it('returns a new model and leaves the one it was given as it was', () => {
    const input = decodeModel(fp32);
    const { model } = quantizeModel(input, int8Quantization('per-channel'));
    expect(Buffer.from(encodeModel(input)).equals(Buffer.from(fp32))).toBe(true);
    expect(model.graph?.node?.some((n) => n.opType === 'MatMulIntegerToFloat')).toBe(true);
  });

  it('quantizes per row with Div, Round and Cast and uses MatMulInteger below opset 21, with the same logits', async () => {
    const older = decodeModel(fp32);
    older.opsetImport = older.opsetImport.map((o) => (o.domain ? o : { ...o, version: 20 }));
    const { model } = quantizeModel(older, int8Quantization('per-channel'));
    const ops = model.graph?.node?.map((n) => n.opType) ?? [];
    expect(ops.filter((o) => o === 'MatMulInteger')).toHaveLength(4 * config.n_layer + 1);
    expect(ops).not.toContain('QuantizeLinear');
    const a = await Gpt2Session.load(encodeModel(model), config);
    const b = await Gpt2Session.load(quantized().bytes, config);
    for (const p of prompts.slice(0, 3)) {
      const x = lastPositionLogits(await a.step(leftPad([p], 0), a.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      const y = lastPositionLogits(await b.step(leftPad([p], 0), b.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      expect(maxAbsDiff(x, y)).toBeLessThanOrEqual(1e-4 * maxAbs(x));
    }
  });

  it('gives the activations of the same rows one zero point, with the same logits as one per activation', async () => {
    const shared = quantized().model;
    // The layers' linears read [B, S, *] (declared by gpt2-graph.ts); the head reads [B·1, E].
    expect(shared.graph?.node?.filter((n) => n.opType === 'Expand')).toHaveLength(2);
    expect(shared.graph?.valueInfo ?? []).toHaveLength(0);
    const undeclared = quantizeModel(withoutDeclaredShapes(decodeModel(fp32)), int8Quantization('per-channel')).model;
    expect(undeclared.graph?.node?.filter((n) => n.opType === 'Expand')).toHaveLength(4 * config.n_layer + 1);
    const a = await Gpt2Session.load(encodeModel(shared), config);
    const b = await Gpt2Session.load(encodeModel(undeclared), config);
    const batch = leftPad(prompts, 0);
    const x = lastPositionLogits(await a.step(batch, a.emptyCache(prompts.length)), config.vocab_size);
    const y = lastPositionLogits(await b.step(batch, b.emptyCache(prompts.length)), config.vocab_size);
    const bytes = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);
    x.forEach((row, i) => expect(bytes(row).equals(bytes(y[i] as Float32Array))).toBe(true));
  });

  it('stores the tied embedding and head once', () => {
    const { model } = quantized();
    const int8 = model.graph?.initializer?.filter((t) => t.dataType === DT.INT8).map((t) => t.name) ?? [];
    expect(int8.filter((n) => n?.startsWith('transformer.wte'))).toEqual(['transformer.wte.weight_quantized']);
  });

  it.each(['per-channel', 'per-tensor'] as const)('agrees with FP32 on random weights (%s)', async (granularity) => {
    const f = await Gpt2Session.load(fp32, config);
    const q = await Gpt2Session.load(quantized(granularity).bytes, config);
    for (const p of prompts) {
      const a = lastPositionLogits(await f.step(leftPad([p], 0), f.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      const c = lastPositionLogits(await q.step(leftPad([p], 0), q.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      expect(cosine(a, c)).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('answers a prompt the same alone and inside a batch of 8 different prompts', async () => {
    const q = await Gpt2Session.load(quantized().bytes, config);
    const batched = lastPositionLogits(await q.step(leftPad(prompts, 0), q.emptyCache(prompts.length)), config.vocab_size);
    for (const [i, p] of prompts.entries()) {
      const alone = lastPositionLogits(await q.step(leftPad([p], 0), q.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      const inBatch = batched[i] as Float32Array;
      expect(argmax(inBatch)).toBe(argmax(alone));
      expect(maxAbsDiff(alone, inBatch)).toBeLessThanOrEqual(1e-2 * maxAbs(alone));
    }
  });

  it('answers the same through the KV cache as in one pass', async () => {
    const q = await Gpt2Session.load(quantized().bytes, config);
    for (const p of prompts) {
      const whole = lastPositionLogits(await q.step(leftPad([p], 0), q.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      let cache = q.emptyCache(1);
      let last: Float32Array = new Float32Array();
      for (let t = 0; t < p.length; t++) {
        const out = await q.step({ inputIds: [[p[t] as number]], attentionMask: [Array(t + 1).fill(1)] }, cache);
        cache = out.cache;
        last = out.logits;
      }
      expect(argmax(last)).toBe(argmax(whole));
      expect(maxAbsDiff(whole, last)).toBeLessThanOrEqual(1e-2 * maxAbs(whole));
    }
  });
});

describe('quantizeModel, a token table with outlier columns', () => {
  const [V, E] = [300, 64];
  const planted = [5, 30, 41];
  const uniform = (n: number, seed: number) => {
    let s = seed;
    return Float32Array.from({ length: n }, () => {
      s = (s * 16807) % 2147483647;
      return (s / 2147483647 - 0.5) * 0.2;
    });
  };
  /** A lookup of `table` and a tied head over it reading a given x: as a Gemm (2-D x) or a MatMul of a Transpose (3-D x). */
  const model = (data: Float32Array, head: 'Gemm' | 'MatMul') => {
    const b = new GraphBuilder();
    const ids = b.input('ids', DT.INT64, [1, 4]);
    const x = b.input('x', DT.FLOAT, head === 'Gemm' ? [6, E] : [2, 3, E]);
    const table = b.initializer('table', { dims: [V, E], dataType: DT.FLOAT, data });
    b.op('Gather', [table, ids], {}, '', 'looked');
    if (head === 'Gemm') b.op('Gemm', [x, table], { transB: 1 }, '', 'logits');
    else b.op('MatMul', [x, b.op('Transpose', [table], { perm: [1, 0] })], {}, '', 'logits');
    b.output('looked', DT.FLOAT, [1, 4, E]);
    b.output('logits', DT.FLOAT, head === 'Gemm' ? [6, V] : [2, 3, V]);
    return modelProto(b.graph('table'));
  };
  const feeds = (head: 'Gemm' | 'MatMul') => ({
    ids: new ort.Tensor('int64', BigInt64Array.from([3n, 77n, 150n, 299n]), [1, 4]),
    x: new ort.Tensor('float32', uniform(6 * E, 7).map((v) => v * 10), head === 'Gemm' ? [6, E] : [2, 3, E]),
  });
  /** The largest error of each output of the INT8 graph against the FP32 one. */
  const errors = async (data: Float32Array, head: 'Gemm' | 'MatMul') => {
    const run = async (m: ReturnType<typeof model>) => (await ort.InferenceSession.create(encodeModel(m))).run(feeds(head));
    const want = await run(model(data, head));
    const quantized = quantizeModel(model(data, head), int8Quantization('per-channel')).model;
    const got = await run(quantized);
    const err = (name: string) => maxAbsDiff(want[name]?.data as Float32Array, got[name]?.data as Float32Array);
    return { looked: err('looked'), logits: err('logits'), model: quantized, got, want };
  };
  const plain = uniform(V * E, 3);
  const withOutliers = plain.map((v, i) => (planted.includes(i % E) ? v * 12 : v));

  it.each(['Gemm', 'MatMul'] as const)('keeps them FP32 for the lookup and the tied head (%s): the errors stay those of a table without them', async (head) => {
    const base = await errors(plain, head);
    const outliers = await errors(withOutliers, head);
    const kept = outliers.model.graph?.initializer?.find((t) => t.name === 'table_kept_columns');
    expect(kept?.dims?.map(Number)).toEqual([V, planted.length]);
    expect(base.model.graph?.initializer?.some((t) => t.name === 'table_kept_columns')).toBe(false);
    // A row's int8 scale set by 12× columns would make the other columns' error about 12× larger.
    expect(outliers.looked).toBeLessThanOrEqual(1.5 * base.looked);
    expect(outliers.logits).toBeLessThanOrEqual(1.5 * base.logits);
    // The looked-up rows carry the kept columns exactly.
    const got = outliers.got.looked?.data as Float32Array;
    const want = outliers.want.looked?.data as Float32Array;
    for (let i = 0; i < got.length; i++) if (planted.includes(i % E)) expect(got[i]).toBe(want[i]);
  });
});

describe('quantizeModel, int4 weights', () => {
  const int4 = () => {
    const { model, stats } = quantizeModel(decodeModel(fp32), int4Quantization(32));
    return { bytes: encodeModel(model), model, stats };
  };

  it('uses MatMulNBits for every linear layer and GatherBlockQuantized for the embedding, one packed table for both', () => {
    const { model, stats } = int4();
    expect(stats).toEqual({ linear: 4 * config.n_layer + 1, embedding: 1 });
    const ops = model.graph?.node?.map((n) => n.opType) ?? [];
    expect(ops.filter((o) => o === 'MatMulNBits')).toHaveLength(4 * config.n_layer + 1);
    expect(ops.filter((o) => o === 'GatherBlockQuantized')).toHaveLength(1);
    const packed = model.graph?.initializer?.filter((t) => t.name?.startsWith('transformer.wte')).map((t) => t.name);
    expect(packed).toEqual(['transformer.wte.weight_int4', 'transformer.wte.weight_int4_scale']);
  });

  it('stays close to FP32 and answers the same alone and in a batch', async () => {
    const f = await Gpt2Session.load(fp32, config);
    const q = await Gpt2Session.load(int4().bytes, config);
    const batched = lastPositionLogits(await q.step(leftPad(prompts, 0), q.emptyCache(prompts.length)), config.vocab_size);
    for (const [i, p] of prompts.entries()) {
      const a = lastPositionLogits(await f.step(leftPad([p], 0), f.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      const alone = lastPositionLogits(await q.step(leftPad([p], 0), q.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      expect(cosine(a, alone)).toBeGreaterThanOrEqual(0.95);
      expect(argmax(batched[i] as Float32Array)).toBe(argmax(alone));
      expect(maxAbsDiff(alone, batched[i] as Float32Array)).toBeLessThanOrEqual(1e-2 * maxAbs(alone));
    }
  });
});

describe('quantizeModel, int8 weights in blocks (MatMulNBits, bits 8)', () => {
  const blocks = () => {
    const { model, stats } = quantizeModel(decodeModel(fp32), int8BlockQuantization(16));
    return { bytes: encodeModel(model), model, stats };
  };

  it('uses 8-bit MatMulNBits for every linear layer and GatherBlockQuantized for the embedding, one table for both', () => {
    const { model, stats } = blocks();
    expect(stats).toEqual({ linear: 4 * config.n_layer + 1, embedding: 1 });
    const nodes = model.graph?.node ?? [];
    const nbits = nodes.filter((n) => n.opType === 'MatMulNBits');
    expect(nbits).toHaveLength(4 * config.n_layer + 1);
    expect(nbits.every((n) => n.attribute?.find((a) => a.name === 'bits')?.i === 8)).toBe(true);
    expect(nodes.filter((n) => n.opType === 'GatherBlockQuantized')).toHaveLength(1);
    expect(model.graph?.initializer?.filter((t) => t.name?.startsWith('transformer.wte')).map((t) => t.name)).toEqual(['transformer.wte.weight_int8', 'transformer.wte.weight_int8_scale']);
  });

  it('stays close to FP32 and answers the same alone, in a batch and through the KV cache', async () => {
    const f = await Gpt2Session.load(fp32, config);
    const q = await Gpt2Session.load(blocks().bytes, config);
    const batched = lastPositionLogits(await q.step(leftPad(prompts, 0), q.emptyCache(prompts.length)), config.vocab_size);
    for (const [i, p] of prompts.entries()) {
      const a = lastPositionLogits(await f.step(leftPad([p], 0), f.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      const alone = lastPositionLogits(await q.step(leftPad([p], 0), q.emptyCache(1)), config.vocab_size)[0] as Float32Array;
      expect(cosine(a, alone)).toBeGreaterThanOrEqual(0.99);
      expect(argmax(batched[i] as Float32Array)).toBe(argmax(alone));
      expect(maxAbsDiff(alone, batched[i] as Float32Array)).toBeLessThanOrEqual(1e-2 * maxAbs(alone));
      let cache = q.emptyCache(1);
      let last: Float32Array = new Float32Array();
      for (let t = 0; t < p.length; t++) {
        const out = await q.step({ inputIds: [[p[t] as number]], attentionMask: [Array(t + 1).fill(1)] }, cache);
        cache = out.cache;
        last = out.logits;
      }
      expect(argmax(last)).toBe(argmax(alone));
      expect(maxAbsDiff(alone, last)).toBeLessThanOrEqual(1e-2 * maxAbs(alone));
    }
  });
});

describe('quantizeModel, two activation passes', () => {
  const K = 32;
  let seed = 5;
  const next = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647 - 0.5;
  };
  /**
   * [K, N] weights that int8 per-channel holds exactly (integer codes, a ±127 in every column), so
   * the only rounding left is the activations'.
   */
  const exactWeights = (n: number) => {
    const codes = Float32Array.from({ length: K * n }, (_, i) => (i < n ? 127 : Math.round(254 * next())));
    return codes.map((c, i) => (c * (1 + (i % n))) / 1270);
  };
  const widening = exactWeights(4 * K);
  const square = exactWeights(K);
  /** A widening linear (K → 4K) and a square one (K → K) reading the same x: MatMuls of a 3-D x, or Gemms of a 2-D one. */
  const model = (op: 'MatMul' | 'Gemm', opset: number) => {
    const b = new GraphBuilder();
    const x = b.input('x', DT.FLOAT, op === 'Gemm' ? [6, K] : [2, 3, K]);
    for (const [name, data, n] of [['wide', widening, 4 * K], ['square', square, K]] as const) {
      b.op(op, [x, b.initializer(`${name}.weight`, { dims: [K, n], dataType: DT.FLOAT, data })], {}, '', name);
      b.output(name, DT.FLOAT, op === 'Gemm' ? [6, n] : [2, 3, n]);
    }
    const m = modelProto(b.graph('two-linears'));
    m.opsetImport = m.opsetImport.map((o) => (o.domain ? o : { ...o, version: opset }));
    return m;
  };
  // Mostly small values and one large channel, so that one int8 step a row is coarse for the others.
  const x = Float32Array.from({ length: 6 * K }, (_, i) => next() * (i % K === 3 ? 40 : 1));
  const errors = async (op: 'MatMul' | 'Gemm', opset: number, passes: 1 | 2) => {
    const run = async (m: ReturnType<typeof model>) => (await ort.InferenceSession.create(encodeModel(m))).run({ x: new ort.Tensor('float32', x, op === 'Gemm' ? [6, K] : [2, 3, K]) });
    const want = await run(model(op, opset));
    const quantized = quantizeModel(model(op, opset), int8Quantization('per-channel', { activationPasses: passes })).model;
    const got = await run(quantized);
    const err = (name: string) => maxAbsDiff(want[name]?.data as Float32Array, got[name]?.data as Float32Array);
    return { wide: err('wide'), square: err('square'), ops: quantized.graph?.node?.map((n) => n.opType) ?? [] };
  };

  it.each([['MatMul', 21], ['Gemm', 21], ['MatMul', 20]] as const)('quantizes a widening linear\'s activation twice and a square one\'s once (%s, opset %i)', async (op, opset) => {
    const once = await errors(op, opset, 1);
    const twice = await errors(op, opset, 2);
    // The second pass rounds the first's error at 1/254 of its step.
    expect(once.wide).toBeGreaterThan(1e-3);
    expect(twice.wide).toBeLessThan(once.wide / 50);
    expect(twice.square).toBe(once.square);
    expect(twice.ops.filter((o) => o === 'Split')).toHaveLength(1);
    expect(once.ops).not.toContain('Split');
  });
});
