/**
 * `npm start` as a user runs it: the real command in a process group of its own, as a terminal
 * runs it, with nothing answering at REDIS_URL (so it starts its private Redis), the quantizer
 * turning the tiny checkpoint into an artifact, and two workers.
 *
 * - A worker SIGKILLed while 30 generations run: its jobs are taken over, the supervisor restarts
 *   it, every client gets 200, and 30 concurrent predicts after that each get their own answer.
 * - An unmodified openai client lists the model, completes, streams, chats and scores through /v1.
 * - Ctrl-C as a terminal sends it (SIGINT to the whole group) while 10 generations and a stream are
 *   in flight: all of them complete with 200, then everything exits, Redis last.
 * - Its terminal closed (SIGHUP to the group): the same drain.
 * - Its supervisor SIGKILLed, with npm start's default readable logs: every request is answered and
 *   every process exits, the private Redis included.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { post, until } from '../reliability/cluster.js';
import { readSse } from '../support/sse.js';
import { freePort } from '../support/redis-server.js';
import { tinyCheckpoint } from '../support/tiny-artifact.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Product {
  npm: ChildProcess;
  base: string;
  output(): string;
  exited: Promise<number | null>;
  /** The gateway, workers and Redis once they were ready. */
  startedServices: number[];
}

let product: Product | undefined;
let workDir: string | undefined;

afterEach(async () => {
  // The services first: once npm is killed they are orphans, no longer found below it (and those
  // seen at start, for a test that killed the supervisor).
  const services = product ? [...nodeServices(product.npm.pid as number), ...product.startedServices] : [];
  if (product && product.npm.exitCode === null) {
    try {
      process.kill(-(product.npm.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const pid of services) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  product = undefined;
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Parent pid of every process, from /proc. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      map.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  return map;
}

/** Pids of the processes below `root` whose command line contains `needle`. */
function descendants(root: number, needle = ''): number[] {
  const ppid = parents();
  const below = (pid: number): boolean => {
    for (let p = ppid.get(pid); p !== undefined && p > 1; p = ppid.get(p)) if (p === root) return true;
    return false;
  };
  return [...ppid.keys()].filter((pid) => {
    if (!below(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
    } catch {
      return false;
    }
  });
}

const nodeServices = (root: number) => [...descendants(root, 'services/'), ...descendants(root, 'redis-server')];

/** `env` is set over the test's own settings (undefined unsets one: e.g. LOG_PRETTY, for npm start's default readable logs). */
async function startProduct(env: NodeJS.ProcessEnv = {}): Promise<Product> {
  workDir = mkdtempSync(join(tmpdir(), 'npm-start-'));
  const port = await freePort();
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    detached: true, // its own process group, as a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // Nothing listens there: npm start starts its private redis-server.
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      PORT: String(port),
      MODEL_SOURCE: tinyCheckpoint(),
      MODEL_DIR: join(workDir, 'models', 'current'),
      WORKERS: '2',
      QUEUE_NAME: 'npmstart',
      LOG_PRETTY: 'false',
      NODE_ENV: 'production',
      ...env,
    },
  });
  let out = '';
  npm.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const p: Product = { npm, base: `http://127.0.0.1:${port}`, output: () => out, exited, startedServices: [] };
  product = p;
  await waitWorkersReady(p, 2, 90_000);
  p.startedServices = nodeServices(npm.pid as number);
  return p;
}

async function readyWorkers(base: string): Promise<number> {
  const res = await fetch(`${base}/readyz`);
  const body = (await res.json()) as { workers?: { ready: number } };
  return body.workers?.ready ?? 0;
}

async function waitWorkersReady(p: Product, n: number, timeoutMs: number): Promise<void> {
  await until(`${n} workers ready under npm start`, async () => (await readyWorkers(p.base)) === n, timeoutMs, () => p.output().slice(-3000), 200);
}

const generation = (i: number) => ({ prompt: `Story number ${i} begins with`, max_new_tokens: 200 });

describe('npm start', () => {
  it('survives a SIGKILLed worker: 30 generations in flight all get 200, the worker comes back, 30 predicts each get their own answer', async () => {
    const p = await startProduct();
    const workers = descendants(p.npm.pid as number, 'services/worker/dist/main.js');
    expect(workers).toHaveLength(2);

    const gens = Array.from({ length: 30 }, (_, i) => post(p.base, '/api/generate', generation(i)).then(async (r) => ({ status: r.status, body: await r.text() })));
    await new Promise((r) => setTimeout(r, 300));
    process.kill(workers[0] as number, 'SIGKILL');
    const results = await Promise.all(gens);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);

    await until('the supervisor says it restarts the worker', () => /worker-\d was killed by SIGKILL after [\d.]+ s; restarting it in 1 s/.test(p.output()), 10_000, () => p.output().slice(-3000));
    await waitWorkersReady(p, 2, 30_000);
    const restarted = descendants(p.npm.pid as number, 'services/worker/dist/main.js');
    expect(restarted).toHaveLength(2);
    expect(restarted).not.toContain(workers[0]);

    const prompts = Array.from({ length: 30 }, (_, i) => `Prompt ${i}: the weather today is`);
    const answers = await Promise.all(prompts.map((prompt) => post(p.base, '/api/predict', { prompt }).then(async (r) => ({ status: r.status, body: (await r.json()) as { prompt: string } }))));
    expect(answers.map((a) => a.status)).toEqual(prompts.map(() => 200));
    expect(answers.map((a) => a.body.prompt)).toEqual(prompts);
  }, 180_000);

  it('serves an unmodified openai client: models, completion, stream, chat, scoring', async () => {
    const p = await startProduct();
    const client = new OpenAI({ baseURL: `${p.base}/v1`, apiKey: 'unused', maxRetries: 0 });
    const models = await client.models.list();
    const model = models.data[0]?.id as string;
    expect(models.data).toHaveLength(1);
    const done = await client.completions.create({ model, prompt: 'The weather today', max_tokens: 8, temperature: 0 });
    expect(done.choices[0]?.text.length).toBeGreaterThan(0);
    let streamed = '';
    for await (const chunk of await client.completions.create({ model, prompt: 'The weather today', max_tokens: 8, temperature: 0, stream: true })) {
      streamed += chunk.choices.map((c) => c.text).join('');
    }
    expect(streamed).toBe(done.choices[0]?.text);
    const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5, temperature: 0 });
    expect(chat.choices[0]?.message.role).toBe('assistant');
    const scored = await client.completions.create({ model, prompt: 'The weather today', max_tokens: 0, echo: true, logprobs: 1 });
    const lp = scored.choices[0]?.logprobs;
    expect(lp?.token_logprobs?.[0]).toBeNull();
    expect(lp?.token_logprobs?.slice(1).every((x) => typeof x === 'number' && x < 0)).toBe(true);
  }, 180_000);

  it('drains on Ctrl-C to the whole process group: 10 generations and a stream in flight all complete, then every process exits', async () => {
    const p = await startProduct();
    const services = nodeServices(p.npm.pid as number);
    expect(services.length).toBe(4); // gateway, two workers, Redis

    const gens = Array.from({ length: 10 }, (_, i) => post(p.base, '/api/generate', generation(i)).then(async (r) => ({ status: r.status, body: (await r.json()) as { tokens?: unknown[] } })));
    const streamRes = await post(p.base, '/api/generate', { ...generation(99), stream: true });
    expect(streamRes.status).toBe(200);
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const stream = readSse(streamRes, (e) => {
      if (e.event === 'token') first();
    });
    await gotFirst;

    process.kill(-(p.npm.pid as number), 'SIGINT');
    const results = await Promise.all(gens);
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    for (const r of results) expect(r.body.tokens?.length).toBeGreaterThan(0);
    const events = await stream;
    const done = events.find((e) => e.event === 'done');
    expect(done, `stream events: ${events.map((e) => e.event).join(',')}`).toBeDefined();
    expect(events.filter((e) => e.event === 'token')).toHaveLength((done?.data.tokens as unknown[]).length);

    expect(await p.exited).toBe(0);
    const out = p.output();
    expect(out).toMatch(/SIGINT: draining/);
    expect(out).not.toMatch(/SIGINT again/);
    expect(out.indexOf('gateway stopped; the workers finish their jobs')).toBeLessThan(out.indexOf('stopping the private Redis'));
    await until('every service process gone', () => services.every((pid) => !existsPid(pid)), 10_000);
  }, 180_000);
});

