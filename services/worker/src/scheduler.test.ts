import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GeneratedToken } from '@gpt2-int8/contract/api';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';
import { type GenerateParams, type Generation, GenerationCancelled, generate } from './generate.js';
import { type LoadedModel, loadModel } from './model-loader.js';
import { GenerationScheduler, type StepReport } from './scheduler.js';

let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel(tinyArtifact(), await readManifest(tinyArtifact()), 'model.int8.onnx', { threads: 1 });
});
afterAll(async () => model.session.release());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const promptOf = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 200 + ((i * 131 + seed * 977) % 40000));

/** 32 requests: prompts of 1 to 100 tokens (tiny: a 128-token context, which some reach), greedy and seeded sampling, 1 to 40 new tokens, some with logprobs and stop strings. */
const REQUESTS = Array.from({ length: 32 }, (_, i) => ({
  prompt: promptOf(1 + ((i * 47) % 100), i),
  params: {
    maxNewTokens: 1 + ((i * 13) % 40),
    temperature: i % 2 === 0 ? 0 : 0.9,
    topK: i % 4 === 1 ? 40 : 0,
    topP: i % 4 === 3 ? 0.9 : 1,
    seed: 1000 + i,
    stop: i % 5 === 0 ? ['e '] : [],
    logprobs: i % 3 === 0 ? 3 : undefined,
  } satisfies GenerateParams,
  /** When it arrives, ms after the first. */
  delayMs: (i * 7) % 60,
}));

const ids = (g: Generation) => g.tokens.map((t) => t.token_id);

describe('continuous batching', () => {
  it('gives each of 32 generations joining and leaving at different times exactly what it gets alone', async () => {
    const alone: Generation[] = [];
    for (const r of REQUESTS) alone.push(await generate(model.session, r.prompt, r.params));
    const steps: StepReport[] = [];
    const scheduler = new GenerationScheduler(model.session, { maxActive: 32, maxStepTokens: 64, onStep: (s) => steps.push(s) });
    const streamed = REQUESTS.map(() => [] as GeneratedToken[]);
    const together = await Promise.all(REQUESTS.map(async (r, i) => {
      await sleep(r.delayMs);
      return scheduler.generate(r.prompt, r.params, (e) => streamed[i]?.push(e));
    }));
    REQUESTS.forEach((_, i) => {
      const [a, b] = [alone[i] as Generation, together[i] as Generation];
      expect(ids(b), `request ${i}`).toEqual(ids(a));
      // Log-probabilities too, to the bit: the same logits.
      expect(b.tokens, `request ${i}`).toEqual(a.tokens);
      expect(b.finishReason).toBe(a.finishReason);
      expect(b.text).toBe(a.text);
      expect(streamed[i]).toEqual(b.tokens);
    });
    // They did run together.
    expect(Math.max(...steps.map((s) => s.rows))).toBeGreaterThan(8);
    expect(steps.every((s) => s.promptTokens <= 64)).toBe(true);
    expect(scheduler.active).toBe(0);
  });

  it('keeps at most maxActive sequences decoding; the rest wait their turn', async () => {
    const steps: StepReport[] = [];
    const scheduler = new GenerationScheduler(model.session, { maxActive: 3, maxStepTokens: 64, onStep: (s) => steps.push(s) });
    const params = { maxNewTokens: 8, temperature: 0, topK: 0, topP: 1, seed: 0, stop: [] };
    const gs = await Promise.all(Array.from({ length: 7 }, (_, i) => scheduler.generate(promptOf(5 + i, i), params)));
    expect(Math.max(...steps.map((s) => s.rows))).toBe(3);
    for (let i = 0; i < 7; i++) expect(ids(gs[i] as Generation)).toEqual(ids(await generate(model.session, promptOf(5 + i, i), params)));
  });

  it('stops a cancelled generation at the next step and frees its row', async () => {
    const steps: StepReport[] = [];
    const scheduler = new GenerationScheduler(model.session, { maxActive: 8, maxStepTokens: 64, onStep: (s) => steps.push(s) });
    const long = { maxNewTokens: 256, temperature: 0, topK: 0, topP: 1, seed: 0, stop: [] };
    const other = scheduler.generate(promptOf(10, 1), { ...long, maxNewTokens: 40 });
    const controller = new AbortController();
    let tokens = 0;
    let stepsAtFirstToken = 0;
    const dropped = scheduler.generate(promptOf(20, 2), long, () => {
      tokens++;
      if (tokens === 1) {
        stepsAtFirstToken = steps.length;
        controller.abort();
      }
    }, controller.signal);
    await expect(dropped).rejects.toBeInstanceOf(GenerationCancelled);
    const stepsAtCancel = steps.length;
    expect(tokens).toBeLessThanOrEqual(2);
    expect(stepsAtCancel - stepsAtFirstToken).toBeLessThanOrEqual(1);
    expect(scheduler.active).toBeLessThanOrEqual(1);
    // The other one goes on alone, unchanged.
    expect(ids(await other)).toEqual(ids(await generate(model.session, promptOf(10, 1), { ...long, maxNewTokens: 40 })));
    expect(steps.slice(stepsAtCancel + 1).every((s) => s.rows === 1)).toBe(true);
  });

  it('takes a generation submitted as the previous one resolves (a client in closed loop)', async () => {
    const scheduler = new GenerationScheduler(model.session, { maxActive: 8, maxStepTokens: 64 });
    const params = { maxNewTokens: 3, temperature: 0, topK: 0, topP: 1, seed: 0, stop: [] };
    let done = 0;
    // Each next request is sent in the microtasks after the previous one resolves, while the loop is winding down.
    await Promise.all(Array.from({ length: 2 }, async (_, c) => {
      for (let k = 0; k < 5; k++) {
        await scheduler.generate(promptOf(3 + k, c), params);
        done++;
      }
    }));
    expect(done).toBe(10);
  }, 20_000);

  it('refuses at once a generation whose signal is already aborted', async () => {
    const scheduler = new GenerationScheduler(model.session, { maxActive: 8, maxStepTokens: 64 });
    const c = new AbortController();
    c.abort();
    await expect(scheduler.generate([1, 2, 3], { maxNewTokens: 4, temperature: 0, topK: 0, topP: 1, seed: 0, stop: [] }, undefined, c.signal)).rejects.toBeInstanceOf(GenerationCancelled);
  });
});
