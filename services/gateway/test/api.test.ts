/**
 * The gateway's queue path over real HTTP, a private real redis-server, and a fake worker that is a
 * real BullMQ Worker on the same queue (test/support/fake-worker.ts): answers, streams, the worker's
 * errors, both reply paths, job ids, metrics read from the queue. The rest of the HTTP surface runs
 * without Redis in app.test.ts.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompareResponse, ErrorBody, GenerateResponse, PredictResponse } from '@gpt2-int8/contract/api';
import { checkJobData, type JobData } from '@gpt2-int8/contract/job';
import { startRedis, type PrivateRedis } from '../../../test/support/redis-server.js';
import { FAKE_TOKENS, startFakeWorker, writeFakeArtifact, type FakeWorker } from '../../../test/support/fake-worker.js';
import { eventually, postJson, readSse, startGateway, type TestGateway } from './helpers.js';

let redis: PrivateRedis;
let gw: TestGateway;
let worker: FakeWorker;

beforeAll(async () => {
  redis = await startRedis();
  worker = await startFakeWorker({ redisUrl: redis.url, queueName: 'api', tokenDelayMs: 40 });
  gw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'api', MODEL_DIR: writeFakeArtifact() });
});

afterAll(async () => {
  await gw?.close();
  await worker?.close();
  await redis?.dispose();
});

const jobFor = (prompt: string): JobData | undefined => worker.jobs.find((j) => j.prompt === prompt);

/** Every value (or list of values) is a whole number of hundredths of a millisecond. */
function expectMsRounded(timings: Record<string, number | number[]>): void {
  for (const [name, value] of Object.entries(timings)) {
    for (const v of Array.isArray(value) ? value : [value]) expect(Math.round(v * 100) / 100, `${name} = ${v}`).toBe(v);
  }
}

