/**
 * What the gateway logs about requests, read from its real pino logger: one info line per API
 * request, and nothing above debug for health checks, metrics or the page and its files (on an
 * `npm start` terminal those were 308 of 463 lines). On in-memory parts (in-memory-parts.ts): no Redis.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { inMemoryGateway } from './in-memory-parts.js';

interface Line {
  level: number;
  msg: string;
  request_id?: string;
  method?: string;
  url?: string;
  status?: number;
  ms?: number;
}

const INFO = 30;
let app: FastifyInstance;
const lines: Line[] = [];

beforeAll(async () => {
  const webDir = mkdtempSync(join(tmpdir(), 'gpt2-int8-web-'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>gpt2-int8</title>');
  writeFileSync(join(webDir, 'main.js'), 'console.log(1)');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  ({ app } = await inMemoryGateway({ WEB_DIR: webDir }, { logger: pino({ level: 'debug' }, sink) }));
});

afterAll(async () => app?.close());

describe('request logging', () => {
  it('one info line per API request (method, path, status, time); health, metrics, page and docs only at debug', async () => {
    const before = lines.length;
    const ids = ['log-predict', 'log-invalid', 'log-method', 'log-model'];
    const json = { 'content-type': 'application/json' };
    await app.inject({ method: 'POST', url: '/api/predict', headers: { ...json, 'x-request-id': ids[0]! }, payload: { prompt: 'Log me' } });
    await app.inject({ method: 'POST', url: '/api/predict', headers: { ...json, 'x-request-id': ids[1]! }, payload: { prompt: '' } });
    await app.inject({ method: 'GET', url: '/api/predict', headers: { 'x-request-id': ids[2]! } });
    await app.inject({ method: 'GET', url: '/api/model?x=1', headers: { 'x-request-id': ids[3]! } });
    const quiet = ['/readyz', '/healthz', '/metrics', '/', '/main.js', '/docs/json', '/favicon.ico'];
    for (const path of quiet) await app.inject({ method: 'GET', url: path, headers: { 'x-request-id': `quiet${path.replace(/\W/g, '-')}` } });
    // onResponse runs after the answer is sent: let the last lines land.
    await new Promise((resolve) => setTimeout(resolve, 100));

    const requestLines = lines.slice(before).filter((l) => l.request_id !== undefined);
    const info = requestLines.filter((l) => l.level >= INFO);
    expect(info.map((l) => [l.request_id, l.msg])).toEqual([
      ['log-predict', expect.stringMatching(/^POST \/api\/predict 200 [\d.]+ ms$/)],
      ['log-invalid', expect.stringMatching(/^POST \/api\/predict 400 [\d.]+ ms$/)],
      ['log-method', expect.stringMatching(/^GET \/api\/predict 405 [\d.]+ ms$/)],
      ['log-model', expect.stringMatching(/^GET \/api\/model 200 [\d.]+ ms$/)],
    ]);
    expect(info[0]).toMatchObject({ method: 'POST', url: '/api/predict', status: 200, ms: expect.any(Number) });
    // The rest is still there for LOG_LEVEL=debug: each request's arrival and answer.
    for (const path of quiet) {
      const id = `quiet${path.replace(/\W/g, '-')}`;
      expect(requestLines.filter((l) => l.request_id === id).map((l) => l.msg), path).toEqual(['incoming request', expect.stringMatching(new RegExp(`^GET ${path.replace(/[.?]/g, '\\$&')} \\d{3} `))]);
    }
    expect(requestLines.filter((l) => l.request_id === 'log-predict').map((l) => l.msg)).toEqual(['incoming request', expect.stringMatching(/^POST \/api\/predict 200/)]);
  });
});
