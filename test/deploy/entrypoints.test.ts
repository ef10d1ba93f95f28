/**
 * Each image's entrypoint, run as a plain process (no Docker engine here): the command and the
 * environment are read from docker-compose.yml and the Dockerfiles — the service's `command` or
 * the image's ENTRYPOINT + CMD, the image's ENV, the service's `environment` interpolated as
 * compose does — and only the machine-specific parts are rewritten: the `redis` host becomes a
 * private redis-server on loopback (with a password, through REDIS_PASSWORD as in compose), the
 * mounts become temporary directories (the `models` volume) or the tiny test checkpoint (the
 * `./checkpoints` mount), the WORKDIR /app becomes this checkout, and the gateway's container port
 * a free loopback port. tini, the images' init, is used when it is installed.
 *
 *   quantizer → exits 0 and writes the artifact; again → exits 0 as a no-op; bad source → non-zero
 *   gateway + two workers → /readyz 200, a predict succeeds, both HEALTHCHECK commands pass
 *   SIGTERM with requests in flight → they complete, each process exits 0
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type PrivateRedis, startRedis } from '../support/redis-server.js';
import { readSse, type SseEvent } from '../support/sse.js';
import { tinyCheckpoint } from '../support/tiny-artifact.js';
import {
  type ComposeFile,
  type ComposeService,
  type Env,
  finalStage,
  healthcheck,
  loadCompose,
  parseDockerfile,
  ROOT,
  serviceCommand,
  serviceEnv,
  serviceVolumes,
  stageEnv,
  workdir,
} from './deploy-files.js';

const TINI = existsSync('/usr/bin/tini') ? '/usr/bin/tini' : undefined;
if (!TINI) process.stderr.write('NOTE: /usr/bin/tini is not installed here; the entrypoint test runs the images\' CMD without their init.\n');

/**
 * Where each image's /app is. By default this checkout; DEPLOY_APP_DIRS="Dockerfile.worker=DIR,
 * Dockerfile.gateway=DIR" points at runtime trees assembled as the Dockerfiles' final stages are
 * (production-only node_modules, the copied dist), to run the same test against those.
 */
const APP_DIRS: Record<string, string> = Object.fromEntries(
  (process.env.DEPLOY_APP_DIRS ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]),
);

const PASSWORD = 'deploy-test-password';
/** What the operator sets on the host (or in .env) for compose. */
const HOST_VARS: Env = { MODEL_SOURCE: '/checkpoints', REDIS_PASSWORD: PASSWORD };

interface Machine {
  redisPort: number;
  /** Host directories standing in for named volumes. */
  volumes: Record<string, string>;
  /** Host directories standing in for bind-mount sources. */
  binds: Record<string, string>;
  gatewayPort: number;
}

interface Launch {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  healthcheck: string[] | undefined;
}

