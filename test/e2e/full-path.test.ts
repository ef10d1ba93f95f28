/**
 * The whole path with every real part: HTTP → gateway process → a private redis-server → two
 * worker processes holding the tiny INT8 artifact → back, for each job kind, streaming included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompareResponse, GenerateResponse, PredictResponse } from '@gpt2-int8/contract/api';
import { encode } from '@gpt2-int8/runtime/tokenizer';
import { type PrivateRedis, startRedis } from '../support/redis-server.js';
import { parseSse } from '../support/sse.js';
import { freePort, type ServiceProcess, startService, waitFor200 } from '../support/services.js';
import { tinyArtifact } from '../support/tiny-artifact.js';

let redis: PrivateRedis;
let base = '';
const services: ServiceProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = { REDIS_URL: redis.url, MODEL_DIR: tinyArtifact(), QUEUE_NAME: 'e2e' };
  services.push(startService('gateway', { ...env, PORT: String(port), HOST: '127.0.0.1' }));
  services.push(startService('worker', { ...env, WORKER_ID: 'e2e-worker-1' }));
  services.push(startService('worker', { ...env, WORKER_ID: 'e2e-worker-2' }));
  await waitFor200(`${base}/readyz`);
});

afterAll(async () => {
  const codes = await Promise.all(services.map((s) => s.stop('SIGTERM')));
  await redis?.dispose();
  expect(codes).toEqual([0, 0, 0]);
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('gateway → Redis → worker → gateway', () => {
  it('predicts the next token with top-k, timings, worker and model, echoing the request id', async () => {
    const res = await post('/api/predict', { prompt: 'The sky is', top_k: 3 }, { 'x-request-id': 'e2e-predict-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('e2e-predict-1');
    const body = (await res.json()) as PredictResponse;
    expect(body.prompt).toBe('The sky is');
    expect(body.top_k).toHaveLength(3);
    expect(body.top_k[0]?.token_id).toBe(body.token_id);
    expect(body.top_k[0]?.prob).toBeGreaterThanOrEqual(body.top_k[1]?.prob as number);
    expect(body.worker).toMatch(/^e2e-worker-[12]$/);
    expect(body.model).toMatchObject({ synthetic: true });
    expect(body.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const k of ['queue', 'tokenize', 'inference', 'total'] as const) expect(body.timings_ms[k]).toBeGreaterThanOrEqual(0);
    expect(body.timings_ms.total).toBeGreaterThanOrEqual(body.timings_ms.inference);
  });

  it('gives the same answer to the same prompt on any worker', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => post('/api/predict', { prompt: 'Hello world' }).then((r) => r.json() as Promise<PredictResponse>)));
    expect(new Set(answers.map((a) => a.token_id)).size).toBe(1);
  });

  it('generates greedily and reproducibly with a seed', async () => {
    const greedy = (await (await post('/api/generate', { prompt: 'Once upon a time', max_new_tokens: 6 })).json()) as GenerateResponse;
    expect(greedy.tokens).toHaveLength(6);
    expect(greedy.finish_reason).toBe('length');
    expect(greedy.timings_ms.per_token).toHaveLength(6);
    const sampled = { prompt: 'Once upon a time', max_new_tokens: 6, temperature: 1, top_k: 40, seed: 7 };
    const a = (await (await post('/api/generate', sampled)).json()) as GenerateResponse;
    const b = (await (await post('/api/generate', sampled)).json()) as GenerateResponse;
    expect(a.text).toBe(b.text);
  });

  it('streams generated tokens as Server-Sent Events, then the full result', async () => {
    const res = await post('/api/generate', { prompt: 'The weather today is', max_new_tokens: 5, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = parseSse(await res.text());
    const tokens = events.filter((e) => e.event === 'token');
    const done = events.at(-1);
    expect(tokens.map((t) => t.data.index)).toEqual([0, 1, 2, 3, 4]);
    expect(done?.event).toBe('done');
    const result = done?.data as unknown as GenerateResponse;
    expect(result.tokens.map((t) => t.token_id)).toEqual(tokens.map((t) => t.data.token_id));
  });

  it('compares FP32 and INT8 side by side', async () => {
    const res = await post('/api/compare', { prompt: 'Artificial intelligence is' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as CompareResponse;
    expect(body.fp32.top_k.length).toBeGreaterThan(0);
    expect(body.int8.top_k.length).toBeGreaterThan(0);
    expect(body.same).toBe(body.fp32.token_id === body.int8.token_id);
    expect(body.speedup).toBeCloseTo(body.fp32.inference_ms / body.int8.inference_ms, 2);
  });

  it('refuses a prompt longer than the model context with 413 and a message naming both lengths', async () => {
    const prompt = 'word '.repeat(300);
    const res = await post('/api/predict', { prompt });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('PROMPT_TOO_LONG');
    expect(body.error.message).toContain(String(encode(prompt).length));
    expect(body.error.message).toMatch(/128/);
  });

  it('describes the model from the manifest and the validation report', async () => {
    const res = await fetch(`${base}/api/model`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(JSON.stringify(body)).toContain('synthetic');
    expect(JSON.stringify(body)).toContain('top1_agreement');
  });
});
