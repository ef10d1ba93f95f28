/**
 * The gateway's HTTP surface without a queue: buildApp on in-memory parts (in-memory-parts.ts) and
 * `inject`, so no Redis, no worker process and no socket. Validation, request ids, bodies, unknown
 * routes and methods, the model card, health and readiness, the docs, the page, CORS and the rate
 * limit. The queue path itself (a real Redis and a BullMQ worker) is in api.test.ts and faults.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeHeartbeat } from '../../../test/support/fake-model.js';
import { inMemoryGateway, type InMemoryGateway } from './in-memory-parts.js';

let gw: InMemoryGateway;
let app: FastifyInstance;
let webDir: string;

beforeAll(async () => {
  webDir = mkdtempSync(join(tmpdir(), 'gpt2-int8-web-'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>gpt2-int8</title><p>page</p>');
  gw = await inMemoryGateway({ WEB_DIR: webDir });
  app = gw.app;
});

afterAll(async () => app?.close());

/** A header as fetch's Headers.get gives it: the value, or null when absent. */
function header(res: LightMyRequestResponse, name: string): string | null {
  const value = res.headers[name];
  return value === undefined ? null : String(value);
}

function postJson(to: FastifyInstance, url: string, body: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return to.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
}

const jobFor = (prompt: string) => gw.jobs.taken.find((j) => j.prompt === prompt);