/** The process compose would start for a service, rewritten for this machine. */
function launchFor(compose: ComposeFile, name: string, machine: Machine): Launch {
  const service = compose.services[name] as ComposeService;
  const dockerfile = service.build?.dockerfile as string;
  const image = finalStage(parseDockerfile(dockerfile));
  const appRoot = APP_DIRS[dockerfile] ?? ROOT;
  const appDir = service.working_dir ?? workdir(image);
  expect(appDir).toBe('/app');

  const mounts = serviceVolumes(service).map((v) => {
    const host = v.named ? machine.volumes[v.source] : machine.binds[v.source];
    if (host === undefined) throw new Error(`${name}: no stand-in for the mount ${v.source}:${v.target}`);
    return { target: v.target, host };
  });
  mounts.push({ target: appDir as string, host: appRoot });
  mounts.sort((a, b) => b.target.length - a.target.length);
  const path = (value: string) => {
    const m = mounts.find((mt) => value === mt.target || value.startsWith(`${mt.target}/`));
    return m ? m.host + value.slice(m.target.length) : value;
  };

  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...stageEnv(image), ...serviceEnv(service) };
  for (const [k, v] of Object.entries(env)) env[k] = path(v);
  if (env.REDIS_URL !== undefined) {
    const url = new URL(env.REDIS_URL);
    expect(Object.keys(compose.services)).toContain(url.hostname); // a compose service name
    url.hostname = '127.0.0.1';
    url.port = String(machine.redisPort);
    env.REDIS_URL = url.toString();
  }
  for (const port of (service.ports ?? []) as string[]) {
    // "host:container": the gateway listens on the container port (its PORT default); here, a free one.
    expect(port.split(':').at(-1)).toBe('6006');
    env.PORT = String(machine.gatewayPort);
    env.HOST = '127.0.0.1';
  }

  const { entrypoint, command } = serviceCommand(service, image);
  const init = entrypoint[0] === '/usr/bin/tini' ? (TINI ? entrypoint : []) : entrypoint;
  const hc = service.healthcheck?.disable ? undefined : (service.healthcheck?.test as string[] | undefined) ?? healthcheck(image)?.command;
  return { argv: [...init, ...command].map(path), env, cwd: path(appDir as string), healthcheck: hc?.[0] === 'CMD' ? hc.slice(1) : hc };
}

