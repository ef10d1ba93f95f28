/**
 * The built programs as a user runs them: `node services/worker/dist/main.js` (graceful drain on
 * SIGTERM, bad settings) and `node services/worker/dist/infer-cli.js`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobResult } from '@gpt2-int8/contract/job';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { type PrivateRedis, startRedis } from '../../../test/support/redis-server.js';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';
import { tempDir } from './artifact-copy.js';
import { generateJob, QueueClient, until } from './queue-client.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = join(ROOT, 'services/worker/dist/main.js');
const CLI = join(ROOT, 'services/worker/dist/infer-cli.js');

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(script: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', LOG_PRETTY: 'false', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

const logLines = (p: Proc) =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(() => {
  execFileSync('npx', ['tsc', '-b', 'services/worker'], { cwd: ROOT, stdio: 'pipe' });
}, 120_000);

describe('the worker process', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => redis.dispose());

  it('on SIGTERM stops taking jobs, finishes the ones in flight, and exits 0', async () => {
    const queueName = `q-${randomUUID().slice(0, 8)}`;
    const client = new QueueClient(redis.url, queueName);
    const proc = run(MAIN, [], { REDIS_URL: redis.url, MODEL_DIR: tinyArtifact(), QUEUE_NAME: queueName, WORKER_ID: 'drain-me', MAX_BATCH: '4' });
    try {
      await client.ready();
      await until('the ready heartbeat', async () => (await client.heartbeat('drain-me'))?.state === 'ready' || undefined, 30_000);
      // Sampled generation over a flat synthetic distribution: slow enough to be caught mid-way.
      const slow = { max_new_tokens: 100, temperature: 1, top_p: 0.9, seed: 1 };
      const jobs = await Promise.all([0, 1, 2, 3].map(() => client.add(generateJob('Once upon a time', slow))));
      await until('a streamed token', () => (jobs.some((j) => (client.progress.get(j.id as string)?.length ?? 0) > 0) ? true : undefined));
      proc.child.kill('SIGTERM');
      await until('the draining log line', () => logLines(proc).some((l) => l.msg === 'draining: finishing jobs in flight') || undefined);
      const late = await client.add(generateJob('Too late', { max_new_tokens: 2 }));
      expect(await proc.exited).toBe(0);

      const states = await Promise.all(jobs.map((j) => j.getState()));
      expect(states.every((s) => s === 'completed' || s === 'waiting')).toBe(true);
      const started = jobs.filter((j) => (client.progress.get(j.id as string)?.length ?? 0) > 0);
      for (const j of started) {
        const done = await client.queue.getJob(j.id as string);
        expect(await done?.getState()).toBe('completed');
        const result = done?.returnvalue as Extract<JobResult, { kind: 'generate' }>;
        expect(result.tokens.length).toBeGreaterThan(0);
        expect(result.worker).toBe('drain-me');
      }
      expect(await late.getState()).toBe('waiting');
      expect(await client.heartbeat('drain-me')).toBeUndefined();
      // Its log: JSON lines, each job's lines carrying the job's request id.
      const lines = logLines(proc);
      const generated = lines.filter((l) => l.msg === 'generated');
      expect(generated.length).toBeGreaterThanOrEqual(started.length);
      for (const l of generated) expect(jobs.map((j) => j.data.request_id)).toContain(l.request_id);
      expect(lines.some((l) => l.msg === 'worker stopped')).toBe(true);
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await client.close();
    }
  });

  it('exits non-zero naming a bad variable', async () => {
    const proc = run(MAIN, [], { REDIS_URL: redis.url, MODEL_DIR: tinyArtifact(), WORKER_THREADS: 'zero' });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toContain('WORKER_THREADS="zero" is not a whole number');
  });

  it('exits non-zero after MODEL_WAIT_MAX_MS without a manifest, saying why', async () => {
    const dir = tempDir();
    const proc = run(MAIN, [], { REDIS_URL: redis.url, MODEL_DIR: dir, MODEL_WAIT_MAX_MS: '500', QUEUE_NAME: `q-${randomUUID().slice(0, 8)}` });
    expect(await proc.exited).toBe(1);
    const lines = logLines(proc);
    expect(lines.some((l) => String(l.msg).startsWith('waiting for the quantizer'))).toBe(true);
    expect(lines.some((l) => l.level === 60 && String(l.msg).includes('MODEL_WAIT_MAX_MS=500'))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('npm run infer', () => {
  it('prints the prompt, the predicted token, the top-k and the latency', async () => {
    const proc = run(CLI, ['Artificial intelligence is'], { MODEL_DIR: tinyArtifact() });
    expect(await proc.exited).toBe(0);
    const out = proc.stdout();
    expect(out).toContain('Prompt:      "Artificial intelligence is" (4 tokens)');
    expect(out).toMatch(/Next token: {2}".*" \(id \d+\)/);
    expect(out).toContain('Top 5:');
    expect(out).toMatch(/Latency: {5}inference [\d.]+ ms \(median of 5 runs; first run [\d.]+ ms\)/);
    expect(out).toMatch(/^ +1\. ".*" +[\d.e-]+%/m);
    expect(out).toContain('SYNTHETIC');
  });

  it('answers in JSON with --json and honours --top-k and --model-dir', async () => {
    const proc = run(CLI, ['--json', '--top-k', '3', '--model-dir', tinyArtifact(), 'The', 'sky', 'is'], {});
    expect(await proc.exited).toBe(0);
    const r = JSON.parse(proc.stdout()) as { prompt: string; token_id: number; top_k: Array<{ token_id: number; prob: number }>; timings_ms: Record<string, number>; model: { sha256: string; synthetic: boolean } };
    expect(r.prompt).toBe('The sky is');
    expect(r.top_k).toHaveLength(3);
    expect(r.top_k[0]?.token_id).toBe(r.token_id);
    expect(r.timings_ms.inference).toBeGreaterThan(0);
    const manifest = await readManifest(tinyArtifact());
    expect(r.model).toMatchObject({ sha256: manifest.files['model.int8.onnx'].sha256, synthetic: true });
  });

  it('says to run the quantizer when there is no artifact', async () => {
    const dir = tempDir();
    const proc = run(CLI, ['--model-dir', dir, 'Hello'], {});
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toContain(`no model in ${dir}: manifest.json is missing. Run the quantizer first (npm run quantize -- --model <checkpoint> --out <dir>)`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a prompt longer than the context and bad usage', async () => {
    const long = run(CLI, ['word '.repeat(200)], { MODEL_DIR: tinyArtifact() });
    expect(await long.exited).toBe(1);
    expect(long.stderr()).toMatch(/PROMPT_TOO_LONG: the prompt is \d+ tokens; the model's context is 128 tokens/);
    const usage = run(CLI, ['--top-k', '0', 'x'], {});
    expect(await usage.exited).toBe(2);
    expect(usage.stderr()).toContain('Usage: npm run infer');
  });
});
