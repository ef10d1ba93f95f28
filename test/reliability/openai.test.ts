/**
 * /v1 end to end with the official `openai` client: the built gateway and a built worker
 * (processes, private redis-server, the tiny INT8 artifact; cluster.ts). What only the real model
 * can show: seed reproducibility, streamed chunks reassembling to the non-streamed text, stop
 * strings, and echo scoring equal to log-probabilities computed here, directly from the INT8 session
 * (everyPositionLogits, shared/runtime/src/gpt2-session.ts). Shapes and refusals are covered on
 * in-memory parts in services/gateway/test/openai.test.ts.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { everyPositionLogits } from '@gpt2-int8/runtime/gpt2-session';
import { encode, GPT2_VOCAB_SIZE } from '@gpt2-int8/runtime/tokenizer';
import { loadModel, type LoadedModel } from '../../services/worker/src/model-loader.js';
import { tinyArtifact } from '../support/tiny-artifact.js';
import { type Cluster, startCluster } from './cluster.js';

let c: Cluster;
let client: OpenAI;
let model: string;
let int8: LoadedModel;

beforeAll(async () => {
  c = await startCluster({ queueName: 'openai', workers: ['openai-w'] });
  client = new OpenAI({ baseURL: `${c.base}/v1`, apiKey: 'unused', maxRetries: 0 });
  model = (await client.models.list()).data[0]?.id ?? '';
  int8 = await loadModel(tinyArtifact(), await readManifest(tinyArtifact()), 'model.int8.onnx', { threads: 1 });
});
afterAll(async () => {
  const codes = await c?.stop();
  expect(codes).toEqual({ gateway: 0, 'openai-w': 0 });
});

/** log P(token t | tokens before it) for t ≥ 1, from the INT8 session's logits, here in the test. */
async function directLogprobs(tokens: number[]): Promise<number[]> {
  const V = int8.session.config.vocab_size;
  const usable = Math.min(V, GPT2_VOCAB_SIZE);
  const all = await everyPositionLogits(int8.session, tokens);
  return tokens.slice(1).map((id, i) => {
    const row = all.subarray(i * V, i * V + usable);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    return (row[id] as number) - max - Math.log(sum);
  });
}

