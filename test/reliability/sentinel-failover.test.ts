/**
 * Redis Sentinel failover under load, on real processes on loopback: a master, a replica and three
 * redis-sentinels (test/support/sentinel.ts), the built gateway and two built workers reaching Redis
 * only through Sentinel (REDIS_SENTINELS, REDIS_MASTER_NAME), on the tiny artifact.
 *
 * Under steady load the master is SIGKILLed. Sentinel promotes the replica; the gateway and the
 * workers follow it without a restart and service resumes. Measured and printed: the time from the
 * kill to the first success, every answer given meanwhile (only 200, or 503 with a message — never
 * a wait past REQUEST_TIMEOUT_MS), and how many acknowledged writes the promoted replica lacks.
 *
 * The loss is measured beside the HTTP load by two producers adding jobs through Sentinel to queues
 * no worker reads, as the gateway adds its jobs: one counts a job acknowledged when the master says
 * so (what the gateway does), the other only once WAIT 1 says a replica has it too. After the
 * failover, every acknowledged job is looked for on the new master.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { RedisTarget } from '@gpt2-int8/contract/config';
import { createRedis } from '@gpt2-int8/contract/redis';
import { freePort, type ServiceProcess, startService, waitFor200 } from '../support/services.js';
import { DOWN_AFTER_MS, type SentinelGroup, sentinelInstalled, startSentinelGroup } from '../support/sentinel.js';
import { tinyArtifact } from '../support/tiny-artifact.js';
import { alive, until } from './cluster.js';
import { type Outcome, startLoad, tally } from './load.js';

const REQUEST_TIMEOUT_MS = 10_000;
const ok = (o: Outcome) => o.status === 200 && o.streamDone !== false && o.matches;
/** What a client may be told while there is no master: the queue is unavailable, or no worker heartbeat yet. */
const OUTAGE_CODES = new Set(['QUEUE_UNAVAILABLE', 'NO_WORKER']);

let group: SentinelGroup | undefined;
const processes: ServiceProcess[] = [];
afterEach(async () => {
  for (const p of processes.splice(0)) await p.stop('SIGKILL');
  await group?.stop();
  group = undefined;
});

interface AckProbe {
  /** Jobs the producer was told were stored, with when. */
  acked: { id: string; at: number }[];
  /** Adds that failed (no master), or that WAIT did not confirm on a replica. */
  refused: number;
  stop(): Promise<void>;
  /** Acknowledged jobs the current master does not have. */
  lost(): Promise<{ id: string; at: number }[]>;
}

/** Adds a job every few ms through Sentinel, as the gateway does (a producer connection, BullMQ's add). */
function startAckProbe(target: RedisTarget, queueName: string, waitForReplica: boolean): AckProbe {
  const conn = createRedis(target, 'producer');
  conn.on('error', () => undefined);
  const queue = new Queue(queueName, { connection: conn });
  queue.on('error', () => undefined);
  const acked: { id: string; at: number }[] = [];
  let refused = 0;
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const id = `probe-${i}`;
      try {
        await queue.add('probe', { i }, { jobId: id });
        // WAIT blocks until this connection's writes reach a replica (or 100 ms pass): the add
        // counts only when one has it.
        if (waitForReplica && (await conn.wait(1, 100)) < 1) refused++;
        else acked.push({ id, at: Date.now() });
      } catch {
        refused++;
        await sleep(20);
      }
      await sleep(5);
    }
  })();
  return {
    acked,
    get refused() {
      return refused;
    },
    stop: async () => {
      stopped = true;
      await loop;
    },
    lost: async () => {
      const check = createRedis(target, 'blocking');
      check.on('error', () => undefined);
      try {
        const exists = await Promise.all(acked.map((a) => check.exists(`bull:${queueName}:${a.id}`)));
        return acked.filter((_a, i) => exists[i] === 0);
      } finally {
        await queue.close().catch(() => undefined);
        conn.disconnect();
        check.disconnect();
      }
    },
  };
}

