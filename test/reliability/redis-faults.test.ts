/**
 * Redis faults under load, on the real processes (built gateway, two built workers, a private
 * redis-server, the tiny artifact):
 *
 * - Redis killed and restarted (empty) under load: while it is down every request is refused at
 *   once with 503 (not after REQUEST_TIMEOUT_MS, set to a minute here so a waiting request would
 *   stand out); the requests in flight when it died are answered at once too; afterwards gateway
 *   and workers reconnect by themselves and serve again — the same processes, none restarted.
 * - Redis hung (SIGSTOP: connections open, no answers — a frozen host or a lost network path):
 *   no request waits for it; each is answered within REQUEST_TIMEOUT_MS plus the producer's command
 *   timeout, and service resumes when Redis does.
 * - A completion event that never arrives (a known failure mode of request/reply over BullMQ): the
 *   wait is bounded, and the result is read from the job itself when it runs out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobResult } from '@gpt2-int8/contract/job';
import { createRedis, PRODUCER_COMMAND_TIMEOUT_MS } from '@gpt2-int8/contract/redis';
import { FAKE_MODEL, startFakeWorker } from '../support/fake-worker.js';
import { startRedis } from '../support/redis-server.js';
import { postJson, startGateway } from '../../services/gateway/test/helpers.js';
import { alive, type Cluster, startCluster, until } from './cluster.js';
import { type Outcome, startLoad, tally } from './load.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const ok = (o: Outcome) => o.status === 200 && o.streamDone !== false && o.matches;
/** Codes a client may get while Redis is away: the queue is unavailable, or no worker heartbeat yet. */
const OUTAGE_CODES = new Set(['QUEUE_UNAVAILABLE', 'NO_WORKER']);
const pids = (c: Cluster) => [c.gateway, ...c.workers.values()].map((p) => p.child.pid);

function expectNoInternals(outcomes: Outcome[], port: number): void {
  for (const o of outcomes.filter((x) => x.status !== 200 || x.streamDone === false)) {
    for (const leak of ['redis', 'ECONNREFUSED', '127.0.0.1', String(port), 'timed out', ' at ']) expect(o.body, o.id).not.toContain(leak);
  }
}

describe('Redis stopped and restarted under load', () => {
  it('fast 503s while it is down, then service again from the same processes', async () => {
    cluster = await startCluster({ queueName: 'down', workers: ['down-a', 'down-b'], gatewayEnv: { REQUEST_TIMEOUT_MS: '60000' } });
    const c = cluster;
    const before = pids(c);
    const load = startLoad(c.base, { concurrency: 8, tag: 'down', deadlineMs: 90_000, generate: { max_new_tokens: 16 } });
    await until('load to flow', () => load.outcomes.filter(ok).length >= 30, 30_000);

    const downAt = Date.now();
    await c.redis.stop();
    await sleep(3000);
    const upAt = Date.now();
    await c.redis.start();
    await until('answers again after the restart', () => load.outcomes.some((o) => o.sentAt > upAt && ok(o)), 30_000);
    const recoveredAt = Math.min(...load.outcomes.filter((o) => o.sentAt > upAt && ok(o)).map((o) => o.endedAt));
    const served = load.outcomes.length;
    await until('steady service after the restart', () => load.outcomes.slice(served).filter(ok).length >= 40, 30_000);
    const outcomes = await load.stop();

    // Nobody waited: not one request came near the 60 s timeout, none hung.
    expect(outcomes.filter((o) => o.status === 'hung' || o.status === 'refused')).toEqual([]);
    const slowest = Math.max(...outcomes.map((o) => o.endedAt - o.sentAt));
    expect(slowest).toBeLessThan(5000);
    // Every answer is a success or a plain 503 (a stream cut by the outage ends with an error event).
    for (const o of outcomes) {
      if (ok(o)) continue;
      expect(o.status === 503 || (o.status === 200 && o.streamDone === false), `${o.id} ${o.status} ${o.body.slice(0, 200)}`).toBe(true);
      expect(OUTAGE_CODES.has(o.code ?? ''), `${o.id}: ${o.code}`).toBe(true);
    }
    // While Redis was down: refused at once.
    const duringOutage = outcomes.filter((o) => o.sentAt > downAt + 200 && o.endedAt < upAt);
    expect(duringOutage.length).toBeGreaterThan(20);
    for (const o of duringOutage) expect(o.status).toBe(503);
    const slowestRefusal = Math.max(...duringOutage.map((o) => o.endedAt - o.sentAt));
    expect(slowestRefusal).toBeLessThan(1000);
    // The requests in flight when it died: answered within moments, not at their timeout.
    const caught = outcomes.filter((o) => o.sentAt < downAt && o.endedAt > downAt);
    for (const o of caught) expect(o.endedAt - downAt).toBeLessThan(2000);
    expectNoInternals(outcomes, c.redis.port);
    // The same processes throughout.
    expect(pids(c)).toEqual(before);
    for (const p of [c.gateway, ...c.workers.values()]) expect(alive(p)).toBe(true);
    expect((await fetch(`${c.base}/readyz`)).status).toBe(200);
    console.info(
      `[reliability] Redis killed for 3 s under load: ${outcomes.length} requests ${JSON.stringify(tally(outcomes))}; ` +
        `${caught.length} in flight at the kill answered within ${Math.max(0, ...caught.map((o) => o.endedAt - downAt))} ms; ` +
        `slowest refusal during the outage ${slowestRefusal} ms; first success ${recoveredAt - upAt} ms after the restart; slowest request ${slowest} ms`,
    );
  });
});

