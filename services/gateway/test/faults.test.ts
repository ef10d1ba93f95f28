/**
 * The gateway under faults, over real HTTP and a private real redis-server: a worker that never
 * answers (504), a full queue (503 + Retry-After), clients that disconnect (their waiting jobs are
 * removed), Redis stopped and restarted (fast 503, then service again without a restart), SIGTERM
 * (drain, exit 0) and bad configuration (exit non-zero naming the variable).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, GenerateResponse } from '@gpt2-int8/contract/api';
import { createRedis } from '@gpt2-int8/contract/redis';
import { freePort, startRedis, type PrivateRedis } from '../../../test/support/redis-server.js';
import { startFakeWorker, writeFakeArtifact, type FakeWorker } from '../../../test/support/fake-worker.js';
import { eventually, postJson, readSse, startGateway, type TestGateway } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.dispose());

/** Jobs of a queue by state, read straight from Redis. */
async function counts(queueName: string): Promise<Record<string, number>> {
  const conn = createRedis(redis.url, 'producer');
  const q = new Queue(queueName, { connection: conn });
  try {
    return await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  } finally {
    await q.close();
    conn.disconnect();
  }
}

describe('timeouts', () => {
  let worker: FakeWorker;
  let gw: TestGateway;
  beforeAll(async () => {
    worker = await startFakeWorker({ redisUrl: redis.url, queueName: 'hang' });
    gw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'hang', REQUEST_TIMEOUT_MS: '400', MODEL_DIR: writeFakeArtifact() });
  });
  afterAll(async () => {
    await gw?.close();
    await worker?.close();
  });

  it('a worker that never answers → 504 TIMEOUT', async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'HANG forever' });
    expect(res.status).toBe(504);
    expect(await res.json()).toEqual({ error: { code: 'TIMEOUT', message: expect.stringContaining('400 ms') } });
  });

  it('a streamed generate whose worker never answers → 504 as well (nothing was streamed yet)', async () => {
    const res = await postJson(`${gw.url}/api/generate`, { prompt: 'HANG stream', stream: true });
    expect(res.status).toBe(504);
    expect(((await res.json()) as ErrorBody).error.code).toBe('TIMEOUT');
  });

  it('the gateway still answers normal requests meanwhile', async () => {
    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'fine' });
    expect(res.status).toBe(200);
  });
});

describe('a full queue and clients that leave', () => {
  let parked: FakeWorker;
  let gw: TestGateway;
  beforeAll(async () => {
    // A "ready" heartbeat but nothing consuming: requests stay queued.
    parked = await startFakeWorker({ redisUrl: redis.url, queueName: 'full', consume: false });
    gw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'full', QUEUE_MAX_DEPTH: '2', REQUEST_TIMEOUT_MS: '30000', MODEL_DIR: writeFakeArtifact() });
  });
  afterAll(async () => {
    await gw?.close();
    await parked?.close();
  });

  it('past QUEUE_MAX_DEPTH new requests get 503 QUEUE_FULL with Retry-After; leaving clients have their jobs removed', async () => {
    const controllers = [new AbortController(), new AbortController()];
    const waiting = controllers.map((c, i) => postJson(`${gw.url}/api/predict`, { prompt: `queued ${i}` }, { signal: c.signal }).catch((e: Error) => e));
    await eventually(async () => (await counts('full')).waiting === 2, 'two queued jobs');

    const res = await postJson(`${gw.url}/api/predict`, { prompt: 'one too many' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await res.json()) as ErrorBody).error).toEqual({ code: 'QUEUE_FULL', message: expect.stringMatching(/busy/) });

    for (const c of controllers) c.abort();
    for (const r of await Promise.all(waiting)) expect(r).toBeInstanceOf(Error);
    await eventually(async () => (await counts('full')).waiting === 0, 'the abandoned jobs to be removed');
    // Counted once each as 499 (client closed request), never as a server error.
    await eventually(
      async () => /gateway_http_requests_total\{method="POST",route="\/api\/predict",status="499"\} 2\n/.test(await (await fetch(`${gw.url}/metrics`)).text()),
      'two 499s in the metrics',
      3000,
    );
    expect(await (await fetch(`${gw.url}/metrics`)).text()).not.toMatch(/status="500"/);
  });

  it('a client that leaves a streamed generate has its waiting job removed', async () => {
    const c = new AbortController();
    const pending = postJson(`${gw.url}/api/generate`, { prompt: 'stream then leave', stream: true }, { signal: c.signal }).catch((e: Error) => e);
    await eventually(async () => (await counts('full')).waiting === 1, 'the queued generate job');
    c.abort();
    expect(await pending).toBeInstanceOf(Error);
    await eventually(async () => (await counts('full')).waiting === 0, 'the abandoned generate job to be removed');
    // And the gateway counted it, as a 499 (client closed request).
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gateway_http_requests_total\{method="POST",route="\/api\/generate",status="499"\} 1/);
  });
});