describe('Redis Sentinel: the master SIGKILLed under load', () => {
  it('the replica is promoted, gateway and workers follow it without a restart, and service resumes', async () => {
    if (!sentinelInstalled()) throw new Error('redis-sentinel is not installed: apt-get install redis-sentinel (.ci/run installs it)');
    group = await startSentinelGroup();
    const g = group;
    await g.settled();

    const queueName = 'failover';
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // REDIS_URL's host is not used through Sentinel; a wrong one proves it.
    const common = { ...g.env, REDIS_URL: 'redis://not-a-host.invalid:1', MODEL_DIR: tinyArtifact(), QUEUE_NAME: queueName };
    const gateway = startService('gateway', { ...common, PORT: String(port), HOST: '127.0.0.1', REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
    const workerIds = ['fo-a', 'fo-b'];
    const workers = workerIds.map((id) => startService('worker', { ...common, WORKER_ID: id }));
    processes.push(gateway, ...workers);
    const serving = [gateway, ...workers];
    await waitFor200(`${base}/readyz`, 40_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- gateway ---\n${gateway.output().slice(-1500)}\n--- worker ---\n${workers[0]?.output().slice(-1500)}`);
    });
    // The gateway's log line can reach its pipe after /readyz answers (pino writes asynchronously).
    await until('the gateway to say it reaches Redis through Sentinel', () => gateway.output().includes(`through Sentinel ${g.env.REDIS_SENTINELS}`), 10_000, () => gateway.output().slice(-1500));

    const plain = startAckProbe(g.target, 'probe-ack', false);
    const replicated = startAckProbe(g.target, 'probe-wait', true);
    const load = startLoad(base, { concurrency: 6, tag: 'fo', deadlineMs: REQUEST_TIMEOUT_MS + 5000, backoffMs: 50, generate: { max_new_tokens: 8 } });
    await until('load to flow', () => load.outcomes.filter(ok).length >= 40, 30_000);

    const oldMaster = await g.masterPort();
    const killedAt = Date.now();
    await g.nodes.get(oldMaster)?.stop('SIGKILL');
    await until('Sentinel to name a new master', async () => (await g.masterPort()) !== oldMaster, 30_000, undefined, 50);
    const promotedAt = Date.now();
    await until('a success sent after the kill', () => load.outcomes.some((o) => o.sentAt > killedAt && ok(o)), 30_000);
    const firstSuccessAt = Math.min(...load.outcomes.filter((o) => o.sentAt > killedAt && ok(o)).map((o) => o.endedAt));
    const resumed = load.outcomes.length;
    // Both workers follow: each answers again, from the same process.
    const answeredBy = () => new Set(load.outcomes.slice(resumed).filter(ok).map((o) => o.worker));
    const detail = () => `answered since: ${[...answeredBy()].join(', ')}; outcomes: ${JSON.stringify(tally(load.outcomes.slice(resumed)))}\n${workers.map((w, i) => `--- ${workerIds[i]} ---\n${w.output().slice(-1500)}`).join('\n')}`;
    await until('steady service from both workers on the new master', () => load.outcomes.slice(resumed).filter(ok).length >= 60 && answeredBy().size === 2, 30_000, detail);
    await Promise.all([plain.stop(), replicated.stop()]);
    const outcomes = await load.stop();

    // The replica is the master now; the same processes serve it.
    const newMaster = await g.masterPort();
    expect(newMaster).not.toBe(oldMaster);
    expect(g.nodes.has(newMaster)).toBe(true);
    for (const p of serving) expect(alive(p), p.name).toBe(true);

    // Every answer: a success, or a 503 with a message; no hang, no 504, nothing refused.
    for (const o of outcomes) {
      if (ok(o)) continue;
      expect(o.status === 503 || (o.status === 200 && o.streamDone === false), `${o.id} ${o.status} ${o.body.slice(0, 200)}`).toBe(true);
      expect(OUTAGE_CODES.has(o.code ?? ''), `${o.id}: ${o.code} ${o.body.slice(0, 200)}`).toBe(true);
      if (o.status === 503) expect((JSON.parse(o.body) as { error: { message: string } }).error.message.length).toBeGreaterThan(10);
    }
    const slowest = Math.max(...outcomes.map((o) => o.endedAt - o.sentAt));
    expect(slowest).toBeLessThan(REQUEST_TIMEOUT_MS);
    const during = outcomes.filter((o) => o.endedAt >= killedAt && o.sentAt <= firstSuccessAt);

    const lostPlain = await plain.lost();
    const lostReplicated = await replicated.lost();
    // A write WAIT confirmed on the replica survives its promotion.
    expect(lostReplicated).toEqual([]);
    const lastSecond = (p: AckProbe) => p.acked.filter((a) => a.at > killedAt - 1000 && a.at <= killedAt).length;

    console.info(
      [
        `[reliability] Sentinel failover (down-after-milliseconds ${DOWN_AFTER_MS}): master SIGKILLed; replica promoted after ${promotedAt - killedAt} ms; first success ${firstSuccessAt - killedAt} ms after the kill`,
        `  answers from the kill to the first success: ${JSON.stringify(tally(during))}; whole run: ${JSON.stringify(tally(outcomes))}; slowest answer ${slowest} ms (REQUEST_TIMEOUT_MS ${REQUEST_TIMEOUT_MS})`,
        `  acknowledged jobs lost: ${lostPlain.length} of ${plain.acked.length} acknowledged by the master alone (${lastSecond(plain)} in the last second before the kill${lostPlain.length ? `; lost ones acknowledged ${lostPlain.map((l) => killedAt - l.at).join(', ')} ms before it` : ''}); ${lostReplicated.length} of ${replicated.acked.length} confirmed by WAIT 1 (adds refused or unconfirmed: ${plain.refused} and ${replicated.refused})`,
      ].join('\n'),
    );
  });
});