describe('SIGTERM while Redis is down', () => {
  it('gateway and worker still stop promptly with exit 0 (nothing in flight can be delivered)', async () => {
    cluster = await startCluster({ queueName: 'term-down', workers: ['term-down-w'] });
    const c = cluster;
    expect((await fetch(`${c.base}/readyz`)).status).toBe(200);
    await c.redis.stop();
    await sleep(500);
    const t0 = Date.now();
    const [worker, gateway] = await Promise.all([c.workers.get('term-down-w')?.stop('SIGTERM'), c.gateway.stop('SIGTERM')]);
    expect({ worker, gateway }).toEqual({ worker: 0, gateway: 0 });
    // Not SHUTDOWN_TIMEOUT_MS / REQUEST_TIMEOUT_MS (30 s each): the gateway's bounded queue close (2 s) at most.
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(5000);
    expect(c.workers.get('term-down-w')?.output()).toContain('Redis unreachable and no job running: stopping without waiting for it');
    console.info(`[reliability] SIGTERM with Redis down: gateway and worker exited 0 within ${ms} ms`);
  });
});

describe('Redis hung (SIGSTOP) under load', () => {
  it('no request waits for it beyond REQUEST_TIMEOUT_MS plus the command timeout; service resumes with it', async () => {
    const timeoutMs = 2000;
    cluster = await startCluster({ queueName: 'hung', workers: ['hung-a'], gatewayEnv: { REQUEST_TIMEOUT_MS: String(timeoutMs) } });
    const c = cluster;
    const before = pids(c);
    const load = startLoad(c.base, { concurrency: 6, tag: 'hung', deadlineMs: 60_000, generate: { max_new_tokens: 16 } });
    await until('load to flow', () => load.outcomes.filter(ok).length >= 20, 30_000);

    const pausedAt = Date.now();
    c.redis.pause();
    // Longer than any request may take: one that waited for Redis would show it.
    await sleep(8000);
    const resumedAt = Date.now();
    c.redis.resume();
    await until('answers again after Redis resumed', () => load.outcomes.some((o) => o.sentAt > resumedAt && ok(o)), 30_000);
    const served = load.outcomes.length;
    await until('steady service afterwards', () => load.outcomes.slice(served).filter(ok).length >= 20, 30_000);
    const outcomes = await load.stop();

    expect(outcomes.filter((o) => o.status === 'hung' || o.status === 'refused')).toEqual([]);
    // The bound: the request timeout, plus one command timeout for the direct read of the job when it
    // runs out, plus slack for a busy machine. Nothing waited for the 8 s that Redis was away.
    const bound = timeoutMs + PRODUCER_COMMAND_TIMEOUT_MS + 2000;
    const slowest = Math.max(...outcomes.map((o) => o.endedAt - o.sentAt));
    expect(slowest).toBeLessThan(bound);
    const whilePaused = outcomes.filter((o) => o.sentAt > pausedAt + 100 && o.endedAt < resumedAt);
    expect(whilePaused.length).toBeGreaterThan(5);
    for (const o of outcomes) {
      if (ok(o)) continue;
      // 503 when a command timed out; 504 when the wait for a job ran out (its events never came).
      expect([503, 504].includes(o.status as number) || (o.status === 200 && o.streamDone === false), `${o.id} ${o.status} ${o.body.slice(0, 200)}`).toBe(true);
      expect(['QUEUE_UNAVAILABLE', 'NO_WORKER', 'TIMEOUT'].includes(o.code ?? ''), `${o.id}: ${o.code}`).toBe(true);
    }
    expectNoInternals(outcomes, c.redis.port);
    expect(pids(c)).toEqual(before);
    for (const p of [c.gateway, ...c.workers.values()]) expect(alive(p)).toBe(true);
    console.info(
      `[reliability] Redis hung (SIGSTOP) for 8 s under load: ${outcomes.length} requests ${JSON.stringify(tally(outcomes))}; slowest request ${slowest} ms (bound ${bound} ms)`,
    );
  });
});

