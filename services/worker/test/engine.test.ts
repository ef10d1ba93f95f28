import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GeneratedToken, Prediction } from '@gpt2-int8/contract/api';
import { type Gpt2Session, lastPositionLogits, leftPad } from '@gpt2-int8/runtime/gpt2-session';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { decode, encode, EOS_TOKEN_ID } from '@gpt2-int8/runtime/tokenizer';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';
import { ClientError } from '../src/client-error.js';
import { COMPARE_RUNS, InferenceEngine } from '../src/engine.js';
import { type LoadedModel, loadModel } from '../src/model-loader.js';
import { nextTokenLogits } from '@gpt2-int8/runtime/next-token-logits';
import { argmax } from '@gpt2-int8/runtime/logits';

const PROMPTS = ['Hello world', 'The sky is', 'I love', 'Artificial intelligence is', 'Python is a popular', 'A much longer prompt, with several more tokens than the others have'];

let model: LoadedModel;
let engine: InferenceEngine;
/** The same model with continuous batching on (scheduler.ts). */
let batching: InferenceEngine;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

beforeAll(async () => {
  const manifest = await readManifest(tinyArtifact());
  model = await loadModel(tinyArtifact(), manifest, 'model.int8.onnx', { threads: 1 });
  engine = new InferenceEngine(model.session, {
    maxBatch: 8,
    batchWindowMs: 2,
    loadFp32: async () => (await loadModel(tinyArtifact(), manifest, 'model.fp32.onnx', { threads: 1 })).session,
  });
  // Its own session: releasing one engine releases its session.
  const own = await loadModel(tinyArtifact(), manifest, 'model.int8.onnx', { threads: 1 });
  batching = new InferenceEngine(own.session, { maxBatch: 8, batchWindowMs: 2, continuousBatching: { maxActive: 32, maxStepTokens: 64 } });
});
afterAll(async () => {
  await engine.release();
  await batching.release();
});

