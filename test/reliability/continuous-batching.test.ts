/**
 * Continuous batching through every real part (HTTP → gateway → Redis → a worker with
 * CONTINUOUS_BATCHING=true → back): each of 32 generations of different prompt lengths, greedy and
 * seeded sampling, joining and leaving at different times, gets exactly the tokens it gets alone;
 * and a stream dropped after its first token is cancelled on the worker, which logs it and counts it
 * in the metrics the gateway shows.
 * On the tiny synthetic artifact, and on the trained student-tiny when it is beside the repository.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateResponse } from '@gpt2-int8/contract/api';
import { type PrivateRedis, startRedis } from '../support/redis-server.js';
import { freePort, type ServiceProcess, startService, waitFor200 } from '../support/services.js';
import { tinyArtifact } from '../support/tiny-artifact.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STUDENT = join(ROOT, '..', 'shared', 'models', 'student-tiny');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WORDS = ['The', 'river', 'of', 'time', 'flows', 'slowly', 'under', 'a', 'bridge', 'made', 'from', 'old', 'stone', 'and', 'quiet', 'light'];
/** 32 requests: prompts of 1 to 60 words, greedy and seeded sampling, 2 to 40 tokens, arriving over ~0.3 s. */
const REQUESTS = Array.from({ length: 32 }, (_, i) => ({
  body: {
    prompt: Array.from({ length: 1 + ((i * 23) % 60) }, (_, k) => WORDS[(k + i) % WORDS.length]).join(' '),
    max_new_tokens: 2 + ((i * 13) % 39),
    ...(i % 2 === 1 ? { temperature: 0.8, top_k: 50, seed: 100 + i } : {}),
  },
  delayMs: (i * 37) % 300,
}));

const HAS_STUDENT = existsSync(join(STUDENT, 'config.json'));

let redis: PrivateRedis;
let studentDir: string | undefined;
beforeAll(async () => {
  redis = await startRedis();
  if (HAS_STUDENT) {
    studentDir = mkdtempSync(join(tmpdir(), 'gpt2-int8-student-'));
    execFileSync(process.execPath, [join(ROOT, 'services/quantizer/dist/cli.js'), 'quantize', '--model', STUDENT, '--out', studentDir, '--report-reps', '1'], { cwd: ROOT, stdio: 'pipe' });
  }
}, 240_000);
afterAll(async () => {
  await redis?.dispose();
  if (studentDir) rmSync(studentDir, { recursive: true, force: true });
});

const MODELS: [string, () => string | undefined, boolean][] = [
  ['tiny synthetic', () => tinyArtifact(), true],
  // Skipped when the trained model is not beside the repository (../shared/models/student-tiny).
  ['student-tiny', () => studentDir, HAS_STUDENT],
];

for (const [name, modelDir, present] of MODELS) describe.skipIf(!present)(`continuous batching through the gateway and a worker (${name})`, () => {
  let base = '';
  const services: ServiceProcess[] = [];
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    const dir = modelDir() as string;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = { REDIS_URL: redis.url, MODEL_DIR: dir, QUEUE_NAME: `cb-${port}` };
    services.push(startService('gateway', { ...env, PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_PER_MINUTE: '0' }));
    worker = startService('worker', { ...env, WORKER_ID: 'cb-worker', CONTINUOUS_BATCHING: 'true', MAX_ACTIVE_SEQUENCES: '32', MAX_STEP_TOKENS: '32', COMPARE_FP32: 'false' });
    services.push(worker);
    await waitFor200(`${base}/readyz`);
  }, 120_000);
  afterAll(async () => {
    const codes = await Promise.all(services.map((s) => s.stop('SIGTERM')));
    expect(codes.every((c) => c === 0)).toBe(true);
  });

  const post = (body: unknown, signal?: AbortSignal) => fetch(`${base}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
  const ids = (g: GenerateResponse) => g.tokens.map((t) => t.token_id);

  it('gives each of 32 generations joining and leaving at different times the tokens it gets alone', async () => {
    const alone: GenerateResponse[] = [];
    for (const r of REQUESTS) {
      const res = await post(r.body);
      expect(res.status).toBe(200);
      alone.push((await res.json()) as GenerateResponse);
    }
    const together = await Promise.all(
      REQUESTS.map(async (r) => {
        await sleep(r.delayMs);
        const res = await post(r.body);
        expect(res.status).toBe(200);
        return (await res.json()) as GenerateResponse;
      }),
    );
    REQUESTS.forEach((_, i) => {
      expect(ids(together[i] as GenerateResponse), `request ${i}`).toEqual(ids(alone[i] as GenerateResponse));
      expect(together[i]?.finish_reason).toBe(alone[i]?.finish_reason);
    });
  });

  it('stops a stream dropped after its first token: the worker cancels it and logs it', async () => {
    const controller = new AbortController();
    const body = { prompt: 'Once', max_new_tokens: 256, stream: true };
    const res = await post(body, controller.signal);
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('event: token')) text += (await reader.read()).value ?? '';
    controller.abort();
    const lines = () =>
      (worker as ServiceProcess)
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; new_tokens?: number });
    const deadline = Date.now() + 10_000;
    while (!lines().some((l) => l.msg === 'cancelled') && Date.now() < deadline) await sleep(50);
    const cancelled = lines().find((l) => l.msg === 'cancelled');
    expect(cancelled, (worker as ServiceProcess).output().slice(-2000)).toBeDefined();
    expect(lines().some((l) => l.msg?.startsWith('cancel requested'))).toBe(true);
    // Stopped long before its 256 tokens (or the context) were done.
    const full = (await (await post({ ...body, stream: false })).json()) as GenerateResponse;
    expect(cancelled?.new_tokens).toBeLessThan(full.tokens.length);
    // The worker serves on.
    expect((await post({ prompt: 'Hello', max_new_tokens: 3 })).status).toBe(200);
    // Its metrics show it (through its heartbeat, refreshed every second, on the gateway's /metrics).
    let metrics = '';
    const until = Date.now() + 10_000;
    while (!/^gateway_worker_generations_cancelled [1-9]/m.test(metrics) && Date.now() < until) {
      await sleep(200);
      metrics = await (await fetch(`${base}/metrics`)).text();
    }
    expect(metrics).toMatch(/^gateway_worker_generations_cancelled [1-9]/m);
    expect(metrics).toMatch(/^gateway_worker_active_sequences \d+/m);
    expect(metrics).toMatch(/^gateway_worker_rows_per_step [\d.]+/m);
    expect(metrics).toMatch(/^gateway_generation_time_to_first_token_seconds_count [1-9]/m);
  });

  it('reports rows per step above 1 while generations run together', async () => {
    const seen: number[] = [];
    const running = Promise.all(Array.from({ length: 8 }, () => post({ prompt: 'Once upon a time', max_new_tokens: 100 }).then((r) => r.text())));
    let finishedAt: number | undefined;
    void running.then(() => (finishedAt = performance.now()));
    // The gauge covers the steps since the worker's previous heartbeat (one a second): the beat after
    // the generations ended reports them, even when they all ran between two beats.
    while (finishedAt === undefined || performance.now() - finishedAt < 1500) {
      const m = /^gateway_worker_rows_per_step ([\d.]+)/m.exec(await (await fetch(`${base}/metrics`)).text());
      if (m) seen.push(Number(m[1]));
      await sleep(250);
    }
    await running;
    expect(Math.max(0, ...seen)).toBeGreaterThan(1);
  });
});
