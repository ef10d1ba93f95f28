/**
 * The whole service as real processes for the reliability tests: a private redis-server, the built
 * gateway and N built workers (test/support/services.ts) on the tiny artifact, plus what the fault
 * tests need to watch it — worker heartbeats, the queue's jobs, each process's RSS.
 */
import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { type WorkerHeartbeat, workerHeartbeatKey } from '@gpt2-int8/contract/job';
import { createRedis } from '@gpt2-int8/contract/redis';
import { type PrivateRedis, startRedis } from '../support/redis-server.js';
import { freePort, type ServiceProcess, startService, waitFor200 } from '../support/services.js';
import { tinyArtifact } from '../support/tiny-artifact.js';

export interface ClusterOptions {
  queueName: string;
  /** Worker ids to start at once (each must turn 'ready' before startCluster resolves). */
  workers: string[];
  gatewayEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Use this Redis instead of starting one (the cluster then does not dispose of it). */
  redis?: PrivateRedis;
  modelDir?: string;
  /** Wait for /readyz 200 (default true; false for clusters meant to be not ready). */
  waitReady?: boolean;
  /** Options for the test's own Redis connections (e.g. the CA of a TLS Redis). */
  redisOptions?: RedisOptions;
}

export interface Cluster {
  redis: PrivateRedis;
  base: string;
  queueName: string;
  gateway: ServiceProcess;
  workers: Map<string, ServiceProcess>;
  /** A Redis connection for looking at the queue and heartbeats from the test. */
  probe: Redis;
  queue: Queue;
  startWorker(id: string, env?: Record<string, string>): ServiceProcess;
  heartbeat(id: string): Promise<WorkerHeartbeat | undefined>;
  waitWorkerReady(id: string, timeoutMs?: number): Promise<void>;
  /** SIGTERMs everything still running (gateway first), disposes of its own Redis; the exit codes by name. */
  stop(): Promise<Record<string, number | null>>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const ownRedis = opts.redis === undefined;
  const redis = opts.redis ?? (await startRedis());
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const common = { REDIS_URL: redis.url, MODEL_DIR: opts.modelDir ?? tinyArtifact(), QUEUE_NAME: opts.queueName };
  const gateway = startService('gateway', { ...common, PORT: String(port), HOST: '127.0.0.1', ...opts.gatewayEnv });
  const workers = new Map<string, ServiceProcess>();
  const probe = createRedis(redis.url, 'blocking', opts.redisOptions);
  probe.on('error', () => undefined);
  const queueConn = createRedis(redis.url, 'blocking', opts.redisOptions);
  queueConn.on('error', () => undefined);
  const queue = new Queue(opts.queueName, { connection: queueConn });
  queue.on('error', () => undefined);

  const heartbeat = async (id: string): Promise<WorkerHeartbeat | undefined> => {
    const raw = await probe.get(workerHeartbeatKey(opts.queueName, id));
    return raw === null ? undefined : (JSON.parse(raw) as WorkerHeartbeat);
  };
  const startWorker = (id: string, env: Record<string, string> = {}) => {
    const w = startService('worker', { ...common, WORKER_ID: id, ...opts.workerEnv, ...env });
    workers.set(id, w);
    return w;
  };
  // Under the 60 s test timeout, so a worker that never turns ready fails the test with its output.
  const waitWorkerReady = async (id: string, timeoutMs = 40_000) => {
    await until(`worker ${id} ready`, async () => (await heartbeat(id))?.state === 'ready', timeoutMs, () => workers.get(id)?.output().slice(-2000) ?? '');
  };

  const cluster: Cluster = {
    redis,
    base,
    queueName: opts.queueName,
    gateway,
    workers,
    probe,
    queue,
    startWorker,
    heartbeat,
    waitWorkerReady,
    stop: async () => {
      const codes: Record<string, number | null> = {};
      codes.gateway = await gateway.stop('SIGTERM');
      for (const [id, w] of workers) codes[id] = await w.stop('SIGTERM');
      await queue.close().catch(() => undefined);
      queueConn.disconnect();
      probe.disconnect();
      if (ownRedis) await redis.dispose();
      return codes;
    },
  };
  try {
    for (const id of opts.workers) startWorker(id);
    await Promise.all(opts.workers.map((id) => waitWorkerReady(id)));
    if (opts.waitReady !== false) await waitFor200(`${base}/readyz`);
    else await waitFor200(`${base}/healthz`);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw new Error(`${(err as Error).message}\n--- gateway output ---\n${gateway.output().slice(-2000)}`);
  }
  return cluster;
}

/** Polls `check` until it is true; the error says what was awaited (and `detail()` if given). */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000, detail?: () => string, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}${detail ? `\n${detail()}` : ''}`);
}

export function post(base: string, path: string, body: unknown, init: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

export { parseSse, type SseEvent } from '../support/sse.js';

/** Resident memory of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export function alive(p: ServiceProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** The percentile `p` (0..100) of `values` (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
