/**
 * The gateway's HTTP API over real HTTP, a private real redis-server, and a fake worker that is a
 * real BullMQ Worker on the same queue (test/support/fake-worker.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkJobData, type JobData } from '@gpt2-int8/contract/job';
import { startRedis, type PrivateRedis } from '../../../test/support/redis-server.js';
import { FAKE_TOKENS, startFakeWorker, writeFakeArtifact, type FakeWorker } from '../../../test/support/fake-worker.js';
import { eventually, postJson, readSse, startGateway, type TestGateway } from './helpers.js';

let redis: PrivateRedis;
let gw: TestGateway;
let worker: FakeWorker;
let webDir: string;

beforeAll(async () => {
  redis = await startRedis();
  webDir = mkdtempSync(join(tmpdir(), 'gpt2-int8-web-'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>gpt2-int8</title><p>page</p>');
  worker = await startFakeWorker({ redisUrl: redis.url, queueName: 'api', tokenDelayMs: 40 });
  gw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'api', MODEL_DIR: writeFakeArtifact(), WEB_DIR: webDir });
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
    const body = await res.json();
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
    const body = await res.json();
    expect(body).toMatchObject({ prompt: 'Compare me', same: true, worker: worker.id });
    expect(body.int8).toMatchObject({ token: ' blue', inference_ms: 3.1 });
    expect(body.fp32).toMatchObject({ token: ' blue', inference_ms: 7.4 });
    expect(body.speedup).toBeCloseTo(7.4 / 3.1);
    expect(body.int8.top_k).toHaveLength(5);
    expect(body.runs).toBe(5);
    expect(body.timings_ms).not.toHaveProperty('load');
    // The FP32 load a worker's first compare waits for reaches the client apart from inference.
    const cold = await (await postJson(`${gw.url}/api/compare`, { prompt: 'COLD compare' })).json();
    expect(cold.timings_ms).toMatchObject({ load: 452.5, inference: 52.5 });
  });

  it('POST /api/generate answers JSON without stream', async () => {
    const res = await postJson(`${gw.url}/api/generate`, { prompt: 'Once', max_new_tokens: 4, temperature: 0.8, top_k: 40, top_p: 0.9, seed: 7 });
    expect(res.status).toBe(200);
    const body = await res.json();
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

  it('a streamed generate that fails before its first token is a plain JSON error with its status', async () => {
    const res = await postJson(`${gw.url}/api/generate`, { prompt: 'TOO_LONG prompt', stream: true });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: 'PROMPT_TOO_LONG', message: expect.stringContaining('1024') } });
  });

  it("maps the worker's client errors to their status (PROMPT_TOO_LONG → 413)", async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'TOO_LONG prompt' });
    expect(res.status).toBe(413);
    const body = await res.json();
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
    expect((await refused.json()).error.code).toBe('PROMPT_TOO_LONG');
  });
});

describe('request ids', () => {
  it('generates one when none is sent, returns it, and carries it into the job', async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'Which id?' });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(jobFor('Which id?')?.request_id).toBe(id);
  });

  it('keeps a sane incoming x-request-id and puts it in the job', async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'Keep my id' }, { headers: { 'x-request-id': 'client-abc.123' } });
    expect(res.headers.get('x-request-id')).toBe('client-abc.123');
    expect(jobFor('Keep my id')?.request_id).toBe('client-abc.123');
  });

  it('replaces an insane one (too long, spaces, control characters)', async () => {
    for (const bad of ['x'.repeat(200), 'has space', 'a\tb', '<script>']) {
      const res = await postJson(`${gw.url}/api/predict`, { prompt: 'Bad id' }, { headers: { 'x-request-id': bad } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('uses generated job ids: two requests with the same client id both get their own answer', async () => {
    const [a, b] = await Promise.all(
      ['Same id one', 'Same id two'].map((prompt) => postJson(`${gw.url}/api/predict`, { prompt }, { headers: { 'x-request-id': 'dup' } }).then((r) => r.json())),
    );
    expect(a.prompt).toBe('Same id one');
    expect(b.prompt).toBe('Same id two');
  });

  it('is on error answers too', async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: '' }, { headers: { 'x-request-id': 'err-1' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-request-id')).toBe('err-1');
  });
});

describe('validation: every client mistake is a 4xx JSON error naming the problem', () => {
  const cases: Array<{ name: string; path?: string; body: unknown; status: number; code: string; message: RegExp; contentType?: string }> = [
    // Said once: an empty prompt breaks two rules (minLength and the "\S" pattern) that mean the same.
    { name: 'empty prompt', body: { prompt: '' }, status: 400, code: 'VALIDATION_ERROR', message: /^prompt must not be empty or only whitespace$/ },
    { name: 'whitespace prompt', body: { prompt: ' \n\t ' }, status: 400, code: 'VALIDATION_ERROR', message: /^prompt must not be empty or only whitespace$/ },
    { name: 'empty stop string', path: '/api/generate', body: { prompt: 'a', stop: [''] }, status: 400, code: 'VALIDATION_ERROR', message: /^stop\[0\] must not be empty$/ },
    { name: 'missing prompt', body: { top_k: 3 }, status: 400, code: 'VALIDATION_ERROR', message: /prompt is required/ },
    { name: 'prompt of the wrong type', body: { prompt: 42 }, status: 400, code: 'VALIDATION_ERROR', message: /prompt must be a string/ },
    { name: 'top_k as a string', body: { prompt: 'a', top_k: '5' }, status: 400, code: 'VALIDATION_ERROR', message: /top_k must be an integer/ },
    { name: 'fractional top_k', body: { prompt: 'a', top_k: 2.5 }, status: 400, code: 'VALIDATION_ERROR', message: /top_k must be an integer/ },
    { name: 'top_k out of range (0)', body: { prompt: 'a', top_k: 0 }, status: 400, code: 'VALIDATION_ERROR', message: /top_k must be >= 1/ },
    { name: 'top_k out of range (51)', body: { prompt: 'a', top_k: 51 }, status: 400, code: 'VALIDATION_ERROR', message: /top_k must be <= 50/ },
    { name: 'unknown field', body: { prompt: 'a', temperature: 1 }, status: 400, code: 'VALIDATION_ERROR', message: /unknown field "temperature"/ },
    { name: 'body is an array', body: [{ prompt: 'a' }], status: 400, code: 'VALIDATION_ERROR', message: /body must be a JSON object/ },
    { name: 'body is null', body: 'null', status: 400, code: 'VALIDATION_ERROR', message: /body must be a JSON object/ },
    { name: 'prompt over 8000 characters', body: { prompt: 'a'.repeat(8001) }, status: 400, code: 'VALIDATION_ERROR', message: /prompt must be at most 8000 characters/ },
    { name: 'non-JSON body', body: '{"prompt": "a",', status: 400, code: 'INVALID_JSON', message: /not valid JSON/ },
    { name: 'empty JSON body', body: '', status: 400, code: 'INVALID_JSON', message: /empty/ },
    { name: 'wrong content type (text/plain)', body: 'The sky is', contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: /application\/json/ },
    { name: 'wrong content type (form)', body: 'prompt=a', contentType: 'application/x-www-form-urlencoded', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: /application\/json/ },
    { name: 'body over the size limit', body: JSON.stringify({ prompt: 'a'.repeat(70 * 1024) }), status: 413, code: 'BODY_TOO_LARGE', message: /65536 bytes/ },
    { name: 'prototype poisoning', body: '{"prompt":"a","__proto__":{"x":1}}', status: 400, code: 'INVALID_JSON', message: /not valid JSON/ },
    { name: 'invalid URL encoding', path: '/api/predict%', body: { prompt: 'a' }, status: 400, code: 'BAD_REQUEST', message: /./ },
    // generate-specific
    { name: 'max_new_tokens out of range', path: '/api/generate', body: { prompt: 'a', max_new_tokens: 10_000 }, status: 400, code: 'VALIDATION_ERROR', message: /max_new_tokens must be <= 256/ },
    { name: 'negative temperature', path: '/api/generate', body: { prompt: 'a', temperature: -1 }, status: 400, code: 'VALIDATION_ERROR', message: /temperature must be >= 0/ },
    { name: 'top_p of 0', path: '/api/generate', body: { prompt: 'a', top_p: 0 }, status: 400, code: 'VALIDATION_ERROR', message: /top_p must be > 0/ },
    { name: 'negative seed', path: '/api/generate', body: { prompt: 'a', seed: -3 }, status: 400, code: 'VALIDATION_ERROR', message: /seed must be >= 0/ },
    { name: 'stream as a string', path: '/api/generate', body: { prompt: 'a', stream: 'yes' }, status: 400, code: 'VALIDATION_ERROR', message: /stream must be true or false/ },
    { name: 'stop of the wrong item type', path: '/api/generate', body: { prompt: 'a', stop: ['.', 5] }, status: 400, code: 'VALIDATION_ERROR', message: /stop\[1\] must be a string/ },
    { name: 'too many stop strings', path: '/api/generate', body: { prompt: 'a', stop: ['a', 'b', 'c', 'd', 'e'] }, status: 400, code: 'VALIDATION_ERROR', message: /stop must have at most 4 items/ },
    { name: 'compare with an unknown field', path: '/api/compare', body: { prompt: 'a', stream: true }, status: 400, code: 'VALIDATION_ERROR', message: /unknown field "stream"/ },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const res = await fetch(`${gw.url}${c.path ?? '/api/predict'}`, {
        method: 'POST',
        headers: { 'content-type': c.contentType ?? 'application/json' },
        body: typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
      });
      expect(res.status).toBe(c.status);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const body = await res.json();
      expect(body).toEqual({ error: { code: c.code, message: expect.any(String) } });
      expect(body.error.message).toMatch(c.message);
    });
  }

  it('a body that is not UTF-8 is a 400 INVALID_UTF8 saying where, not a prompt with U+FFFD in it', async () => {
    // "café" in Latin-1: the é is the single byte 0xE9, at offset 14.
    const body = Buffer.concat([Buffer.from('{"prompt":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    for (const path of ['/api/predict', '/api/generate', '/api/compare']) {
      const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body });
      expect(res.status, path).toBe(400);
      expect(await res.json()).toEqual({ error: { code: 'INVALID_UTF8', message: expect.stringMatching(/not valid UTF-8: byte 0xE9 at byte offset 14\b/) } });
    }
    expect(worker.jobs.some((j) => j.prompt.startsWith('caf'))).toBe(false);
    // Real UTF-8, in every length of character, is served as sent.
    const ok = await fetch(`${gw.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"prompt":"café 中文 😀"}', 'utf8') });
    expect(ok.status).toBe(200);
    expect((await ok.json()).prompt).toBe('café 中文 😀');
    // Fastify's JSON rules still hold behind the UTF-8 check.
    const poisoned = await postJson(`${gw.url}/api/predict`, '{"prompt":"a","constructor":{"prototype":{"x":1}}}');
    expect((await poisoned.json()).error.code).toBe('INVALID_JSON');
  });

  it('a request without a body is a 400, not a 500', async () => {
    const res = await fetch(`${gw.url}/api/predict`, { method: 'POST' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('VALIDATION_ERROR');
  });

  it('an unknown route is a JSON 404', async () => {
    const res = await fetch(`${gw.url}/api/nope`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('NOT_FOUND');
  });

  it('the wrong method on a route is a JSON 405 naming the methods it takes, in Allow too', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/api/predict', 'POST'],
      ['PUT', '/api/generate', 'POST'],
      ['DELETE', '/api/compare?x=1', 'POST'],
      ['POST', '/api/model', 'GET, HEAD'],
      ['POST', '/readyz', 'GET, HEAD'],
      ['PATCH', '/healthz', 'GET, HEAD'],
      ['POST', '/metrics', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(`${gw.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expect(await res.json()).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path.split('?')[0]}; it takes ${allow}` } });
    }
    // HEAD has no body, but the status and Allow are the same.
    const head = await fetch(`${gw.url}/api/predict`, { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('POST');
    // A path no route has is still a 404.
    expect((await fetch(`${gw.url}/api/predict/more`)).status).toBe(404);
  });
});

describe('model, health, readiness, metrics, docs, page', () => {
  it('GET /api/model returns the manifest and the report summary without per-prompt rows', async () => {
    const res = await fetch(`${gw.url}/api/model`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.synthetic).toBe(true);
    expect(body.manifest).toMatchObject({ format_version: 2, int8_bytes: 92_800_000, fp32_bytes: 353_000_000, config: { n_layer: 6 } });
    expect(body.report).toMatchObject({ top1_agreement: 0.969, bytes: { int8: 92_800_000, ratio: 92_800_000 / 353_000_000 }, latency_ms: { speedup: 2.3 } });
    expect(body.report).not.toHaveProperty('rows');
    // A local checkpoint path is reduced to its name: the server's directories stay private.
    expect(body.manifest.source.id).toBe('distilgpt2-synthetic');
  });

  it('GET /api/model is a 503 (without internal paths) when there is no artifact yet', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'gpt2-int8-empty-'));
    const other = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'api', MODEL_DIR: empty, WEB_DIR: webDir });
    try {
      const res = await fetch(`${other.url}/api/model`);
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(JSON.parse(text).error.code).toBe('NO_MODEL');
      expect(text).not.toContain(empty);
    } finally {
      await other.close();
    }
  });

  it('GET /healthz is 200', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz is 200 with a ready worker', async () => {
    const res = await fetch(`${gw.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', workers: { ready: 1, loading: 0, error: 0 } });
  });

  it('GET /readyz is 503 with no worker, and requests fail fast with 503 NO_WORKER', async () => {
    const other = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'nobody', MODEL_DIR: writeFakeArtifact(), WEB_DIR: webDir });
    try {
      const res = await fetch(`${other.url}/readyz`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body).toMatchObject({ status: 'not_ready', redis: true, error: { code: 'NO_WORKER', message: expect.stringMatching(/no worker is running/) } });
      const predict = await postJson(`${other.url}/api/predict`, { prompt: 'anyone?' });
      expect(predict.status).toBe(503);
      expect((await predict.json()).error.code).toBe('NO_WORKER');
      expect(predict.headers.get('retry-after')).toBeTruthy();
    } finally {
      await other.close();
    }
  });

  it("GET /readyz shows a worker's own error (e.g. a sha256 mismatch)", async () => {
    const broken = await startFakeWorker({
      redisUrl: redis.url,
      queueName: 'broken',
      state: 'error',
      reason: 'model.int8.onnx has sha256 0123, the manifest says abcd; re-run the quantizer',
      consume: false,
    });
    const other = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'broken', MODEL_DIR: writeFakeArtifact(), WEB_DIR: webDir });
    try {
      const res = await fetch(`${other.url}/readyz`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.workers).toEqual({ ready: 0, loading: 0, error: 1 });
      expect(body.error.message).toMatch(/sha256 0123, the manifest says abcd/);
    } finally {
      await other.close();
      await broken.close();
    }
  });

  it('GET /metrics exposes requests, latency, queue depth, live workers and per-stage timings', async () => {
    await postJson(`${gw.url}/api/predict`, { prompt: 'For the metrics' });
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

  it('GET /docs serves Swagger UI and /docs/json the OpenAPI built from the validating schemas', async () => {
    const ui = await fetch(`${gw.url}/docs`, { redirect: 'follow' });
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/swagger/i);
    const spec = await (await fetch(`${gw.url}/docs/json`)).json();
    expect(spec.openapi).toMatch(/^3\./);
    for (const path of ['/api/predict', '/api/generate', '/api/compare', '/api/model', '/healthz', '/readyz']) expect(spec.paths).toHaveProperty(path);
    const predictBody = spec.paths['/api/predict'].post.requestBody.content['application/json'].schema;
    expect(predictBody.properties.prompt).toMatchObject({ type: 'string', minLength: 1, maxLength: 8000 });
    expect(predictBody.additionalProperties).toBe(false);
    expect(spec.paths['/api/generate'].post.responses['200'].content).toHaveProperty(['text/event-stream']);
  });

  it('GET / serves the web page with security headers and no CORS by default', async () => {
    const res = await fetch(`${gw.url}/`, { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('gpt2-int8');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(res.headers.get('content-security-policy')).not.toMatch(/upgrade-insecure-requests/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBeTruthy();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${gw.url}/api/predict`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('configured security: CORS allow-list and rate limit', () => {
  let secured: TestGateway;
  beforeAll(async () => {
    secured = await startGateway({
      REDIS_URL: redis.url,
      QUEUE_NAME: 'api',
      MODEL_DIR: writeFakeArtifact(),
      WEB_DIR: webDir,
      CORS_ORIGINS: 'https://app.example, http://localhost:3000',
      RATE_LIMIT_PER_MINUTE: '3',
    });
  });
  afterAll(async () => secured?.close());

  it('allows listed origins only', async () => {
    const ok = await fetch(`${secured.url}/healthz`, { headers: { origin: 'https://app.example' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/x-request-id/);
    const other = await fetch(`${secured.url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('limits requests per client on /api/* with a 429 JSON error, and leaves /healthz alone', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await postJson(`${secured.url}/api/predict`, { prompt: `limit ${i}` })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await postJson(`${secured.url}/api/predict`, { prompt: 'limit again' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeTruthy();
    expect((await limited.json()).error.code).toBe('RATE_LIMITED');
    expect((await fetch(`${secured.url}/healthz`)).status).toBe(200);
  });
});

describe('queue hygiene', () => {
  it('keeps no waiting jobs behind after answered requests', async () => {
    await eventually(async () => (await gw.app.inject({ method: 'GET', url: '/metrics' })).body.includes('gateway_queue_depth 0'), 'an empty queue');
  });
});
