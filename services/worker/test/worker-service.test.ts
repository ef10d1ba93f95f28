import { randomUUID } from 'node:crypto';
import { copyFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TSchema } from 'typebox';
import { Errors } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompareResponseSchema, GenerateResponseSchema, PredictResponseSchema } from '@gpt2-int8/contract/api';
import { decodeJobError, HEARTBEAT_TTL_SECONDS, type JobReply, type JobResult, parseJobReply, replyChannel, workerHeartbeatKey } from '@gpt2-int8/contract/job';
import { createRedis } from '@gpt2-int8/contract/redis';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { encode } from '@gpt2-int8/runtime/tokenizer';
import { type PrivateRedis, startRedis } from '../../../test/support/redis-server.js';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';
import { readWorkerConfig } from '../src/config.js';
import { COMPARE_RUNS } from '../src/engine.js';
import { startWorkerService, type WorkerService } from '../src/worker-service.js';
import { copyArtifact, corrupt, editManifest, tempDir } from './artifact-copy.js';
import { captureLogger, compareJob, generateJob, predictJob, QueueClient, until } from './queue-client.js';

type Predict = Extract<JobResult, { kind: 'predict' }>;
type Generate = Extract<JobResult, { kind: 'generate' }>;
type Compare = Extract<JobResult, { kind: 'compare' }>;

const schemaErrors = (schema: TSchema, value: unknown) => [...Errors(schema, value)].map((e) => `${e.instancePath} ${e.message}`);

let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis.dispose());

function config(env: Record<string, string>) {
  return readWorkerConfig({ REDIS_URL: redis.url, MODEL_DIR: tinyArtifact(), LOG_LEVEL: 'debug', ...env });
}