describe('streamed requests are counted once', () => {
  it('one streamed generate adds exactly one to the request counter', async () => {
    const worker = await startFakeWorker({ redisUrl: redis.url, queueName: 'count' });
    const gw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'count', MODEL_DIR: writeFakeArtifact() });
    try {
      await readSse(await postJson(`${gw.url}/api/generate`, { prompt: 'count me', max_new_tokens: 3, stream: true }));
      await eventually(
        async () => /gateway_http_requests_total\{method="POST",route="\/api\/generate",status="200"\} 1\n/.test(await (await fetch(`${gw.url}/metrics`)).text()),
        'the counter to read 1',
        3000,
      );
    } finally {
      await gw.close();
      await worker.close();
    }
  });
});

describe('Redis stopped and restarted', () => {
  it('answers 503 at once while Redis is down (no hang), then serves again without a restart', async () => {
    const own = await startRedis();
    const worker = await startFakeWorker({ redisUrl: own.url, queueName: 'flaky' });
    // A long request timeout: a request that waited for it instead of failing fast would time out the test.
    const gw = await startGateway({ REDIS_URL: own.url, QUEUE_NAME: 'flaky', REQUEST_TIMEOUT_MS: '120000', MODEL_DIR: writeFakeArtifact() });
    try {
      expect((await postJson(`${gw.url}/api/predict`, { prompt: 'before' })).status).toBe(200);
      await own.stop();

      const down = await postJson(`${gw.url}/api/predict`, { prompt: 'during' }, { signal: AbortSignal.timeout(20_000) });
      expect(down.status).toBe(503);
      const body = await down.text();
      expect(JSON.parse(body).error.code).toBe('QUEUE_UNAVAILABLE');
      expect(down.headers.get('retry-after')).toBeTruthy();
      for (const leak of ['127.0.0.1', 'ECONNREFUSED', 'redis://', String(own.port)]) expect(body).not.toContain(leak);

      const ready = await fetch(`${gw.url}/readyz`, { signal: AbortSignal.timeout(20_000) });
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ redis: false, error: { code: 'REDIS_UNREACHABLE' } });
      const metrics = await (await fetch(`${gw.url}/metrics`, { signal: AbortSignal.timeout(20_000) })).text();
      expect(metrics).toMatch(/gateway_redis_up 0/);

      await own.start();
      await eventually(async () => (await postJson(`${gw.url}/api/predict`, { prompt: 'after' })).status === 200, 'service after Redis restarted', 30_000);
    } finally {
      await gw.close();
      await worker.close();
      await own.dispose();
    }
  });
});

describe('the gateway process', () => {
  beforeAll(() => {
    // The process tests run the built gateway; make sure it is current (incremental: fast when it is).
    const tsc = spawnSync('npx', ['tsc', '-b', 'services/gateway'], { cwd: ROOT, encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`tsc -b services/gateway failed:\n${tsc.stdout}${tsc.stderr}`);
  });

  function startMain(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, ['services/gateway/dist/main.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_PRETTY: 'false', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, output: () => out, exited };
  }

  it('a bad setting stops it with a non-zero exit naming the variable', async () => {
    for (const [name, value] of [
      ['PORT', 'eighty'],
      ['REQUEST_TIMEOUT_MS', '-5'],
      ['QUEUE_MAX_DEPTH', '0'],
      ['CORS_ORIGINS', 'not an origin'],
      ['RATE_LIMIT_PER_MINUTE', '1.5'],
      ['REDIS_URL', 'http://x'],
    ] as const) {
      const p = startMain({ [name]: value });
      const code = await p.exited;
      expect(code, `${name}=${value}`).not.toBe(0);
      expect(p.output()).toContain(name);
    }
  });

  it('on SIGTERM it stops accepting, finishes the request in flight, and exits 0', async () => {
    const worker = await startFakeWorker({ redisUrl: redis.url, queueName: 'drain', tokenDelayMs: 150 });
    const port = await freePort();
    const p = startMain({ REDIS_URL: redis.url, QUEUE_NAME: 'drain', PORT: String(port), LOG_LEVEL: 'info', MODEL_DIR: writeFakeArtifact() });
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 'the gateway to listen');
      // Log lines are JSON in production mode and carry the request id.
      const inFlight = postJson(`http://127.0.0.1:${port}/api/generate`, { prompt: 'drain me', max_new_tokens: 8 }, { headers: { 'x-request-id': 'drain-1' } });
      await eventually(async () => worker.jobs.some((j) => j.prompt === 'drain me'), 'the job to start');
      p.child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as GenerateResponse).tokens).toHaveLength(8);
      expect(await p.exited).toBe(0);
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
      const lines = p.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => l.request_id === 'drain-1')).toBe(true);
      expect(lines.some((l) => String(l.msg).includes('drained'))).toBe(true);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await worker.close();
    }
  });
});