describe('/v1 on the real model', () => {
  it('serves the artifact under its source name', async () => {
    expect(model).toMatch(/-int8$/);
    const m = await client.models.retrieve(model);
    expect(m.id).toBe(model);
  });

  it('same seed, same text; seed+1 is what choice 1 of n = 2 gets', async () => {
    const base = { model, prompt: 'The quick brown fox', max_tokens: 8, temperature: 1, seed: 42 };
    const a = await client.completions.create(base);
    const b = await client.completions.create(base);
    expect(a.choices[0]?.text).toBe(b.choices[0]?.text);
    const two = await client.completions.create({ ...base, n: 2 });
    const next = await client.completions.create({ ...base, seed: 43 });
    expect(two.choices.map((x) => x.text)).toEqual([a.choices[0]?.text, next.choices[0]?.text]);
    expect(a.usage).toMatchObject({ prompt_tokens: encode('The quick brown fox').length });
  });

  it('a list of prompts: choices prompt-major, each equal to that prompt alone', async () => {
    const prompts = ['Once upon a time', 'The capital of France is'];
    const both = await client.completions.create({ model, prompt: prompts, max_tokens: 5, temperature: 0, n: 2 });
    expect(both.choices.map((x) => x.index)).toEqual([0, 1, 2, 3]);
    for (const [p, prompt] of prompts.entries()) {
      const alone = await client.completions.create({ model, prompt, max_tokens: 5, temperature: 0 });
      expect(both.choices[p * 2]?.text).toBe(alone.choices[0]?.text);
      expect(both.choices[p * 2 + 1]?.text).toBe(alone.choices[0]?.text);
    }
  });

  it('streamed chunks reassemble to the non-streamed text for the same seed', async () => {
    const body = { model, prompt: 'In a hole in the ground', max_tokens: 12, temperature: 0.9, seed: 5 };
    const whole = await client.completions.create(body);
    let text = '';
    for await (const chunk of await client.completions.create({ ...body, stream: true })) text += chunk.choices.map((x) => x.text).join('');
    expect(text).toBe(whole.choices[0]?.text);

    const chat = { model, messages: [{ role: 'user' as const, content: 'Hello there' }], max_tokens: 10, temperature: 0.9, seed: 5 };
    const reply = await client.chat.completions.create(chat);
    let content = '';
    for await (const chunk of await client.chat.completions.create({ ...chat, stream: true })) content += chunk.choices.map((x) => x.delta.content ?? '').join('');
    expect(content).toBe(reply.choices[0]?.message.content);
  });

  it('stops before a stop string', async () => {
    const free = await client.completions.create({ model, prompt: 'Hello', max_tokens: 12, temperature: 0 });
    const text = free.choices[0]?.text ?? '';
    // The first two characters after the start that are not blank and appear there first: a stop
    // string the greedy text (the same every run) is sure to meet.
    const at = [...text].findIndex((_, i) => i >= 1 && text.slice(i, i + 2).trim().length === 2 && text.indexOf(text.slice(i, i + 2)) === i);
    expect(at, `a usable stop string in ${JSON.stringify(text)}`).toBeGreaterThan(0);
    const stop = text.slice(at, at + 2);
    const cut = await client.completions.create({ model, prompt: 'Hello', max_tokens: 12, temperature: 0, stop });
    expect(cut.choices[0]?.text).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0]?.finish_reason).toBe('stop');
  });

  it('echo scoring (max_tokens 0) equals the log-probabilities computed directly from the INT8 session', async () => {
    const prompt = 'The sky is blue and the grass is green.';
    const ids = encode(prompt);
    const r = await client.completions.create({ model, prompt, max_tokens: 0, echo: true, logprobs: 3 });
    const lp = r.choices[0]?.logprobs;
    expect(r.choices[0]?.text).toBe(prompt);
    expect(lp?.token_logprobs?.[0]).toBeNull();
    expect(lp?.top_logprobs?.[0]).toBeNull();
    expect(lp?.token_logprobs).toHaveLength(ids.length);
    const direct = await directLogprobs(ids);
    for (const [i, x] of direct.entries()) expect(lp?.token_logprobs?.[i + 1]).toBeCloseTo(x, 3);
    // The top alternatives are the most likely: none above the first one listed.
    for (const m of lp?.top_logprobs?.slice(1) ?? []) expect(Object.keys(m ?? {})).toHaveLength(3);
    expect(r.usage).toEqual({ prompt_tokens: ids.length, completion_tokens: 0, total_tokens: ids.length });
  });

  it("a greedy completion's logprobs equal the scores of prompt + completion, and the sampled token is the top one", async () => {
    const prompt = 'Numbers: one two three';
    const r = await client.completions.create({ model, prompt: encode(prompt), max_tokens: 6, temperature: 0, logprobs: 1 });
    const lp = r.choices[0]?.logprobs;
    const completionIds = encode(r.choices[0]?.text ?? '');
    const direct = await directLogprobs([...encode(prompt), ...completionIds]);
    const tail = direct.slice(direct.length - (lp?.token_logprobs?.length ?? 0));
    // Token texts re-encode to the same ids only when no character is split; the tiny model's text is ASCII-ish enough to compare.
    if (completionIds.length === lp?.tokens?.length) for (const [i, x] of tail.entries()) expect(lp?.token_logprobs?.[i]).toBeCloseTo(x, 3);
    for (const [i, token] of (lp?.tokens ?? []).entries()) {
      const top = lp?.top_logprobs?.[i] ?? {};
      expect(Object.values(top)[0]).toBeCloseTo(lp?.token_logprobs?.[i] as number, 5);
      if (token !== '') expect(Object.keys(top)).toContain(token);
    }
  });

  it('chat: an assistant reply in chat.completion form, with logprobs', async () => {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 4, logprobs: true, top_logprobs: 2, seed: 1 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]?.message.role).toBe('assistant');
    expect(r.choices[0]?.logprobs?.content?.every((t) => t.top_logprobs.length === 2)).toBe(true);
    expect(r.usage?.prompt_tokens).toBe(encode('User: Hi\nAssistant:').length);
  });
});