describe('a completion event that never arrives', () => {
  it('the wait ends at REQUEST_TIMEOUT_MS and the result (or failure) is read from the job itself', async () => {
    const redis = await startRedis();
    const queueName = 'lost';
    // A ready heartbeat but no consumer: the test plays the worker, finishing jobs without events.
    const parked = await startFakeWorker({ redisUrl: redis.url, queueName, consume: false });
    const gw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: queueName, REQUEST_TIMEOUT_MS: '1500' });
    const conn = createRedis(redis.url, 'blocking');
    const queue = new Queue(queueName, { connection: conn });
    try {
      /** Moves the next waiting job to completed/failed directly in Redis: no event is published. */
      const finishSilently = async (finish: (jobId: string, data: { prompt: string }) => Promise<void>) => {
        let jobId: string | undefined;
        await until('the job to be queued', async () => (jobId = (await conn.lrange(`bull:${queueName}:wait`, 0, -1))[0]) !== undefined, 10_000);
        const job = await queue.getJob(jobId as string);
        await conn.lrem(`bull:${queueName}:wait`, 0, jobId as string);
        await finish(jobId as string, job?.data as { prompt: string });
      };

      const t0 = Date.now();
      const answer = postJson(`${gw.url}/api/predict`, { prompt: 'lost event' }, { headers: { 'x-request-id': 'lost-1' } });
      await finishSilently(async (id, data) => {
        const result: JobResult = {
          kind: 'predict',
          prompt: data.prompt,
          token: ' blue',
          token_id: 4171,
          top_k: [{ token: ' blue', token_id: 4171, prob: 0.5 }],
          timings_ms: { queue: 1, tokenize: 0.1, inference: 1, total: 2 },
          worker: 'silent-worker',
          model: FAKE_MODEL,
        };
        const now = Date.now();
        await conn.multi().hset(`bull:${queueName}:${id}`, 'returnvalue', JSON.stringify(result), 'processedOn', now, 'finishedOn', now).zadd(`bull:${queueName}:completed`, now, id).exec();
      });
      const res = await answer;
      const elapsed = Date.now() - t0;
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ prompt: 'lost event', token: ' blue', worker: 'silent-worker' });
      expect(elapsed).toBeGreaterThanOrEqual(1500);
      expect(elapsed).toBeLessThan(1500 + 2000);

      const failing = postJson(`${gw.url}/api/predict`, { prompt: 'lost failure' });
      await finishSilently(async (id) => {
        const now = Date.now();
        await conn
          .multi()
          .hset(`bull:${queueName}:${id}`, 'failedReason', 'PROMPT_TOO_LONG: the prompt is 300 tokens; the model context is 128 tokens', 'finishedOn', now)
          .zadd(`bull:${queueName}:failed`, now, id)
          .exec();
      });
      const failed = await failing;
      expect(failed.status).toBe(413);
      expect(((await failed.json()) as { error: { code: string } }).error.code).toBe('PROMPT_TOO_LONG');
    } finally {
      await queue.close();
      conn.disconnect();
      await gw.close();
      await parked.close();
      await redis.dispose();
    }
  });
});