describe('inference routes', () => {
  it('POST /api/predict answers in the documented shape, with gateway-measured total time', async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'The sky is', top_k: 3 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as PredictResponse;
    expect(body).toMatchObject({ prompt: 'The sky is', token: ' blue', token_id: 1000, worker: worker.id, model: { synthetic: true } });
    expect(body.top_k).toHaveLength(3);
    expect(body.top_k[0]).toEqual({ token: ' blue', token_id: 1000, prob: expect.any(Number) });
    expect(Object.keys(body.timings_ms).sort()).toEqual(['inference', 'queue', 'tokenize', 'total']);
    // The fake worker says 3.5; the gateway replaces it with what it measured.
    expect(body.timings_ms.total).not.toBe(3.5);
    expect(body.timings_ms.total).toBeGreaterThan(0);
    expect(body).not.toHaveProperty('kind');
    // The worker's unrounded figures (3.1415926, 0.204917) and the gateway's total, to 0.01 ms.
    expect(body.timings_ms).toMatchObject({ inference: 3.14, tokenize: 0.2 });
    expectMsRounded(body.timings_ms);
  });

  it('answers every timing to 0.01 ms: predict, compare, generate (JSON and the stream\'s done event)', async () => {
    const texts = [
      await (await postJson(`${gw.url}/api/predict`, { prompt: 'Round me' })).text(),
      await (await postJson(`${gw.url}/api/compare`, { prompt: 'Round me too' })).text(),
      await (await postJson(`${gw.url}/api/generate`, { prompt: 'Round these', max_new_tokens: 3 })).text(),
    ];
    const events = await readSse(await postJson(`${gw.url}/api/generate`, { prompt: 'Round the stream', max_new_tokens: 3, stream: true }));
    texts.push(JSON.stringify(events.at(-1)!.data));
    for (const text of texts) {
      const body = JSON.parse(text) as { timings_ms: Record<string, number | number[]>; int8?: { inference_ms: number }; fp32?: { inference_ms: number } };
      expectMsRounded(body.timings_ms);
      // No long tails anywhere in the raw text of the timings.
      expect(JSON.stringify(body.timings_ms)).not.toMatch(/\.\d{3,}/);
      if (body.int8) expectMsRounded({ int8: body.int8.inference_ms, fp32: body.fp32!.inference_ms });
    }
    // The fake's per-token times are measured (unrounded) pauses.
    expect((JSON.parse(texts[2]!) as { timings_ms: { per_token: number[] } }).timings_ms.per_token).toHaveLength(3);
    // speedup is a ratio: three decimals (the fake's 7.4 / 3.1 = 2.3870967…).
    expect((JSON.parse(texts[1]!) as { speedup: number }).speedup).toBe(2.387);
  });

  it('fills every default into the job, which passes the shared job schema', async () => {
    await postJson(`${gw.url}/api/predict`, { prompt: 'Defaults please' });
    const predict = jobFor('Defaults please');
    expect(predict).toMatchObject({ kind: 'predict', top_k: 5 });
    expect(await checkJobData(predict)).toBeUndefined();

    await postJson(`${gw.url}/api/generate`, { prompt: 'Generate defaults' });
    const gen = jobFor('Generate defaults');
    expect(gen).toMatchObject({ kind: 'generate', max_new_tokens: 32, temperature: 0, top_k: 0, top_p: 1, stop: [], stream: false, seed: expect.any(Number) });
    expect(await checkJobData(gen)).toBeUndefined();
  });

  it('POST /api/compare answers FP32 and INT8 side by side', async () => {
    const res = await postJson(`${gw.url}/api/compare`, { prompt: 'Compare me' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as CompareResponse;
    expect(body).toMatchObject({ prompt: 'Compare me', same: true, worker: worker.id });
    expect(body.int8).toMatchObject({ token: ' blue', inference_ms: 3.1 });
    expect(body.fp32).toMatchObject({ token: ' blue', inference_ms: 7.4 });
    expect(body.speedup).toBeCloseTo(7.4 / 3.1);
    expect(body.int8.top_k).toHaveLength(5);
    expect(body.runs).toBe(5);
    expect(body.timings_ms).not.toHaveProperty('load');
    // The FP32 load a worker's first compare waits for reaches the client apart from inference.
    const cold = (await (await postJson(`${gw.url}/api/compare`, { prompt: 'COLD compare' })).json()) as CompareResponse;
    expect(cold.timings_ms).toMatchObject({ load: 452.5, inference: 52.5 });
  });

  it('POST /api/generate answers JSON without stream', async () => {
    const res = await postJson(`${gw.url}/api/generate`, { prompt: 'Once', max_new_tokens: 4, temperature: 0.8, top_k: 40, top_p: 0.9, seed: 7 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as GenerateResponse;
    expect(body).toMatchObject({ prompt: 'Once', text: FAKE_TOKENS.slice(0, 4).join(''), finish_reason: 'length' });
    expect(body.tokens.map((t: { index: number }) => t.index)).toEqual([0, 1, 2, 3]);
    expect(body.timings_ms.per_token).toHaveLength(4);
    expect(jobFor('Once')).toMatchObject({ temperature: 0.8, top_k: 40, top_p: 0.9, seed: 7, max_new_tokens: 4 });
  });

  it('POST /api/generate with stream:true sends token events in order as they are produced, then done', async () => {
    const res = await postJson(`${gw.url}/api/generate`, { prompt: 'Stream it', max_new_tokens: 6, stream: true }, { headers: { 'x-request-id': 'stream-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toBe('stream-1');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const events = await readSse(res);
    expect(events.map((e) => e.event)).toEqual(['token', 'token', 'token', 'token', 'token', 'token', 'done']);
    const tokens = events.filter((e) => e.event === 'token').map((e) => e.data as { index: number; token: string; token_id: number; text: string });
    expect(tokens.map((t) => t.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(tokens.map((t) => t.token)).toEqual(FAKE_TOKENS.slice(0, 6));
    expect(tokens[2]!.text).toBe(FAKE_TOKENS.slice(0, 3).join(''));
    const done = events.at(-1)!.data as { text: string; tokens: unknown[]; timings_ms: { total: number } };
    expect(done.text).toBe(FAKE_TOKENS.slice(0, 6).join(''));
    expect(done.tokens).toHaveLength(6);
    expect(done).not.toHaveProperty('kind');
    // Streamed, not buffered: the first token came in an earlier network read than the final event.
    expect(events[0]!.chunk).toBeLessThan(events.at(-1)!.chunk);
  });

  it("streamed token events carry each token's logprob and alternatives when asked for, as the final result does", async () => {
    const events = await readSse(await postJson(`${gw.url}/api/generate`, { prompt: 'Stream logprobs', max_new_tokens: 3, stream: true, logprobs: 2 }));
    const tokens = events.filter((e) => e.event === 'token').map((e) => e.data as { logprob?: number; top_logprobs?: unknown[] });
    const done = events.at(-1)!.data as { tokens: { logprob: number; top_logprobs: unknown[] }[] };
    expect(tokens).toHaveLength(3);
    expect(tokens.map((t) => [t.logprob, t.top_logprobs])).toEqual(done.tokens.map((t) => [t.logprob, t.top_logprobs]));
    expect(tokens[0]!.top_logprobs).toHaveLength(2);
  });

  it('a stream is timed out per token, not as a whole: one longer than REQUEST_TIMEOUT_MS completes while tokens keep coming', async () => {
    // 12 tokens 40 ms apart (~480 ms) against a 250 ms limit.
    const strict = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'api', MODEL_DIR: writeFakeArtifact(), REQUEST_TIMEOUT_MS: '250' });
    try {
      const events = await readSse(await postJson(`${strict.url}/api/generate`, { prompt: 'Long stream', max_new_tokens: 12, stream: true }));
      expect(events.map((e) => e.event)).toEqual([...Array<string>(12).fill('token'), 'done']);
    } finally {
      await strict.close();
    }
  });

  it('a stream asked for with Connection: close ends with the connection closed (a client reading to EOF would hang)', async () => {
    const { port } = new URL(gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    const body = JSON.stringify({ prompt: 'Close after', max_new_tokens: 2, stream: true });
    socket.write(`POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    socket.destroy();
    expect(received).toMatch(/event: done/);
    expect(received.toLowerCase()).toMatch(/\r\nconnection: close\r\n/);
    expect(closed).toBe(true);
  });

  it('a streamed generate that fails before its first token is a plain JSON error with its status', async () => {
    const res = await postJson(`${gw.url}/api/generate`, { prompt: 'TOO_LONG prompt', stream: true });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: 'PROMPT_TOO_LONG', message: expect.stringContaining('1024') } });
  });

  it("maps the worker's client errors to their status (PROMPT_TOO_LONG → 413)", async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'TOO_LONG prompt' });
    expect(res.status).toBe(413);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('PROMPT_TOO_LONG');
    expect(body.error.message).toMatch(/1024/);
  });

  it('a worker fault is a 502 with a generic message: no paths, no Redis details', async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'CRASH now' });
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('WORKER_FAILED');
    for (const secret of ['/srv', 'hunter2', 'redis://', 'ENOENT', 'at ']) expect(text).not.toContain(secret);
  });
});

describe('replies on the reply channel alone (the BullMQ jobs never finish)', () => {
  let channelGw: TestGateway;
  let channelWorker: FakeWorker;
  beforeAll(async () => {
    channelWorker = await startFakeWorker({ redisUrl: redis.url, queueName: 'api-channel', replies: 'channel' });
    channelGw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'api-channel', MODEL_DIR: writeFakeArtifact(), REQUEST_TIMEOUT_MS: '20000' });
  });
  afterAll(async () => {
    await channelGw?.close();
    await channelWorker?.close();
  });

  it('predict, a streamed generate and a client error are answered from the channel', async () => {
    const predict = await postJson(`${channelGw.url}/api/predict`, { prompt: 'The sky is', top_k: 2 });
    expect(predict.status).toBe(200);
    expect(await predict.json()).toMatchObject({ token: ' blue', top_k: [{ token: ' blue' }, { token: ' clear' }], worker: channelWorker.id });

    const stream = await postJson(`${channelGw.url}/api/generate`, { prompt: 'Stream it', max_new_tokens: 3, stream: true });
    const events = await readSse(stream);
    expect(events.map((e) => e.event)).toEqual(['token', 'token', 'token', 'done']);
    expect(events.slice(0, 3).map((e) => (e.data as { token: string }).token)).toEqual(FAKE_TOKENS.slice(0, 3));

    const refused = await postJson(`${channelGw.url}/api/predict`, { prompt: 'TOO_LONG prompt' });
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as ErrorBody).error.code).toBe('PROMPT_TOO_LONG');
  });
});

describe('request ids', () => {
  it('uses generated job ids: two requests with the same client id both get their own answer', async () => {
    const [a, b] = await Promise.all(
      ['Same id one', 'Same id two'].map((prompt) => postJson(`${gw.url}/api/predict`, { prompt }, { headers: { 'x-request-id': 'dup' } }).then((r) => r.json() as Promise<PredictResponse>)),
    );
    expect(a?.prompt).toBe('Same id one');
    expect(b?.prompt).toBe('Same id two');
  });
});

describe('metrics', () => {
  it('GET /metrics exposes requests, latency, queue depth, live workers and per-stage timings', async () => {
    await postJson(`${gw.url}/api/predict`, { prompt: 'For the metrics' });
    // A refused request is counted too (under its own status).
    await postJson(`${gw.url}/api/predict`, { prompt: '' });
    await readSse(await postJson(`${gw.url}/api/generate`, { prompt: 'Streamed metrics', max_new_tokens: 2, stream: true }));
    const res = await fetch(`${gw.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/gateway_http_requests_total\{method="POST",route="\/api\/predict",status="200"\} \d+/);
    expect(text).toMatch(/gateway_http_requests_total\{method="POST",route="\/api\/generate",status="200"\} \d+/);
    expect(text).toMatch(/gateway_http_requests_total\{method="POST",route="\/api\/predict",status="400"\} \d+/);
    expect(text).toMatch(/gateway_http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/api\/predict",status="200"\}/);
    expect(text).toMatch(/gateway_queue_depth 0/);
    expect(text).toMatch(/gateway_workers\{state="ready"\} 1/);
    expect(text).toMatch(/gateway_job_stage_seconds_count\{kind="predict",stage="inference"\} \d+/);
    expect(text).toMatch(/gateway_job_stage_seconds_count\{kind="generate",stage="queue"\} \d+/);
    // Generations' time to first token, inter-token gaps and tokens/s, from the results' per-token times.
    expect(text).toMatch(/gateway_generation_time_to_first_token_seconds_count [1-9]\d*/);
    expect(text).toMatch(/gateway_generation_inter_token_seconds_count [1-9]\d*/);
    expect(text).toMatch(/gateway_generation_tokens_per_second_count [1-9]\d*/);
    expect(text).toMatch(/gateway_redis_up 1/);
    // Unmatched URLs share one label value.
    await fetch(`${gw.url}/no/such/${Math.random()}`);
    expect(await (await fetch(`${gw.url}/metrics`)).text()).toMatch(/route="unmatched",status="404"/);
  });
});

describe('queue hygiene', () => {
  it('keeps no waiting jobs behind after answered requests', async () => {
    await eventually(async () => (await gw.app.inject({ method: 'GET', url: '/metrics' })).body.includes('gateway_queue_depth 0'), 'an empty queue');
  });
});
