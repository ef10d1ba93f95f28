/**
 * Workers on other hosts. Every other test runs on loopback, where a hard-coded `localhost` would
 * go unnoticed; here the gateway and Redis run in one network namespace (the hub) and each worker in
 * a namespace of its own (test/support/netns.ts): their own address on a veth pair, loopback only
 * inside each. Redis listens on the hub's bridge address only, not on loopback, so every service
 * reaches it by that address, as across machines.
 *
 * Workers join and serve; one is SIGKILLed under load and replaced by a new one on a third host;
 * another leaves with SIGTERM. The clients (this process, through its own veth) see only complete
 * answers. Redis's CLIENT LIST shows each worker connected from its own host's address. The
 * namespaces are removed at the end.
 *
 * Needs root and iproute2 (.ci/run installs it); where namespaces cannot be made, it says why and
 * skips.
 */
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '@gpt2-int8/contract/redis';
import { type RedisServer, startRedisServer } from '@gpt2-int8/dev/redis-server';
import { workerHeartbeatKey, type WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { createNetwork, type Network, netnsUnavailable } from '../support/netns.js';
import { type ServiceProcess, startService, waitFor200 } from '../support/services.js';
import { tinyArtifact } from '../support/tiny-artifact.js';
import { until } from './cluster.js';
import { type Outcome, startLoad, tally } from './load.js';

const unavailable = netnsUnavailable();
if (unavailable) process.stderr.write(`SKIPPED: workers on other hosts (network namespaces) cannot be tested here: ${unavailable}\n`);

const QUEUE = 'hosts';
const ok = (o: Outcome) => o.status === 200 && o.streamDone !== false && o.matches;

let network: Network | undefined;
let redis: RedisServer | undefined;
const processes: ServiceProcess[] = [];
afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await redis?.stop('SIGKILL');
  network?.remove();
});

