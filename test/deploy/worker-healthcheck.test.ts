/**
 * deploy/worker-healthcheck.mjs, the worker's probe, in its two modes against a private Redis and
 * heartbeats written by hand: by default (Docker's HEALTHCHECK, Kubernetes' readinessProbe) healthy
 * only when this host's worker is fresh and ready; with --alive (Kubernetes' livenessProbe) when it
 * is fresh in any state, and also when Redis cannot be reached (no restart for Redis's fault).
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { HEARTBEAT_TTL_SECONDS, type WorkerHeartbeat, workerHeartbeatKey } from '@gpt2-int8/contract/job';
import { createRedis } from '@gpt2-int8/contract/redis';
import { type PrivateRedis, startRedis } from '../support/redis-server.js';
import { freePort } from '../support/services.js';
import { ROOT } from './deploy-files.js';

const QUEUE = 'hc';
let redis: PrivateRedis;
let conn: Redis;
beforeAll(async () => {
  redis = await startRedis();
  conn = createRedis(redis.url, 'blocking');
});
afterAll(async () => {
  conn.disconnect();
  await redis.dispose();
});

function check(args: string[], redisUrl = redis.url): { code: number | null; line: string } {
  const r = spawnSync(process.execPath, ['deploy/worker-healthcheck.mjs', ...args], { cwd: ROOT, env: { ...process.env, REDIS_URL: redisUrl, QUEUE_NAME: QUEUE, WORKER_ID: '' }, encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, line: r.stdout.trim() };
}

async function beat(state: WorkerHeartbeat['state'], ageMs = 0): Promise<void> {
  const hb: WorkerHeartbeat = { id: 'hc-1', state, pid: process.pid, host: hostname(), at: Date.now() - ageMs, ...(state === 'error' ? { reason: 'refusing to serve: sha256 mismatch' } : {}) };
  await conn.set(workerHeartbeatKey(QUEUE, 'hc-1'), JSON.stringify(hb), 'EX', 60);
}

describe('deploy/worker-healthcheck.mjs', () => {
  it('ready and fresh: healthy in both modes', async () => {
    await beat('ready');
    expect(check([])).toMatchObject({ code: 0, line: expect.stringMatching(/^healthy: worker hc-1 ready/) });
    expect(check(['--alive'])).toMatchObject({ code: 0, line: 'alive: worker hc-1 is ready' });
  });

  it.each(['loading', 'error'] as const)('%s and fresh: not ready, but alive (the worker retries by itself)', async (state) => {
    await beat(state);
    expect(check([])).toMatchObject({ code: 1, line: expect.stringMatching(new RegExp(`^unhealthy: worker hc-1 is ${state}`)) });
    expect(check(['--alive'])).toMatchObject({ code: 0, line: `alive: worker hc-1 is ${state}` });
  });

  it('a heartbeat older than its TTL, or none: neither ready nor alive', async () => {
    await beat('ready', (HEARTBEAT_TTL_SECONDS + 2) * 1000);
    expect(check([]).code).toBe(1);
    expect(check(['--alive'])).toMatchObject({ code: 1, line: 'unhealthy: worker hc-1 is silent' });
    await conn.del(workerHeartbeatKey(QUEUE, 'hc-1'));
    expect(check(['--alive'])).toMatchObject({ code: 1, line: expect.stringMatching(/^unhealthy: no heartbeat from a worker on /) });
  });

  it('Redis unreachable: not ready, and alive since it cannot tell', async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    expect(check([], nowhere)).toMatchObject({ code: 1, line: expect.stringMatching(/^unhealthy: .*Redis/) });
    expect(check(['--alive'], nowhere)).toMatchObject({ code: 0, line: expect.stringMatching(/^alive \(cannot tell: .*Redis/) });
  });
});