describe('predict', () => {
  it('gives the greedy next token and a top-k with probabilities', async () => {
    const r = await engine.predict(encode('The sky is'), 5);
    expect(r.prediction.top_k).toHaveLength(5);
    expect(r.prediction.token_id).toBe(r.prediction.top_k[0]?.token_id);
    const probs = r.prediction.top_k.map((t) => t.prob);
    expect([...probs].sort((a, b) => b - a)).toEqual(probs);
    expect(probs.every((p) => p > 0 && p < 1)).toBe(true);
    expect(r.inferenceMs).toBeGreaterThan(0);
  });

  it('batched prompts get the same answers as alone (same top-1, logits within tolerance)', async () => {
    const tokens = PROMPTS.map((p) => encode(p));
    const alone: Float32Array[] = [];
    for (const t of tokens) alone.push((await nextTokenLogits(model.session, [t]))[0] as Float32Array);
    // Through the engine, one at a time and concurrently (the batcher runs them together, each with
    // its own k): the same candidates in the same order, probabilities within tolerance.
    const ks = tokens.map((_, i) => 1 + (i % 5));
    const single: Prediction[] = [];
    for (const [i, t] of tokens.entries()) single.push((await engine.predict(t, ks[i] as number)).prediction);
    const before = engine.batchSizes('predict').length;
    const together = await Promise.all(tokens.map((t, i) => engine.predict(t, ks[i] as number)));
    expect(Math.max(...engine.batchSizes('predict').slice(before))).toBeGreaterThan(1);
    together.forEach((r, i) => {
      const s1 = single[i] as Prediction;
      expect(r.prediction.token_id).toBe(argmax(alone[i] as Float32Array));
      expect(r.prediction.top_k.map((c) => c.token_id)).toEqual(s1.top_k.map((c) => c.token_id));
      expect(r.prediction.top_k).toHaveLength(ks[i] as number);
      r.prediction.top_k.forEach((c, j) => expect(Math.abs(c.prob - (s1.top_k[j]?.prob ?? NaN))).toBeLessThan(1e-5));
    });
    // And directly as one padded batch.
    const batch = await nextTokenLogits(model.session, tokens);
    batch.forEach((l, i) => expect(maxAbsDiff(l, alone[i] as Float32Array)).toBeLessThan(1e-4));
  });

  it('refuses a prompt longer than the context, naming both numbers', async () => {
    const n = model.manifest.config.n_positions;
    const tokens = Array.from({ length: n + 1 }, () => 464);
    const err = await engine.predict(tokens, 5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe('PROMPT_TOO_LONG');
    expect((err as Error).message).toBe(`the prompt is ${n + 1} tokens; the model's context is ${n} tokens`);
    // Exactly the context is fine.
    await expect(engine.predict(tokens.slice(1), 5)).resolves.toBeDefined();
  });
});

describe.each([
  ['alone', () => engine],
  ['continuous batching', () => batching],
])('generate (%s)', (_, engineOf) => {
  const greedy = { maxNewTokens: 12, temperature: 0, topK: 0, topP: 1, seed: 0, stop: [] };
  let engine: InferenceEngine;
  beforeAll(() => {
    engine = engineOf();
  });

  it('through the KV cache, gives the tokens that recomputing the whole prefix gives', async () => {
    const prompt = encode('Artificial intelligence is');
    const g = await engine.generate(prompt, greedy);
    const ids: number[] = [];
    let seq = [...prompt];
    for (let i = 0; i < 12; i++) {
      const out = await model.session.step(leftPad([seq], EOS_TOKEN_ID), model.session.emptyCache(1));
      const id = argmax((lastPositionLogits(out, model.session.config.vocab_size)[0] as Float32Array).subarray(0, 50257));
      if (id === EOS_TOKEN_ID) break;
      ids.push(id);
      seq = [...seq, id];
    }
    expect(g.tokens.map((t) => t.token_id)).toEqual(ids);
    expect(g.text).toBe(decode(ids));
    expect(g.finishReason).toBe(ids.length === 12 ? 'length' : 'eos');
    expect(g.perTokenMs).toHaveLength(ids.length + (ids.length === 12 ? 0 : 1));
  });

  it('streams each token in order as it is produced; the pieces add up to the text', async () => {
    const streamed: GeneratedToken[] = [];
    const g = await engine.generate(encode('The sky is'), { ...greedy, maxNewTokens: 20 }, (e) => streamed.push(e));
    expect(streamed).toEqual(g.tokens);
    expect(streamed.map((e) => e.index)).toEqual(streamed.map((_, i) => i));
    expect(streamed.map((e) => e.token).join('')).toBe(g.text);
  });

  it('samples reproducibly with a seed', async () => {
    const sampled = { maxNewTokens: 16, temperature: 1, topK: 40, topP: 0.95, seed: 7, stop: [] };
    const a = await engine.generate(encode('I love'), sampled);
    const b = await engine.generate(encode('I love'), sampled);
    const c = await engine.generate(encode('I love'), { ...sampled, seed: 8 });
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('stops at a stop string and trims it from the text', async () => {
    const full = await engine.generate(encode('Hello world'), { ...greedy, maxNewTokens: 10 });
    // Use a piece of what greedy decoding produces as the stop string.
    const stop = full.text.slice(3, 6);
    if (stop.length === 0) return; // a model that ends at once leaves nothing to stop on
    const g = await engine.generate(encode('Hello world'), { ...greedy, maxNewTokens: 10, stop: [stop] });
    expect(g.finishReason).toBe('stop');
    expect(g.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
    expect(g.tokens.map((t) => t.token).join('')).toBe(g.text);
  });

  it("stops at the model's context", async () => {
    const n = model.manifest.config.n_positions;
    const prompt = Array.from({ length: n - 2 }, (_, i) => 464 + (i % 50));
    const g = await engine.generate(prompt, { ...greedy, maxNewTokens: 50 });
    // Positions n-2 and n-1 take two generated tokens; the third is predicted from a full context.
    if (g.finishReason !== 'eos') {
      expect(g.finishReason).toBe('context');
      expect(g.perTokenMs).toHaveLength(3);
    }
    await expect(engine.generate(Array.from({ length: n + 5 }, () => 464), greedy)).rejects.toThrow(`the prompt is ${n + 5} tokens; the model's context is ${n} tokens`);
  });
});

describe('compare', () => {
  it('runs FP32 and INT8 side by side', async () => {
    const r = await engine.compare(encode('The sky is'), 5);
    expect(engine.fp32Loaded).toBe(true);
    expect(r.int8.top_k).toHaveLength(5);
    expect(r.fp32.top_k).toHaveLength(5);
    expect(r.same).toBe(r.int8.token_id === r.fp32.token_id);
    expect(r.int8.inference_ms).toBeGreaterThan(0);
    expect(r.fp32.inference_ms).toBeGreaterThan(0);
    expect(r.speedup).toBeCloseTo(r.fp32.inference_ms / r.int8.inference_ms, 6);
    // Medians of COMPARE_RUNS runs each: at least half the runs of each model took their median or more.
    expect(r.runs).toBe(COMPARE_RUNS);
    expect(r.modelMs).toBeGreaterThanOrEqual(Math.ceil(COMPARE_RUNS / 2) * (r.int8.inference_ms + r.fp32.inference_ms) - 1e-6);
  });

  it('alternates the models over its runs, and times the FP32 load on its own, once', async () => {
    const manifest = await readManifest(tinyArtifact());
    const calls: string[] = [];
    /** The session, with each model run recorded under `name`. */
    const recorded = (session: Gpt2Session, name: string): Gpt2Session =>
      new Proxy(session, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target) as unknown;
          if (prop === 'logits') return (...args: Parameters<Gpt2Session['logits']>) => (calls.push(name), target.logits(...args));
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const fp32 = (await loadModel(tinyArtifact(), manifest, 'model.fp32.onnx', { threads: 1 })).session;
    const cold = new InferenceEngine(recorded(model.session, 'int8'), {
      maxBatch: 1,
      batchWindowMs: 0,
      // A slow load, to tell it apart from inference.
      loadFp32: async () => (await new Promise((resolve) => setTimeout(resolve, 200)), recorded(fp32, 'fp32')),
    });
    try {
      const first = await cold.compare(encode('The sky is'), 3);
      expect(calls).toEqual(['fp32', 'int8', 'int8', 'fp32', 'fp32', 'int8', 'int8', 'fp32', 'fp32', 'int8']);
      expect(first.loadMs).toBeGreaterThanOrEqual(190);
      // Not in the model time: ten runs on the tiny model take far less than the load.
      expect(first.modelMs).toBeLessThan(first.loadMs as number);
      const second = await cold.compare(encode('The sky is'), 3);
      expect(second.loadMs).toBeUndefined();
      expect(second.int8.token_id).toBe(first.int8.token_id);
      expect(second.fp32.top_k).toEqual(first.fp32.top_k);
    } finally {
      await fp32.release();
    }
  });

  it('is refused with COMPARE_DISABLED when switched off', async () => {
    const off = new InferenceEngine(model.session, { maxBatch: 1, batchWindowMs: 0 });
    await expect(off.compare(encode('x'), 5)).rejects.toMatchObject({ code: 'COMPARE_DISABLED' });
  });
});

describe('log-probabilities', () => {
  const logSoftmaxAt = (logits: Float32Array, id: number) => {
    const max = Math.max(...logits);
    const sum = logits.reduce((s, x) => s + Math.exp(x - max), 0);
    return (logits[id] as number) - max - Math.log(sum);
  };

  it("scores a prompt's own tokens: each one's logprob is the predict path's distribution over the prefix before it, the first has none", async () => {
    const tokens = encode('The quick brown fox jumps over');
    const r = await engine.score(tokens, 3);
    expect(r.tokens.map((t) => t.token_id)).toEqual(tokens);
    expect(r.tokens[0]).toMatchObject({ logprob: null, top_logprobs: null });
    for (let t = 1; t < tokens.length; t++) {
      const [prefix] = await nextTokenLogits(model.session, [tokens.slice(0, t)]);
      const scored = r.tokens[t];
      // The KV-cache path and the one-pass path agree to float32 rounding.
      expect(scored?.logprob).toBeCloseTo(logSoftmaxAt(prefix as Float32Array, tokens[t] as number), 3);
      expect(scored?.top_logprobs?.[0]?.token_id).toBe(argmax(prefix as Float32Array));
      expect(scored?.top_logprobs).toHaveLength(3);
    }
  });

  it("gives each generated token its logprob before temperature, and a greedy token is its step's most likely one", async () => {
    const tokens = encode('Once upon a time');
    const greedy = await engine.generate(tokens, { maxNewTokens: 6, temperature: 0, topK: 0, topP: 1, seed: 1, stop: [], logprobs: 2 });
    for (const t of greedy.tokens) {
      expect(t.top_logprobs).toHaveLength(2);
      expect(t.top_logprobs?.[0]?.token_id).toBe(t.token_id);
      expect(t.logprob).toBe(t.top_logprobs?.[0]?.logprob);
    }
    // The same tokens scored as a prompt get the same log-probabilities.
    const scored = await engine.score([...tokens, ...greedy.tokens.map((t) => t.token_id)], 0);
    greedy.tokens.forEach((t, i) => expect(scored.tokens[tokens.length + i]?.logprob).toBeCloseTo(t.logprob as number, 3));
    // Sampling at a high temperature reports the model's own distribution, not the flattened one.
    const hot = await engine.generate(tokens, { maxNewTokens: 6, temperature: 3, topK: 0, topP: 1, seed: 7, stop: [], logprobs: 0 });
    const rescored = await engine.score([...tokens, ...hot.tokens.map((t) => t.token_id)], 0);
    hot.tokens.forEach((t, i) => expect(rescored.tokens[tokens.length + i]?.logprob).toBeCloseTo(t.logprob as number, 3));
    const plain = await engine.generate(tokens, { maxNewTokens: 6, temperature: 0, topK: 0, topP: 1, seed: 1, stop: [] });
    expect(plain.tokens.every((t) => t.logprob === undefined && t.top_logprobs === undefined)).toBe(true);
    expect(plain.tokens.map((t) => t.token_id)).toEqual(greedy.tokens.map((t) => t.token_id));
  });

  it('refuses token ids outside the vocabulary', async () => {
    await expect(engine.score([1, 2, 99_999], 0)).rejects.toThrow(/token id 99999 is outside the vocabulary/);
  });
});