describe('request ids', () => {
  it('generates one when none is sent, returns it, and carries it into the job', async () => {
    const res = await postJson(app, '/api/predict', { prompt: 'Which id?' });
    const id = header(res, 'x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(jobFor('Which id?')?.request_id).toBe(id);
  });

  it('keeps a sane incoming x-request-id and puts it in the job', async () => {
    const res = await postJson(app, '/api/predict', { prompt: 'Keep my id' }, { 'x-request-id': 'client-abc.123' });
    expect(header(res, 'x-request-id')).toBe('client-abc.123');
    expect(jobFor('Keep my id')?.request_id).toBe('client-abc.123');
  });

  it('replaces an insane one (too long, spaces, control characters)', async () => {
    for (const bad of ['x'.repeat(200), 'has space', 'a\tb', '<script>']) {
      const res = await postJson(app, '/api/predict', { prompt: 'Bad id' }, { 'x-request-id': bad });
      expect(res.statusCode).toBe(200);
      expect(header(res, 'x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('is on error answers too', async () => {
    const res = await postJson(app, '/api/predict', { prompt: '' }, { 'x-request-id': 'err-1' });
    expect(res.statusCode).toBe(400);
    expect(header(res, 'x-request-id')).toBe('err-1');
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
    { name: 'empty body', body: '', status: 400, code: 'INVALID_JSON', message: /empty/ },
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
      const res = await postJson(app, c.path ?? '/api/predict', c.body, { 'content-type': c.contentType ?? 'application/json' });
      expect(res.statusCode).toBe(c.status);
      expect(header(res, 'content-type')).toMatch(/application\/json/);
      const body = res.json();
      expect(body).toEqual({ error: { code: c.code, message: expect.any(String) } });
      expect(body.error.message).toMatch(c.message);
    });
  }

  it('a body that is not UTF-8 is a 400 INVALID_UTF8 saying where, not a prompt with U+FFFD in it', async () => {
    // "café" in Latin-1: the é is the single byte 0xE9, at offset 14.
    const payload = Buffer.concat([Buffer.from('{"prompt":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    for (const path of ['/api/predict', '/api/generate', '/api/compare']) {
      const res = await app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json; charset=utf-8' }, payload });
      expect(res.statusCode, path).toBe(400);
      expect(res.json()).toEqual({ error: { code: 'INVALID_UTF8', message: expect.stringMatching(/not valid UTF-8: byte 0xE9 at byte offset 14\b/) } });
    }
    expect(gw.jobs.taken.some((j) => j.prompt.startsWith('caf'))).toBe(false);
    // Real UTF-8, in every length of character, is served as sent.
    const ok = await app.inject({ method: 'POST', url: '/api/predict', headers: { 'content-type': 'application/json' }, payload: Buffer.from('{"prompt":"café 中文 😀"}', 'utf8') });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().prompt).toBe('café 中文 😀');
    // Fastify's JSON rules still hold behind the UTF-8 check.
    const poisoned = await postJson(app, '/api/predict', '{"prompt":"a","constructor":{"prototype":{"x":1}}}');
    expect(poisoned.json().error.code).toBe('INVALID_JSON');
  });

  it('a request without a body is a 400, not a 500', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/predict' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION_ERROR');
  });

  it('an unknown route is a JSON 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });

  it('the wrong method on a route is a JSON 405 naming the methods it takes, in Allow too', async () => {
    const cases: Array<['GET' | 'PUT' | 'DELETE' | 'POST' | 'PATCH', string, string]> = [
      ['GET', '/api/predict', 'POST'],
      ['PUT', '/api/generate', 'POST'],
      ['DELETE', '/api/compare?x=1', 'POST'],
      ['POST', '/api/model', 'GET, HEAD'],
      ['POST', '/readyz', 'GET, HEAD'],
      ['PATCH', '/healthz', 'GET, HEAD'],
      ['POST', '/metrics', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await app.inject({ method, url: path });
      expect(res.statusCode, `${method} ${path}`).toBe(405);
      expect(header(res, 'allow'), `${method} ${path}`).toBe(allow);
      expect(header(res, 'content-type')).toMatch(/application\/json/);
      expect(res.json()).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path.split('?')[0]}; it takes ${allow}` } });
    }
    // HEAD has no body, but the status and Allow are the same.
    const head = await app.inject({ method: 'HEAD', url: '/api/predict' });
    expect(head.statusCode).toBe(405);
    expect(header(head, 'allow')).toBe('POST');
    // A path no route has is still a 404.
    expect((await app.inject({ method: 'GET', url: '/api/predict/more' })).statusCode).toBe(404);
  });
});

describe('model, health, readiness, docs, page', () => {
  it('GET /api/model returns the manifest and the report summary without per-prompt rows', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/model' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.synthetic).toBe(true);
    expect(body.manifest).toMatchObject({ format_version: 2, int8_bytes: 92_800_000, fp32_bytes: 353_000_000, config: { n_layer: 6 } });
    expect(body.report).toMatchObject({ top1_agreement: 0.969, bytes: { int8: 92_800_000, ratio: 92_800_000 / 353_000_000 }, latency_ms: { speedup: 2.3 } });
    expect(body.report).not.toHaveProperty('rows');
    // A local checkpoint path is reduced to its name: the server's directories stay private.
    expect(body.manifest.source.id).toBe('distilgpt2-synthetic');
  });

  it('GET /api/model is a 503 (without internal paths) when there is no artifact yet', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'gpt2-int8-empty-'));
    const other = await inMemoryGateway({ MODEL_DIR: empty, WEB_DIR: webDir });
    try {
      const res = await other.app.inject({ method: 'GET', url: '/api/model' });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('NO_MODEL');
      expect(res.body).not.toContain(empty);
    } finally {
      await other.app.close();
    }
  });

  it('GET /healthz is 200', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz is 200 with a ready worker', async () => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', workers: { ready: 1, loading: 0, error: 0 } });
  });

  it('GET /readyz is 503 with no worker, and requests fail fast with 503 NO_WORKER', async () => {
    const other = await inMemoryGateway({ WEB_DIR: webDir }, { heartbeats: [] });
    try {
      const res = await other.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: 'not_ready', redis: true, error: { code: 'NO_WORKER', message: expect.stringMatching(/no worker is running/) } });
      const predict = await postJson(other.app, '/api/predict', { prompt: 'anyone?' });
      expect(predict.statusCode).toBe(503);
      expect(predict.json().error.code).toBe('NO_WORKER');
      expect(header(predict, 'retry-after')).toBeTruthy();
      expect(other.jobs.taken).toEqual([]);
    } finally {
      await other.app.close();
    }
  });

  it("GET /readyz shows a worker's own error (e.g. a sha256 mismatch)", async () => {
    const broken = fakeHeartbeat('broken', 'error', 'model.int8.onnx has sha256 0123, the manifest says abcd; re-run the quantizer');
    const other = await inMemoryGateway({ WEB_DIR: webDir }, { heartbeats: [broken] });
    try {
      const res = await other.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      const body = res.json();
      expect(body.workers).toEqual({ ready: 0, loading: 0, error: 1 });
      expect(body.error.message).toMatch(/sha256 0123, the manifest says abcd/);
    } finally {
      await other.app.close();
    }
  });

  it('GET /docs serves Swagger UI and /docs/json the OpenAPI built from the validating schemas', async () => {
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toMatch(/swagger/i);
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    // TypeBox's schemas are JSON Schema 2020-12 (e.g. top_p's numeric exclusiveMinimum): OpenAPI 3.1's dialect.
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.paths['/api/generate'].post.requestBody.content['application/json'].schema.properties.top_p.exclusiveMinimum).toBe(0);
    for (const path of ['/api/predict', '/api/generate', '/api/compare', '/api/model', '/healthz', '/readyz']) expect(spec.paths).toHaveProperty(path);
    const predictBody = spec.paths['/api/predict'].post.requestBody.content['application/json'].schema;
    expect(predictBody.properties.prompt).toMatchObject({ type: 'string', minLength: 1, maxLength: 8000 });
    expect(predictBody.additionalProperties).toBe(false);
    expect(spec.paths['/api/generate'].post.responses['200'].content).toHaveProperty(['text/event-stream']);
  });

  it('GET / serves the web page with security headers and no CORS by default', async () => {
    const res = await app.inject({ method: 'GET', url: '/', headers: { origin: 'https://evil.example' } });
    expect(res.statusCode).toBe(200);
    expect(header(res, 'content-type')).toMatch(/text\/html/);
    expect(res.body).toContain('gpt2-int8');
    expect(header(res, 'content-security-policy')).toMatch(/default-src 'self'/);
    expect(header(res, 'content-security-policy')).not.toMatch(/upgrade-insecure-requests/);
    expect(header(res, 'x-content-type-options')).toBe('nosniff');
    expect(header(res, 'x-frame-options')).toBeTruthy();
    expect(header(res, 'access-control-allow-origin')).toBeNull();
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/predict',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(header(preflight, 'access-control-allow-origin')).toBeNull();
  });
});

describe('configured security: CORS allow-list and rate limit', () => {
  let secured: FastifyInstance;
  beforeAll(async () => {
    ({ app: secured } = await inMemoryGateway({ WEB_DIR: webDir, CORS_ORIGINS: 'https://app.example, http://localhost:3000', RATE_LIMIT_PER_MINUTE: '3' }));
  });
  afterAll(async () => secured?.close());

  it('allows listed origins only', async () => {
    const ok = await secured.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://app.example' } });
    expect(header(ok, 'access-control-allow-origin')).toBe('https://app.example');
    expect(header(ok, 'access-control-expose-headers')).toMatch(/x-request-id/);
    const other = await secured.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } });
    expect(header(other, 'access-control-allow-origin')).toBeNull();
  });

  it('answers an OPTIONS that is not a preflight (no Origin) as HTTP does, with no body, not a plain-text 400', async () => {
    for (const url of ['/api/generate', '/v1/completions', '/healthz']) {
      const res = await secured.inject({ method: 'OPTIONS', url });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(204);
      expect(res.body).toBe('');
    }
  });

  it("lets a listed origin's browser send a keyed request (Authorization) and the openai client's headers, and read the rate-limit headers", async () => {
    const requested = 'authorization, content-type, x-stainless-os';
    const preflight = await secured.inject({
      method: 'OPTIONS',
      url: '/v1/completions',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': requested },
    });
    expect(preflight.statusCode).toBe(204);
    expect(header(preflight, 'access-control-allow-headers')).toBe(requested);
    const ok = await secured.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://app.example' } });
    expect(header(ok, 'access-control-expose-headers')).toMatch(/x-ratelimit-remaining/);
  });

  it('limits requests per client on /api/* with a 429 JSON error, and leaves /healthz alone', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await postJson(secured, '/api/predict', { prompt: `limit ${i}` })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await postJson(secured, '/api/predict', { prompt: 'limit again' });
    expect(limited.statusCode).toBe(429);
    expect(header(limited, 'retry-after')).toBeTruthy();
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    expect((await secured.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
