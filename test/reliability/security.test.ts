/**
 * Security of the running service (built gateway and worker processes, private redis-servers):
 *
 * - Redis with a password (requirepass), end to end through REDIS_URL; a wrong password is refused
 *   plainly, and the password never appears in a log line or an answer.
 * - Redis over TLS (rediss://), with a self-signed CA made here by openssl and trusted through
 *   Node's NODE_EXTRA_CA_CERTS: served end to end; without the CA the certificate is refused (it is
 *   verified, not ignored). Skipped, saying so, when this redis-server was built without TLS.
 * - Internal errors forced (a worker returning a malformed result): a 500 with a generic message and
 *   the request id — no stack, no schema details, no paths. (Redis down: redis-faults.test.ts; a bad
 *   artifact: artifact-faults.test.ts; a worker's crash text: services/gateway/test/api.test.ts.)
 * - Security headers on every kind of answer, the API's and Node's own.
 *
 * Covered elsewhere: CORS off by default and the allow-list, the per-client rate limit and the body
 * limit (services/gateway/test/app.test.ts; the limit on in compose: test/deploy/compose.test.ts);
 * containers as non-root (test/deploy/images.test.ts); the quantizer refusing hub file names that
 * escape its cache and never loading pickled checkpoints
 * (services/quantizer/src/checkpoint/hub-download.test.ts, hf-checkpoint.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '@gpt2-int8/contract/redis';
import { startFakeWorker } from '../support/fake-worker.js';
import { type PrivateRedis, startRedis } from '../support/redis-server.js';
import { type Cluster, post, startCluster, until } from './cluster.js';

const PASSWORD = 'correct-horse-battery-staple-7f3a';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function outputs(c: Cluster): string {
  return [c.gateway, ...c.workers.values()].map((p) => p.output()).join('\n');
}

describe('Redis with a password (requirepass)', () => {
  it('works end to end through REDIS_URL; a wrong password is refused plainly; the password is never printed', async () => {
    const redis = await startRedis({ password: PASSWORD });
    expect(redis.url).toContain(PASSWORD);
    const good = await startCluster({ queueName: 'auth', workers: ['auth-w'], redis });
    const wrongUrl = redis.url.replace(PASSWORD, 'wrong-password');
    const bad = await startCluster({ queueName: 'auth-bad', workers: [], redis: { ...redis, url: wrongUrl }, waitReady: false });
    try {
      const ok = await post(good.base, '/api/predict', { prompt: 'The sky is' });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { worker: string }).worker).toBe('auth-w');

      // The wrong password: not ready, and requests refused at once — saying nothing about why.
      const ready = await fetch(`${bad.base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ redis: false, error: { code: 'REDIS_UNREACHABLE' } });
      const t0 = Date.now();
      const refused = await post(bad.base, '/api/predict', { prompt: 'The sky is' });
      expect(refused.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(3000);
      const text = await refused.text();
      for (const leak of ['WRONGPASS', 'NOAUTH', 'password', 'redis', String(redis.port)]) expect(text).not.toContain(leak);

      // Nowhere in the logs of either deployment, nor in the gateway's metrics.
      const badWorker = bad.startWorker('auth-bad-w');
      await until('the worker to report the refusal', () => /Redis|redis/.test(badWorker.output()), 15_000);
      for (const c of [good, bad]) expect(outputs(c)).not.toContain(PASSWORD);
      expect(outputs(bad)).not.toContain('wrong-password');
      expect(outputs(good)).toContain('redis://:***@127.0.0.1');
      expect(await (await fetch(`${good.base}/metrics`)).text()).not.toContain(PASSWORD);
    } finally {
      await bad.stop();
      await good.stop();
      await redis.dispose();
    }
  });
});

/** A self-signed certificate for 127.0.0.1 (its own CA), or why one could not be made. */
function selfSigned(): { certFile: string; keyFile: string; caFile: string } | string {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-tls-'));
  dirs.push(dir);
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) return `openssl could not make a certificate (${r.error?.message ?? r.stderr.trim().split('\n').at(-1)})`;
  return { certFile, keyFile, caFile: certFile };
}

const tls = selfSigned();
let tlsRedis: PrivateRedis | string;
if (typeof tls === 'string') {
  tlsRedis = tls;
} else {
  tlsRedis = await startRedis({ tls, password: PASSWORD }).catch((err: Error) => `this redis-server cannot serve TLS: ${err.message.split('\n')[0]}`);
}
afterAll(async () => {
  if (typeof tlsRedis !== 'string') await tlsRedis.dispose();
});