describe('npm start, stopped otherwise than by Ctrl-C', () => {
  it('drains when its terminal closes (SIGHUP to the whole group): generations in flight all complete, then every process exits', async () => {
    const p = await startProduct();
    const services = p.startedServices;
    expect(services.length).toBe(4);
    const gens = Array.from({ length: 6 }, (_, i) => post(p.base, '/api/generate', generation(i)).then((r) => r.status));
    await new Promise((r) => setTimeout(r, 300));

    process.kill(-(p.npm.pid as number), 'SIGHUP');
    expect(await Promise.all(gens)).toEqual(Array(6).fill(200));
    await until('every service process gone', () => services.every((pid) => !existsPid(pid)), 20_000);
    expect(p.output()).toMatch(/SIGHUP: draining/);
  }, 180_000);

  it('leaves nothing behind when its supervisor is SIGKILLed, with its default readable logs: the gateway, the workers and the private Redis exit, and no request hangs', async () => {
    const p = await startProduct({ LOG_PRETTY: undefined, NODE_ENV: undefined });
    const services = p.startedServices;
    expect(services.length).toBe(4);
    const [start] = descendants(p.npm.pid as number, 'scripts/dist/start.js');
    expect(start).toBeDefined();

    const gens = Array.from({ length: 6 }, (_, i) => post(p.base, '/api/generate', generation(i)).then(async (r) => r.status, () => 'connection closed'));
    const streamRes = await post(p.base, '/api/generate', { ...generation(99), stream: true });
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const stream = readSse(streamRes, (e) => {
      if (e.event === 'token') first();
    }).then((events) => events.at(-1)?.event, () => 'connection closed');
    await gotFirst;

    process.kill(start as number, 'SIGKILL');
    // Their answers depend on how far each got before Redis stopped; what matters is that each gets one.
    const settled = await Promise.race([Promise.all([...gens, stream]), new Promise((r) => setTimeout(() => r('some request still open after 20 s'), 20_000))]);
    expect(Array.isArray(settled), String(settled)).toBe(true);
    await until('every service process gone, Redis too', () => services.every((pid) => !existsPid(pid)), 20_000, () => `still running: ${services.filter(existsPid).join(', ')}`);
  }, 180_000);
});

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