describe('a worker serving the tiny artifact', () => {
  const queueName = `q-${randomUUID().slice(0, 8)}`;
  const workerId = 'test-worker-1';
  const logs = captureLogger();
  let service: WorkerService;
  let client: QueueClient;

  beforeAll(async () => {
    service = startWorkerService(config({ QUEUE_NAME: queueName, WORKER_ID: workerId }), logs.logger);
    client = new QueueClient(redis.url, queueName);
    await Promise.all([service.ready, client.ready()]);
  });
  afterAll(async () => {
    await service.close();
    await client.close();
  });

  it('publishes a ready heartbeat with the model', async () => {
    const hb = await client.heartbeat(workerId);
    const manifest = await readManifest(tinyArtifact());
    expect(hb).toMatchObject({ id: workerId, state: 'ready', pid: process.pid, model: { sha256: manifest.files['model.int8.onnx'].sha256, synthetic: true } });
    expect(hb?.model?.quantization).toMatch(/^int8 per-channel weights, dynamic per-row activations/);
    const ttl = await client.redis.ttl(workerHeartbeatKey(queueName, workerId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(HEARTBEAT_TTL_SECONDS);
  });

  it('answers predict in the API shape, with timings, worker and model', async () => {
    const job = predictJob('The sky is', 7);
    const r = await client.run<Predict>(job);
    expect(r.kind).toBe('predict');
    const { kind: _kind, ...body } = r;
    expect(schemaErrors(PredictResponseSchema, body)).toEqual([]);
    expect(r.prompt).toBe('The sky is');
    expect(r.top_k).toHaveLength(7);
    expect(r.worker).toBe(workerId);
    expect(r.model).toEqual(service.model());
    expect(r.timings_ms.inference).toBeGreaterThan(0);
    expect(r.timings_ms.tokenize).toBeGreaterThanOrEqual(0);
    expect(r.timings_ms.queue).toBeGreaterThanOrEqual(0);
    expect(r.timings_ms.total).toBeGreaterThanOrEqual(r.timings_ms.inference);
    // Every log line about the job carries its request id.
    await until('the job log line', () => logs.lines().find((l) => l.request_id === job.request_id && l.msg === 'predicted'));
  });

  it('streams generate tokens in order as progress, then the full result', async () => {
    const job = generateJob('Artificial intelligence is', { max_new_tokens: 20 });
    const added = await client.add(job);
    const r = (await added.waitUntilFinished(client.events, 30_000)) as Generate;
    const { kind: _kind, ...body } = r;
    expect(schemaErrors(GenerateResponseSchema, body)).toEqual([]);
    expect(['length', 'eos']).toContain(r.finish_reason);
    const streamed = await until('all progress events', () => {
      const p = client.progress.get(added.id as string) ?? [];
      return p.length === r.tokens.length ? p : undefined;
    });
    expect(streamed).toEqual(r.tokens);
    expect(streamed.map((t) => t.index)).toEqual(r.tokens.map((_, i) => i));
    expect(streamed.map((t) => t.token).join('')).toBe(r.text);
    expect(r.timings_ms.per_token).toHaveLength(r.finish_reason === 'length' ? 20 : r.tokens.length + 1);
    expect(r.timings_ms.inference).toBeCloseTo((r.timings_ms.per_token ?? []).reduce((a, b) => a + b, 0), 1);
  });

  it("replies on the job's reply channel: streamed tokens in order, then the result, and BullMQ still records it", async () => {
    const channel = replyChannel(queueName, 'test-gateway');
    const subscriber = createRedis(redis.url, 'blocking');
    const replies: JobReply[] = [];
    subscriber.on('message', (_channel: string, message: string) => replies.push(parseJobReply(message) as JobReply));
    await subscriber.subscribe(channel);
    try {
      const added = await client.add({ ...generateJob('The sky is', { max_new_tokens: 6 }), reply_to: channel });
      const recorded = (await added.waitUntilFinished(client.events, 30_000)) as Generate;
      const last = await until('the result on the reply channel', () => (replies.some((r) => 'result' in r) ? replies : undefined));
      expect(last.every((r) => r.id === added.id)).toBe(true);
      expect(last.at(-1)).toEqual({ id: added.id, result: recorded });
      expect(last.slice(0, -1)).toEqual(recorded.tokens.map((t) => ({ id: added.id, progress: t })));
      // Tokens went on the channel only, not also as BullMQ progress events.
      expect(client.progress.get(added.id as string)).toBeUndefined();

      const refused = await client.add({ ...predictJob('word '.repeat(200)), reply_to: channel });
      await refused.waitUntilFinished(client.events, 30_000).catch(() => undefined);
      const failed = await until('the refusal on the reply channel', () => replies.find((r) => r.id === refused.id));
      expect('failed' in failed && decodeJobError(failed.failed)?.code).toBe('PROMPT_TOO_LONG');
    } finally {
      subscriber.disconnect();
    }
  });

  it('generates without progress events when not streaming, and reproducibly with a seed', async () => {
    const sampled = { max_new_tokens: 12, temperature: 0.9, top_k: 40, top_p: 0.95, seed: 1234, stream: false };
    const a = await client.add(generateJob('I love', sampled));
    const ra = (await a.waitUntilFinished(client.events, 30_000)) as Generate;
    const rb = await client.run<Generate>(generateJob('I love', sampled));
    expect(rb.tokens).toEqual(ra.tokens);
    expect(ra.tokens).toHaveLength(12);
    await sleep(100);
    expect(client.progress.get(a.id as string)).toBeUndefined();
  });

  it('stops at a stop string', async () => {
    const greedy = await client.run<Generate>(generateJob('Hello world', { max_new_tokens: 10, stream: false }));
    const stop = greedy.text.slice(2, 5);
    const r = await client.run<Generate>(generateJob('Hello world', { max_new_tokens: 10, stop: [stop] }));
    expect(r.finish_reason).toBe('stop');
    expect(r.text).toBe(greedy.text.slice(0, greedy.text.indexOf(stop)));
  });

  it('compares FP32 and INT8 side by side', async () => {
    const r = await client.run<Compare>(compareJob('The sky is'));
    const { kind: _kind, ...body } = r;
    expect(schemaErrors(CompareResponseSchema, body)).toEqual([]);
    expect(r.same).toBe(r.int8.token_id === r.fp32.token_id);
    expect(r.speedup).toBeGreaterThan(0);
    // inference is every run of both models; each model's time is the median of its runs.
    expect(r.runs).toBe(COMPARE_RUNS);
    expect(r.timings_ms.inference).toBeGreaterThanOrEqual(Math.ceil(COMPARE_RUNS / 2) * (r.int8.inference_ms + r.fp32.inference_ms) - 1e-6);
    // The service's first compare: it waited for the FP32 model, and says so apart from inference.
    expect(r.timings_ms.load).toBeGreaterThan(0);
  });

  it('refuses a prompt longer than the context with PROMPT_TOO_LONG, without retrying', async () => {
    const prompt = 'word '.repeat(200);
    const tokens = encode(prompt).length;
    const job = await client.add(predictJob(prompt), 3);
    const err = await job.waitUntilFinished(client.events, 30_000).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    const decoded = decodeJobError((err as Error).message);
    expect(decoded).toEqual({ code: 'PROMPT_TOO_LONG', status: 413, message: `the prompt is ${tokens} tokens; the model's context is 128 tokens` });
    const failed = await client.queue.getJob(job.id as string);
    expect(failed?.attemptsMade).toBe(1);
  });

  it('refuses malformed job data with INVALID_JOB', async () => {
    const job = await client.queue.add('predict', { kind: 'predict', prompt: 'x' }, { attempts: 3 });
    const err = await job.waitUntilFinished(client.events, 30_000).catch((e: unknown) => e as Error);
    expect(decodeJobError((err as Error).message)?.code).toBe('INVALID_JOB');
  });

  it('runs concurrent predicts as batches, with the answers they get alone', async () => {
    const prompts = ['Hello world', 'The sky is', 'I love', 'Artificial intelligence is', 'Python is a popular', 'One', 'Two words', 'A longer prompt than most of the others'];
    const alone: Predict[] = [];
    for (const p of prompts) alone.push(await client.run<Predict>(predictJob(p, 10)));
    const engine = service.engine();
    const before = engine?.batchSizes('predict').length ?? 0;
    const together = await Promise.all(prompts.map((p) => client.run<Predict>(predictJob(p, 10))));
    const sizes = engine?.batchSizes('predict').slice(before) ?? [];
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(prompts.length);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    together.forEach((r, i) => {
      const a = alone[i] as Predict;
      expect(r.token_id).toBe(a.token_id);
      expect(r.top_k.map((t) => t.token_id)).toEqual(a.top_k.map((t) => t.token_id));
      r.top_k.forEach((t, j) => expect(t.prob).toBeCloseTo(a.top_k[j]?.prob as number, 6));
    });
  });

  it('keeps serving after Redis restarts, without restarting the worker', async () => {
    await redis.stop();
    await sleep(500);
    await redis.start();
    // The private Redis keeps no data: the heartbeat comes back by itself.
    await until('the heartbeat after the restart', async () => (await client.heartbeat(workerId).catch(() => undefined))?.state === 'ready' || undefined, 20_000, 200);
    const r = await client.run<Predict>(predictJob('The sky is'), 30_000);
    expect(r.worker).toBe(workerId);
  });

  it('removes its heartbeat when it closes', async () => {
    await service.close();
    expect(await client.heartbeat(workerId)).toBeUndefined();
  });
});

describe('a worker whose artifact is wrong', () => {
  it('refuses a sha256 mismatch, says why in its heartbeat, and serves once the artifact is fixed', async () => {
    const dir = copyArtifact();
    corrupt(dir, 'model.int8.onnx');
    const queueName = `q-${randomUUID().slice(0, 8)}`;
    const logs = captureLogger();
    const service = startWorkerService(config({ QUEUE_NAME: queueName, WORKER_ID: 'bad-sha', MODEL_DIR: dir, ARTIFACT_POLL_MS: '100' }), logs.logger);
    const client = new QueueClient(redis.url, queueName);
    try {
      const hb = await until('the error heartbeat', async () => {
        const h = await client.heartbeat('bad-sha');
        return h?.state === 'error' ? h : undefined;
      });
      expect(hb.reason).toMatch(/^refusing to serve: .*model\.int8\.onnx has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64} \(replaced or corrupted\); re-run the quantizer$/);
      expect(logs.lines().some((l) => l.level === 50 && String(l.msg).includes('refusing to serve'))).toBe(true);
      // It takes no jobs meanwhile.
      const job = await client.add(predictJob('The sky is'));
      await sleep(500);
      expect(await job.getState()).toBe('waiting');
      // The quantizer writes a good file: the worker notices and serves.
      copyFileSync(join(tinyArtifact(), 'model.int8.onnx'), join(dir, 'model.int8.onnx'));
      await service.ready;
      const r = (await job.waitUntilFinished(client.events, 30_000)) as Predict;
      expect(r.worker).toBe('bad-sha');
      expect((await client.heartbeat('bad-sha'))?.state).toBe('ready');
    } finally {
      await service.close();
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['a model config that does not match the graph', (dir: string) => editManifest(dir, (m) => void (m.config.n_layer = 4)), /does not match its manifest: the graph has no input past_key_values\.2\.key/],
    ['a manifest that is not valid', (dir: string) => writeFileSync(join(dir, 'manifest.json'), '{"format_version": 1}'), /does not match manifest format 2/],
    ['a truncated model', (dir: string) => truncateSync(join(dir, 'model.int8.onnx'), 4096), /is 4096 bytes, the manifest says \d+ \(truncated or replaced\)/],
  ])('refuses %s, saying why', async (_what, damage, reason) => {
    const dir = copyArtifact();
    damage(dir);
    const id = `bad-${randomUUID().slice(0, 6)}`;
    const service = startWorkerService(config({ QUEUE_NAME: `q-${randomUUID().slice(0, 8)}`, WORKER_ID: id, MODEL_DIR: dir }), captureLogger().logger);
    const client = new QueueClient(redis.url, 'unused');
    try {
      const hb = await until('the error heartbeat', async () => {
        const raw = await client.redis.get(workerHeartbeatKey(service.heartbeat.key.split(':workers:')[0] as string, id));
        const h = raw === null ? undefined : (JSON.parse(raw) as { state: string; reason?: string });
        return h?.state === 'error' ? h : undefined;
      });
      expect(hb.reason).toMatch(/^refusing to serve: /);
      expect(hb.reason).toMatch(reason);
    } finally {
      await service.close();
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('waits for a manifest that appears later, saying so', async () => {
    const dir = tempDir();
    const queueName = `q-${randomUUID().slice(0, 8)}`;
    const logs = captureLogger();
    const service = startWorkerService(config({ QUEUE_NAME: queueName, WORKER_ID: 'waiter', MODEL_DIR: dir }), logs.logger);
    const client = new QueueClient(redis.url, queueName);
    try {
      const hb = await until('the loading heartbeat', async () => {
        const h = await client.heartbeat('waiter');
        return h?.state === 'loading' && h.reason?.startsWith('waiting for the quantizer') ? h : undefined;
      });
      expect(hb.reason).toContain(join(dir, 'manifest.json'));
      await until('two wait log lines', () => logs.lines().filter((l) => String(l.msg).startsWith('waiting for the quantizer')).length >= 2 || undefined);
      const job = await client.add(predictJob('The sky is'));
      copyArtifact(dir);
      await service.ready;
      const r = (await job.waitUntilFinished(client.events, 30_000)) as Predict;
      expect(r.worker).toBe('waiter');
    } finally {
      await service.close();
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up after MODEL_WAIT_MAX_MS', async () => {
    const dir = tempDir();
    const service = startWorkerService(config({ QUEUE_NAME: `q-${randomUUID().slice(0, 8)}`, WORKER_ID: 'gives-up', MODEL_DIR: dir, MODEL_WAIT_MAX_MS: '300' }), captureLogger().logger);
    await expect(service.ready).rejects.toThrow(/MODEL_WAIT_MAX_MS=300/);
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails compare jobs with COMPARE_DISABLED when COMPARE_FP32=false', async () => {
    const queueName = `q-${randomUUID().slice(0, 8)}`;
    const service = startWorkerService(config({ QUEUE_NAME: queueName, WORKER_ID: 'no-fp32', COMPARE_FP32: 'false' }), captureLogger().logger);
    const client = new QueueClient(redis.url, queueName);
    try {
      await service.ready;
      const job = await client.add(compareJob('The sky is'));
      const err = await job.waitUntilFinished(client.events, 30_000).catch((e: unknown) => e as Error);
      expect(decodeJobError((err as Error).message)).toMatchObject({ code: 'COMPARE_DISABLED', status: 409 });
    } finally {
      await service.close();
      await client.close();
    }
  });
});