interface Proc {
  name: string;
  child: ChildProcess;
  output: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

const running: Proc[] = [];

function start(name: string, launch: Pick<Launch, 'argv' | 'env' | 'cwd'>): Proc {
  const [file, ...args] = launch.argv as [string, ...string[]];
  const child = spawn(file, args, { cwd: launch.cwd, env: launch.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let all = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    all += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => (all += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const proc = { name, child, output: () => all, stdout: () => out, exited };
  running.push(proc);
  return proc;
}

async function run(name: string, launch: Pick<Launch, 'argv' | 'env' | 'cwd'>, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; output: string }> {
  const p = start(name, launch);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), output: p.output() };
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 45_000, procs: Proc[] = []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    const dead = procs.find((p) => p.child.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited (${dead.child.exitCode}) while waiting for ${what}:\n${dead.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${procs.map((p) => `--- ${p.name}\n${p.output().slice(-1500)}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** name → size:mtime of every file under a directory, to show nothing was written. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        out[p.slice(dir.length)] = `${s.size}:${s.mtimeMs}`;
      }
    }
  };
  walk(dir);
  return out;
}

/** Reads an SSE response; `firstToken` resolves when the first `event: token` has arrived. */
function streamEvents(res: Response): { firstToken: Promise<void>; received: () => number; events: Promise<SseEvent[]> } {
  let signal: () => void = () => {};
  const firstToken = new Promise<void>((resolve) => (signal = resolve));
  let count = 0;
  const events = readSse(res, (e) => {
    count++;
    if (e.event === 'token') signal();
  }).finally(() => signal());
  return { firstToken, received: () => count, events };
}

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('the images\' entrypoints, run as compose would run them', () => {
  let redis: PrivateRedis;
  let tmp: string;
  let machine: Machine;
  const compose = loadCompose(HOST_VARS);

  beforeAll(async () => {
    redis = await startRedis({ appendOnly: true });
    // Like compose's redis with REDIS_PASSWORD set: clients must authenticate.
    const admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
    await admin.config('SET', 'requirepass', PASSWORD);
    admin.disconnect();
    tmp = mkdtempSync(join(tmpdir(), 'gpt2-int8-deploy-'));
    machine = {
      redisPort: redis.port,
      volumes: { models: join(tmp, 'models') },
      binds: { './checkpoints': tinyCheckpoint() },
      gatewayPort: await freePort(),
    };
  });

  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    await redis?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const artifact = () => join(machine.volumes.models as string, 'current');

  it('quantizer: MODEL_SOURCE=/checkpoints (the mounted checkpoint) → exits 0 and writes the artifact into the models volume', async () => {
    const launch = launchFor(compose, 'quantizer', machine);
    expect(launch.argv.slice(-4)).toEqual(['services/quantizer/dist/cli.js', 'ensure', '--out', artifact()]);
    expect(launch.env.MODEL_SOURCE).toBe(tinyCheckpoint());
    const r = await run('quantizer', launch, 120_000);
    expect(r.code, r.output).toBe(0);
    for (const f of ['model.int8.onnx', 'model.int8.onnx.data', 'model.fp32.onnx', 'manifest.json', 'report.json']) expect(existsSync(join(artifact(), f)), f).toBe(true);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) as string)).toMatchObject({ out: artifact(), reused: false, synthetic: true });
    expect(r.output).toContain('synthetic');
  }, 150_000);

  it('quantizer: run again (every `docker compose up`) → exits 0 as a no-op', async () => {
    const before = snapshot(artifact());
    const r = await run('quantizer again', launchFor(compose, 'quantizer', machine));
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) as string)).toMatchObject({ reused: true });
    expect(snapshot(artifact())).toEqual(before);
  }, 90_000);

  it('quantizer: a MODEL_SOURCE that does not exist → exits non-zero with a message, the artifact untouched', async () => {
    const before = snapshot(artifact());
    const r = await run('quantizer (bad source)', launchFor(loadCompose({ ...HOST_VARS, MODEL_SOURCE: '/checkpoints/no-such-model' }), 'quantizer', machine));
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/error: .*no-such-model/);
    expect(snapshot(artifact())).toEqual(before);
  }, 90_000);

  describe('gateway and two workers', () => {
    let gateway: Proc;
    let workers: Proc[];
    let base: string;
    let gatewayLaunch: Launch;
    let workerLaunch: Launch;
    let modelsBefore: Record<string, string>;

    beforeAll(() => {
      gatewayLaunch = launchFor(compose, 'gateway', machine);
      workerLaunch = launchFor(compose, 'worker', machine);
      base = `http://127.0.0.1:${machine.gatewayPort}`;
      modelsBefore = snapshot(machine.volumes.models as string);
    });

    it('start; /readyz turns 200 with both workers ready; a predict succeeds', async () => {
      expect(gatewayLaunch.argv.slice(-2)).toEqual(['node', 'services/gateway/dist/main.js']);
      expect(workerLaunch.argv.slice(-2)).toEqual(['node', 'services/worker/dist/main.js']);
      expect(workerLaunch.env.MODEL_DIR).toBe(artifact());
      expect(new URL(workerLaunch.env.REDIS_URL as string).password).toBe(PASSWORD);
      expect(gatewayLaunch.env.NODE_ENV).toBe('production');

      gateway = start('gateway', gatewayLaunch);
      workers = [start('worker 1', workerLaunch), start('worker 2', workerLaunch)];
      const all = [gateway, ...workers];
      const ready = await until('/readyz 200 with 2 workers', async () => {
        const res = await fetch(`${base}/readyz`).catch(() => undefined);
        if (res?.status !== 200) return undefined;
        const body = (await res.json()) as { workers: { ready: number } };
        return body.workers.ready === 2 ? body : undefined;
      }, 60_000, all);
      expect(ready).toMatchObject({ status: 'ready', workers: { ready: 2, error: 0 } });

      const res = await post(`${base}/api/predict`, { prompt: 'The quick brown fox', top_k: 3 });
      const body = (await res.json()) as { token: string; top_k: unknown[]; worker: string; model: { synthetic: boolean; sha256: string } };
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.top_k).toHaveLength(3);
      expect(body.model.synthetic).toBe(true);
      const manifest = JSON.parse(readFileSync(join(artifact(), 'manifest.json'), 'utf8')) as Record<string, unknown>;
      expect(JSON.stringify(manifest)).toContain(body.model.sha256);
      // The rate limit compose turns on is in force.
      expect(Number(res.headers.get('x-ratelimit-limit'))).toBe(Number(gatewayLaunch.env.RATE_LIMIT_PER_MINUTE));
    }, 90_000);

    it('the images\' HEALTHCHECK commands pass against the running services', async () => {
      expect(gatewayLaunch.healthcheck).toEqual(['node', 'deploy/gateway-healthcheck.mjs']);
      expect(workerLaunch.healthcheck).toEqual(['node', 'deploy/worker-healthcheck.mjs']);
      const g = await run('gateway healthcheck', { argv: gatewayLaunch.healthcheck as string[], env: gatewayLaunch.env, cwd: gatewayLaunch.cwd }, 10_000);
      expect(g.code, g.output).toBe(0);
      expect(g.stdout).toMatch(/^healthy: .*\/healthz answered 200/);
      const w = await run('worker healthcheck', { argv: workerLaunch.healthcheck as string[], env: workerLaunch.env, cwd: workerLaunch.cwd }, 10_000);
      expect(w.code, w.output).toBe(0);
      expect(w.stdout).toMatch(/^healthy: worker \S+ ready/);
    }, 30_000);

    it('SIGTERM with requests in flight: they complete, then gateway and workers exit 0', async () => {
      const slow = { prompt: 'Once upon a time', max_new_tokens: 256, temperature: 1, top_p: 0.9 };
      const streamRes = await post(`${base}/api/generate`, { ...slow, seed: 1, stream: true });
      expect(streamRes.status).toBe(200);
      const stream = streamEvents(streamRes);
      const plain = post(`${base}/api/generate`, { ...slow, seed: 2 });
      await stream.firstToken;
      // Both jobs taken by workers (BullMQ's active list) before the signal.
      const queueName = gatewayLaunch.env.QUEUE_NAME || 'infer';
      const probe = new Redis(gatewayLaunch.env.REDIS_URL as string);
      try {
        await until('both jobs active', async () => ((await probe.llen(`bull:${queueName}:active`)) >= 2 ? true : undefined), 10_000);
      } finally {
        probe.disconnect();
      }

      const all = [gateway, ...(workers as [Proc, Proc])];
      const atSignal = stream.received();
      for (const p of all) p.child.kill('SIGTERM');
      const codes = await Promise.all(all.map((p) => p.exited));

      const events = await stream.events;
      // Tokens kept coming after the signal: the stream was mid-way, and it was finished.
      expect(events.length).toBeGreaterThan(atSignal);
      expect(events.at(-1)?.event, JSON.stringify(events.at(-1))).toBe('done');
      expect((events.at(-1)?.data as { tokens: unknown[] }).tokens).toHaveLength(events.filter((e) => e.event === 'token').length);
      const plainRes = await plain;
      expect(plainRes.status).toBe(200);
      expect(((await plainRes.json()) as { tokens: unknown[] }).tokens.length).toBeGreaterThan(0);

      expect(codes, all.map((p) => `--- ${p.name}\n${p.output().slice(-1500)}`).join('\n')).toEqual([0, 0, 0]);
      for (const w of workers) expect(w.output()).toContain('draining');
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    }, 90_000);

    it('afterwards the healthchecks fail, and the workers and gateway never wrote to the models volume', async () => {
      const g = await run('gateway healthcheck', { argv: gatewayLaunch.healthcheck as string[], env: gatewayLaunch.env, cwd: gatewayLaunch.cwd }, 10_000);
      expect(g.code).toBe(1);
      const w = await run('worker healthcheck', { argv: workerLaunch.healthcheck as string[], env: workerLaunch.env, cwd: workerLaunch.cwd }, 10_000);
      expect(w.code).toBe(1);
      expect(w.stdout).toMatch(/^unhealthy: no heartbeat/);
      expect(snapshot(machine.volumes.models as string)).toEqual(modelsBefore);
    }, 30_000);
  });
});
