/**
 * What the gateway logs about requests, read from its real pino logger: one info line per API
 * request, and nothing above debug for health checks, metrics or the page and its files (on an
 * `npm start` terminal those were 308 of 463 lines).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startRedis, type PrivateRedis } from '../../../test/support/redis-server.js';
import { startFakeWorker, writeFakeArtifact, type FakeWorker } from '../../../test/support/fake-worker.js';
import { buildApp } from '../src/app.js';
import { readGatewayConfig } from '../src/config.js';
import { createRedisParts } from '../src/queue/redis-parts.js';
import { postJson } from './helpers.js';

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
let redis: PrivateRedis;
let worker: FakeWorker;
let app: FastifyInstance;
let url: string;
const lines: Line[] = [];

beforeAll(async () => {
  redis = await startRedis();
  worker = await startFakeWorker({ redisUrl: redis.url, queueName: 'logs' });
  const webDir = mkdtempSync(join(tmpdir(), 'gpt2-int8-web-'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>gpt2-int8</title>');
  writeFileSync(join(webDir, 'main.js'), 'console.log(1)');
  const config = readGatewayConfig({ HOST: '127.0.0.1', PORT: '0', LOG_PRETTY: 'false', REDIS_URL: redis.url, QUEUE_NAME: 'logs', MODEL_DIR: writeFakeArtifact(), WEB_DIR: webDir });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  app = await buildApp({ config, ...(await createRedisParts(config, logger)), logger });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
  await worker?.close();
  await redis?.dispose();
});

describe('request logging', () => {
  it('one info line per API request (method, path, status, time); health, metrics, page and docs only at debug', async () => {
    const before = lines.length;
    const ids = ['log-predict', 'log-invalid', 'log-method', 'log-model'];
    await postJson(`${url}/api/predict`, { prompt: 'Log me' }, { headers: { 'x-request-id': ids[0]! } });
    await postJson(`${url}/api/predict`, { prompt: '' }, { headers: { 'x-request-id': ids[1]! } });
    await fetch(`${url}/api/predict`, { headers: { 'x-request-id': ids[2]! } });
    await fetch(`${url}/api/model?x=1`, { headers: { 'x-request-id': ids[3]! } });
    const quiet = ['/readyz', '/healthz', '/metrics', '/', '/main.js', '/docs/json', '/favicon.ico'];
    for (const path of quiet) await fetch(`${url}${path}`, { headers: { 'x-request-id': `quiet${path.replace(/\W/g, '-')}` } });
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