describe('Redis over TLS (rediss://)', () => {
  const skip = typeof tlsRedis === 'string';
  it.skipIf(skip)(`serves end to end with the CA trusted, and refuses an unverified certificate${skip ? ` — SKIPPED: ${String(tlsRedis)}` : ''}`, async () => {
    const redis = tlsRedis as PrivateRedis;
    const { caFile } = tls as { caFile: string };
    expect(redis.url).toMatch(/^rediss:\/\//);
    // The services trust the CA the way an operator would make them: NODE_EXTRA_CA_CERTS. (The
    // test's own connections, to watch heartbeats, are given it directly.)
    const redisOptions = { tls: { ca: readFileSync(caFile) } };
    const trusted = await startCluster({
      queueName: 'tls',
      workers: ['tls-w'],
      redis,
      redisOptions,
      gatewayEnv: { NODE_EXTRA_CA_CERTS: caFile },
      workerEnv: { NODE_EXTRA_CA_CERTS: caFile },
    });
    const untrusted = await startCluster({ queueName: 'tls-untrusted', workers: [], redis, redisOptions, waitReady: false });
    try {
      const res = await post(trusted.base, '/api/generate', { prompt: 'Over TLS', max_new_tokens: 3, stream: true });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('event: done');
      expect((await fetch(`${trusted.base}/readyz`)).status).toBe(200);

      // Without the CA the self-signed certificate is refused: the connection is verified.
      const ready = await fetch(`${untrusted.base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ redis: false });
      await until('the certificate error in the log', () => /self[- ]signed certificate/i.test(untrusted.gateway.output()), 10_000);
      // A plain client on the TLS port gets nowhere either.
      const plain = createRedis(redis.url.replace('rediss://', 'redis://'), 'producer', { retryStrategy: () => null, connectTimeout: 1000 });
      plain.on('error', () => undefined);
      await expect(plain.ping()).rejects.toThrow();
      plain.disconnect();
      for (const c of [trusted, untrusted]) expect(outputs(c)).not.toContain(PASSWORD);
    } finally {
      await untrusted.stop();
      await trusted.stop();
    }
  });
});

describe('internal errors and headers', () => {
  it('a malformed worker result is a 500 with a generic message and the request id; nothing internal', async () => {
    const redis = await startRedis();
    const queueName = 'rogue';
    // A ready heartbeat, and a "worker" that answers with a result missing most of its fields.
    const heartbeat = await startFakeWorker({ redisUrl: redis.url, queueName, consume: false });
    const conn = createRedis(redis.url, 'blocking');
    const rogue = new Worker(queueName, async (job) => ({ kind: job.name, prompt: { nested: 'not a string' }, secret_path: '/srv/models/x' }), { connection: conn });
    rogue.on('error', () => undefined);
    const c = await startCluster({ queueName, workers: [], redis });
    try {
      const res = await post(c.base, '/api/predict', { prompt: 'malformed please' }, { headers: { 'x-request-id': 'rogue-1' } });
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'Internal error; quote request id rogue-1 when reporting it' } });
      for (const leak of ['required', 'schema', 'secret_path', '/srv', ' at ', 'Error', 'nested']) expect(text).not.toContain(leak);
      // The details are in the gateway's log, under the same request id.
      await until('the error log line', () => c.gateway.output().split('\n').some((l) => l.includes('"request_id":"rogue-1"') && l.includes('"level":50')), 5000);
      expect((await fetch(`${c.base}/healthz`)).status).toBe(200);
    } finally {
      await c.stop();
      await rogue.close();
      conn.disconnect();
      await heartbeat.close();
      await redis.dispose();
    }
  });

  it('security headers on answers of every kind; no X-Powered-By', async () => {
    const c = await startCluster({ queueName: 'headers', workers: ['headers-w'] });
    try {
      const answers = await Promise.all([
        post(c.base, '/api/predict', { prompt: 'The sky is' }),
        post(c.base, '/api/predict', { prompt: '' }),
        fetch(`${c.base}/api/nope`),
        post(c.base, '/api/predict', 'x'.repeat(70_000)),
        fetch(`${c.base}/`),
        fetch(`${c.base}/readyz`),
      ]);
      expect(answers.map((r) => r.status)).toEqual([200, 400, 404, 413, 200, 200]);
      for (const r of answers) {
        expect(r.headers.get('x-content-type-options')).toBe('nosniff');
        expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
        expect(r.headers.get('x-frame-options')).toBe('SAMEORIGIN');
        expect(r.headers.get('referrer-policy')).toBe('no-referrer');
        expect(r.headers.get('x-powered-by')).toBeNull();
        expect(r.headers.get('access-control-allow-origin')).toBeNull();
      }
    } finally {
      await c.stop();
    }
  });
});
