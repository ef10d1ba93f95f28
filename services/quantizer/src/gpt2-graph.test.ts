import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { everyPositionLogits, Gpt2Session, lastPositionLogits, leftPad } from '@gpt2-int8/runtime/gpt2-session';
import { GRAPH_IO } from '@gpt2-int8/runtime/graph-io';
import { buildGpt2Graph } from './gpt2-graph.js';
import { encodeModel } from '@gpt2-int8/runtime/onnx-graph-builder';
import { emptyCache, referenceForward } from './reference-gpt2.test-util.js';
import { randomWeights } from './random-weights.test-util.js';

const config: Gpt2Config = { n_layer: 2, n_embd: 32, n_head: 4, n_positions: 64, vocab_size: 97, layer_norm_epsilon: 1e-5 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe.each([
  ['tied head, every position', false, 'all'],
  ['separate lm_head, every position', true, 'all'],
  ['tied head, last position', false, 'last'],
] as const)('FP32 graph vs reference forward pass (%s)', (_name, untied, logits) => {
  const weights = randomWeights(config, 7, { untiedHead: untied, std: 0.2 });
  const model = encodeModel(buildGpt2Graph(config, weights, { logits }));
  const tokens = [5, 17, 3, 96, 42, 0, 11];

  it('matches on a whole-prompt pass', async () => {
    const session = await Gpt2Session.load(model, config);
    const out = await session.step(leftPad([tokens], 0), session.emptyCache(1));
    const ref = referenceForward(config, weights, tokens, emptyCache(config.n_layer));
    expect(out.positions).toBe(logits === 'all' ? tokens.length : 1);
    // Fetching the logits alone (what a predict does) gives the same values.
    const alone = await session.logits(leftPad([tokens], 0));
    expect([alone.batch, alone.seq, alone.positions]).toEqual([out.batch, out.seq, out.positions]);
    expect(alone.logits).toEqual(out.logits);
    // The graph's positions are the last `out.positions` of the prompt.
    ref.slice(-out.positions).forEach((want, s) => {
      expect(maxAbsDiff(out.logits.subarray(s * config.vocab_size, (s + 1) * config.vocab_size), want)).toBeLessThanOrEqual(1e-4);
    });
    await session.release();
  });

  it('matches token by token through the KV cache', async () => {
    const session = await Gpt2Session.load(model, config);
    let cache = session.emptyCache(1);
    const refCache = emptyCache(config.n_layer);
    for (let t = 0; t < tokens.length; t++) {
      const out = await session.step({ inputIds: [[tokens[t] as number]], attentionMask: [Array(t + 1).fill(1)] }, cache);
      cache = out.cache;
      const [ref] = referenceForward(config, weights, [tokens[t] as number], refCache);
      expect(maxAbsDiff(out.logits, ref as Float64Array)).toBeLessThanOrEqual(1e-4);
    }
    await session.release();
  });

  it('gives this call\'s keys and values as present_new.*, and no present.*', async () => {
    const session = await Gpt2Session.load(model, config);
    const first = await session.step(leftPad([tokens.slice(0, 4)], 0), session.emptyCache(1));
    const more = tokens.slice(4);
    const { outputs: out } = await session.run({ inputIds: [more], attentionMask: [Array<number>(tokens.length).fill(1)] }, first.cache, session.cacheOutputNames());
    const refCache = emptyCache(config.n_layer);
    referenceForward(config, weights, tokens, refCache);
    const D = config.n_embd / config.n_head;
    for (let l = 0; l < config.n_layer; l++) {
      for (const [fresh, ref] of [[GRAPH_IO.presentNewKey(l), refCache.keys[l]], [GRAPH_IO.presentNewValue(l), refCache.values[l]]] as const) {
        const got = out[fresh] as ort.Tensor;
        expect(got.dims).toEqual([1, config.n_head, more.length, D]);
        // [1, H, S, D] against the reference's [position][E], E = H × D
        const want = Array.from({ length: config.n_head }, (_, h) => more.map((_t, s) => Array.from(ref?.[4 + s] as ArrayLike<number>).slice(h * D, (h + 1) * D)).flat()).flat();
        expect(maxAbsDiff(got.data as Float32Array, want)).toBeLessThanOrEqual(1e-4);
      }
    }
    expect(session.cacheOutputs).toBe('new');
    expect(session.session.outputNames.some((n) => n.startsWith('present.'))).toBe(false);
    await session.release();
  });

  it('gives a left-padded row the same logits as the row alone', async () => {
    const session = await Gpt2Session.load(model, config);
    const short = [9, 8, 7];
    const alone = lastPositionLogits(await session.step(leftPad([short], 0), session.emptyCache(1)), config.vocab_size)[0] as Float32Array;
    const batched = lastPositionLogits(await session.step(leftPad([tokens, short], 0), session.emptyCache(2)), config.vocab_size)[1] as Float32Array;
    expect(maxAbsDiff(alone, batched)).toBeLessThanOrEqual(1e-4);
    await session.release();
  });
});

describe('everyPositionLogits', () => {
  it('gives every position through the cache when the graph scores only the last one', async () => {
    const weights = randomWeights(config, 5);
    const all = await Gpt2Session.load(encodeModel(buildGpt2Graph(config, weights, { logits: 'all' })), config);
    const last = await Gpt2Session.load(encodeModel(buildGpt2Graph(config, weights, { logits: 'last' })), config);
    const tokens = [3, 14, 15, 92, 65, 35];
    const a = await everyPositionLogits(all, tokens);
    const b = await everyPositionLogits(last, tokens);
    expect(b.length).toBe(tokens.length * config.vocab_size);
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4);
  });
});
