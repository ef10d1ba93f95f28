/**
 * The real services as plain processes for the service-level bench: a private redis-server on a
 * free loopback port, the gateway and N workers (the built dist/ programs). Every process started
 * here is registered so that an interrupted bench still stops them all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@gpt2-int8/dev/free-port';
import { startRedisServer } from '@gpt2-int8/dev/redis-server';
import { WORKER_PROCESS_ENV } from '@gpt2-int8/contract/worker-process';
import { GATEWAY_MAIN, ROOT, WORKER_MAIN } from './paths.js';

const running = new Set<ChildProcess>();
let hooked = false;

/** The pids of the processes started here that are still running. */
export function runningPids(): number[] {
  return [...running].map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
}

/** Kills whatever is still running when the bench exits or is interrupted. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const c of running) c.kill('SIGKILL');
      process.stderr.write(`\n${signal}: stopped the services; exiting\n`);
      process.exit(130);
    });
  }
}

export interface Managed {
  child: ChildProcess;
  name: string;
  /** The last few KB of its output, for error messages. */
  tail: () => string;
  exited: Promise<number | null>;
}

/** Starts a process; with `logFile`, everything it prints also goes there (complete once `exited` resolves). */
export function manage(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logFile?: string): Managed {
  hookExit();
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const log = logFile === undefined ? undefined : createWriteStream(logFile);
  if (log) {
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
  }
  const exited = new Promise<number | null>((resolve) => {
    // 'close': after the exit and the end of its output, so the log file is whole.
    child.on('close', (code) => {
      running.delete(child);
      if (log) log.end(() => resolve(code));
      else resolve(code);
    });
    child.on('error', (err) => {
      running.delete(child);
      tail += `\n${err.message}`;
      resolve(-1);
    });
  });
  return { child, name, tail: () => tail, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with its exit code (null when a signal ended it). */
export async function stopManaged(m: Managed, graceMs = 10_000): Promise<number | null> {
  if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGTERM');
  const timer = setTimeout(() => m.child.kill('SIGKILL'), graceMs);
  const code = await m.exited;
  clearTimeout(timer);
  return code;
}

export interface BenchRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** A private redis-server (no persistence) on a free loopback port; its output goes to `logFile` when given. */
export async function startRedis(logFile?: string): Promise<BenchRedis> {
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-bench-redis-'));
  const redis = await startRedisServer({ dir, logFile });
  // Counted among the bench's own processes (runningPids), not as other load on the machine.
  running.add(redis.child);
  void redis.exited.then(() => running.delete(redis.child));
  return {
    url: redis.url,
    pid: redis.child.pid as number,
    stop: async () => {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface GroupOptions {
  redisUrl: string;
  modelDir: string;
  workers: number;
  maxBatch: number;
  batchWindowMs?: number;
  queueName: string;
  readyTimeoutMs?: number;
  /** Set over the bench's settings below; an undefined value removes one, leaving the service's default. */
  gatewayEnv?: NodeJS.ProcessEnv;
  /** The same for worker k (from 0). */
  workerEnv?: (k: number) => NodeJS.ProcessEnv;
  /** Each process's output also goes to <logDir>/<name>.log (gateway, worker-1, …). */
  logDir?: string;
}

export interface ServiceGroup {
  url: string;
  gatewayPid: number;
  workerPids: number[];
  /** Stops the workers (they drain), then the gateway; resolves with each one's exit code by name. */
  stop(): Promise<Record<string, number | null>>;
}

function baseEnv(opts: GroupOptions): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'production',
    REDIS_URL: opts.redisUrl,
    MODEL_DIR: opts.modelDir,
    QUEUE_NAME: opts.queueName,
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
  };
}

/** Waits until /readyz says `workers` workers are ready; fails early if a process exits. */
export async function waitReady(url: string, workers: number, procs: Managed[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    const dead = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
    if (dead) throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}) before the services were ready:\n${dead.tail().slice(-1500)}`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { workers?: { ready: number } };
      last = JSON.stringify(body);
      if (res.status === 200 && (body.workers?.ready ?? 0) >= workers) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the services were not ready within ${timeoutMs / 1000} s (last /readyz: ${last})`);
}

/** A gateway and `workers` worker processes on one queue, ready to serve. */
export async function startGroup(opts: GroupOptions): Promise<ServiceGroup> {
  const port = await freePort();
  const env = baseEnv(opts);
  const procs: Managed[] = [];
  const logFile = (name: string) => (opts.logDir === undefined ? undefined : join(opts.logDir, `${name}.log`));
  const stop = async () => {
    const codes: Record<string, number | null> = {};
    const stopAll = async (ps: Managed[]) => {
      const exits = await Promise.all(ps.map((p) => stopManaged(p)));
      ps.forEach((p, i) => (codes[p.name] = exits[i] ?? null));
    };
    await stopAll(procs.filter((p) => p.name !== 'gateway'));
    await stopAll(procs.filter((p) => p.name === 'gateway'));
    return codes;
  };
  try {
    const gatewayEnv = { ...env, PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_PER_MINUTE: '0', REQUEST_TIMEOUT_MS: '30000', QUEUE_MAX_DEPTH: '1024', ...opts.gatewayEnv };
    procs.push(manage('gateway', process.execPath, [GATEWAY_MAIN], gatewayEnv, logFile('gateway')));
    for (let w = 0; w < opts.workers; w++) {
      const workerEnv = {
        ...env,
        ...WORKER_PROCESS_ENV,
        WORKER_ID: `${opts.queueName}-w${w + 1}`,
        WORKER_THREADS: '1',
        MAX_BATCH: String(opts.maxBatch),
        ...(opts.batchWindowMs !== undefined ? { BATCH_WINDOW_MS: String(opts.batchWindowMs) } : {}),
        COMPARE_FP32: 'false',
        ...opts.workerEnv?.(w),
      };
      procs.push(manage(`worker-${w + 1}`, process.execPath, [WORKER_MAIN], workerEnv, logFile(`worker-${w + 1}`)));
    }
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, opts.workers, procs, opts.readyTimeoutMs ?? 180_000);
    return {
      url,
      gatewayPid: procs.find((p) => p.name === 'gateway')?.child.pid as number,
      workerPids: procs.filter((p) => p.name !== 'gateway').map((p) => p.child.pid as number),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** How much of a process's resident memory is pages of files named `fileName` that it has mapped (bytes), from /proc/<pid>/smaps. */
export function mappedFileRss(pid: number, fileName: string): number {
  let inFile = false;
  let kb = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) inFile = (mapping[1] ?? '').endsWith(`/${fileName}`);
    else if (inFile) kb += Number(/^Rss:\s+(\d+) kB/.exec(line)?.[1] ?? 0);
  }
  return kb * 1024;
}

/** Resident and peak resident memory of a process, from /proc/<pid>/status (bytes). */
export function processMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