describe.skipIf(unavailable !== undefined)('workers on other hosts (network namespaces)', () => {
  it('join, serve, are killed and replaced across hosts; nothing reaches Redis through localhost', async () => {
    const net = createNetwork(3);
    network = net;
    const [h1, h2, h3] = net.hosts as [typeof net.hub, typeof net.hub, typeof net.hub];
    // Redis on the hub, bound to its bridge address alone (loopback does not reach it even there),
    // with a password, as across machines: without one Redis's protected mode refuses other hosts.
    const password = 'hosts-test-password';
    redis = await startRedisServer({ wrapper: net.wrapper(net.hub), host: net.hub.address, port: 6379, args: ['--requirepass', password] });
    const redisUrl = `redis://:${password}@${net.hub.address}:6379`;
    const common = { REDIS_URL: redisUrl, MODEL_DIR: tinyArtifact(), QUEUE_NAME: QUEUE, LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000' };
    // The gateway on its default address and port (0.0.0.0:6006) on the hub.
    const gateway = startService('gateway', { ...common, REQUEST_TIMEOUT_MS: '30000' }, { wrapper: net.wrapper(net.hub) });
    processes.push(gateway);
    const base = `http://${net.hub.address}:6006`;
    const worker = (id: string, host: typeof net.hub) => {
      const w = startService('worker', { ...common, WORKER_ID: id }, { wrapper: net.wrapper(host) });
      processes.push(w);
      return w;
    };

    const probe = createRedis(redisUrl, 'blocking');
    probe.on('error', () => undefined);
    const queueConn = createRedis(redisUrl, 'blocking');
    queueConn.on('error', () => undefined);
    const queue = new Queue(QUEUE, { connection: queueConn });
    queue.on('error', () => undefined);
    const heartbeat = async (id: string) => {
      const raw = await probe.get(workerHeartbeatKey(QUEUE, id));
      return raw === null ? undefined : (JSON.parse(raw) as WorkerHeartbeat);
    };
    const ready = (id: string, w: ServiceProcess) => until(`worker ${id} ready`, async () => (await heartbeat(id))?.state === 'ready', 40_000, () => w.output().slice(-2000));

    try {
      // Inside a worker's namespace loopback is its own: nothing listens there.
      expect(() => net.exec(h1, process.execPath, ['-e', "require('net').connect(6379,'127.0.0.1').on('error',e=>{console.log(e.code);process.exit(1)}).on('connect',()=>process.exit(0))"])).toThrow();

      const w1 = worker('host-1', h1);
      const w2 = worker('host-2', h2);
      await Promise.all([ready('host-1', w1), ready('host-2', w2)]);
      await waitFor200(`${base}/readyz`, 30_000).catch((err: Error) => {
        throw new Error(`${err.message}\n--- gateway ---\n${gateway.output().slice(-2000)}`);
      });

      // Each worker's connections come from its own host's address; none from loopback.
      const clients = (await probe.client('LIST')) as string;
      const from = new Set([...clients.matchAll(/addr=([\d.]+):\d+/g)].map((m) => m[1]));
      expect(from).toContain(h1.address);
      expect(from).toContain(h2.address);
      expect(from).toContain(net.hub.address); // the gateway
      expect([...from].filter((a) => a?.startsWith('127.'))).toEqual([]);

      // Generations long enough that host-1 is in the middle of one when it is killed.
      const load = startLoad(base, { concurrency: 6, tag: 'hosts', deadlineMs: 40_000, generate: { max_new_tokens: 48 } });
      const answeredBy = (since: number) => new Set(load.outcomes.filter((o) => o.sentAt >= since && ok(o)).map((o) => o.worker));
      await until('both hosts to answer', () => answeredBy(0).has('host-1') && answeredBy(0).has('host-2'), 30_000);

      // host-1 dies in the middle of a job; a new worker on host-3 takes its place.
      const running = async (id: string) => (await queue.getJobs(['active'])).filter((j) => j.processedBy === id).map((j) => j.id as string);
      let victims: string[] = [];
      await until('host-1 to hold a job', async () => (victims = await running('host-1')).length > 0, 30_000, undefined, 5);
      const killedAt = Date.now();
      w1.child.kill('SIGKILL');
      const w3 = worker('host-3', h3);
      await ready('host-3', w3);
      const replacedAt = Date.now();
      await until('host-3 to answer', () => answeredBy(replacedAt).has('host-3'), 30_000);
      const servingAt = Math.min(...load.outcomes.filter((o) => o.sentAt >= replacedAt && ok(o) && o.worker === 'host-3').map((o) => o.endedAt));

      // host-2 leaves gracefully: it finishes its jobs and exits 0; host-3 carries on alone.
      const termAt = Date.now();
      expect(await w2.stop('SIGTERM')).toBe(0);
      const leftAt = Date.now();
      await until('host-3 alone to answer 20 more', () => load.outcomes.filter((o) => o.sentAt > leftAt && ok(o)).length >= 20, 30_000);
      const outcomes = await load.stop();

      // Every client got its whole, own answer: the killed worker's jobs were taken over.
      expect(outcomes.filter((o) => !ok(o)).map((o) => `${o.id} ${o.status} ${o.body.slice(0, 200)}`)).toEqual([]);
      expect(outcomes.filter((o) => o.sentAt > leftAt).every((o) => o.worker === 'host-3')).toBe(true);
      // The jobs host-1 held were all finished: those it had not finished before the SIGKILL
      // landed, by another host.
      // A job whose answer host-1 had published (reply_to) before the SIGKILL landed, but not yet
      // marked finished, has its client answered and is still run again once found stalled: wait
      // for those re-runs to end.
      await until('the jobs host-1 held to be finished', async () => (await Promise.all(victims.map(async (id) => queue.getJob(id)))).every((j) => j?.finishedOn !== undefined), 30_000);
      const held = await Promise.all(victims.map(async (id) => queue.getJob(id)));
      const finishedBy = held.map((j) => (j?.returnvalue as { worker?: string } | undefined)?.worker);
      const states = await Promise.all(held.map(async (j) => (j === undefined ? 'gone' : `${await j.getState()} ${j.failedReason ?? ''} attempts ${j.attemptsMade} ${JSON.stringify(j.returnvalue)?.slice(0, 120)}`)));
      held.forEach((j, i) => {
        expect(finishedBy[i], `job ${victims[i]}: ${states[i]}`).toMatch(/^host-[123]$/);
        if (finishedBy[i] === 'host-1') expect(j?.finishedOn).toBeLessThanOrEqual(killedAt + 100);
      });
      const takenOver = finishedBy.filter((w) => w !== 'host-1');
      const perWorker: Record<string, number> = {};
      for (const o of outcomes) perWorker[o.worker as string] = (perWorker[o.worker as string] ?? 0) + 1;
      const slowest = Math.max(...outcomes.map((o) => o.endedAt - o.sentAt));
      console.info(
        `[reliability] workers on other hosts: ${outcomes.length} requests from ${net.testAddress} to the gateway at ${net.hub.address}, answered by ${JSON.stringify(perWorker)} (${JSON.stringify(tally(outcomes))}); ` +
          `host-1 SIGKILLed holding ${victims.length} job(s), ${takenOver.length} of them finished by ${takenOver.join(', ') || 'nobody else'}; host-3 ready ${replacedAt - killedAt} ms later and answering ${servingAt - killedAt} ms after the kill; host-2 drained and exited 0 in ${leftAt - termAt} ms; slowest answer ${slowest} ms`,
      );
    } finally {
      await queue.close().catch(() => undefined);
      queueConn.disconnect();
      probe.disconnect();
      for (const p of processes.splice(0)) await p.stop('SIGTERM');
      await redis.stop();
      redis = undefined;
      // Nothing left behind: the namespaces and this side's veth end are gone.
      expect(net.remove()).toBe(true);
      network = undefined;
    }
  });
});
