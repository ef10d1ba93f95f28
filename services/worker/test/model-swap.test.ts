/**
 * A serving worker and a new artifact in its MODEL_DIR (in-process, real Redis, the tiny artifacts
 * of two seeds): it moves to a good one, refuses a damaged one while it keeps serving, holds a
 * compare whose FP32 file is gone until it serves the new model, and the fleet's swap lock lets one
 * worker at a time through. The whole service under load is test/reliability/model-swap.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobResult, modelCardKey, modelSwapLockKey, type WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { createRedis } from '@gpt2-int8/contract/redis';
import { buildTinyArtifact, replaceArtifact } from '../../../test/support/build-artifact.js';
import { type PrivateRedis, startRedis } from '../../../test/support/redis-server.js';
import { readWorkerConfig } from '../src/config.js';
import { acquireSwapLock, LOCK_TTL_MS } from '../src/swap-lock.js';
import { startWorkerService, type WorkerService } from '../src/worker-service.js';
import { copyArtifact, tempDir } from './artifact-copy.js';
import { captureLogger, compareJob, predictJob, QueueClient, until } from './queue-client.js';

let redis: PrivateRedis;
let work: string;
/** The seed-2 artifact; the served one starts as a copy of the shared (seed-1) tiny artifact. */
let next: string;

beforeAll(async () => {
  redis = await startRedis();
  work = tempDir('gpt2-int8-worker-swap-');
  ({ artifact: next } = await buildTinyArtifact(join(work, 'seed-2'), 2));
});
afterAll(async () => {
  await redis?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

const int8Sha = async (dir: string) => (await readManifest(dir)).files['model.int8.onnx'].sha256;

/** A worker serving a private copy of the tiny artifact, and a client on its queue. */
async function servingWorker(env: Record<string, string> = {}) {
  const modelDir = join(work, randomUUID().slice(0, 8), 'current');
  mkdirSync(modelDir, { recursive: true });
  copyArtifact(modelDir);
  const queueName = `q-${randomUUID().slice(0, 8)}`;
  const id = `swap-${randomUUID().slice(0, 6)}`;
  const logs = captureLogger();
  const config = readWorkerConfig({ REDIS_URL: redis.url, MODEL_DIR: modelDir, QUEUE_NAME: queueName, WORKER_ID: id, ARTIFACT_POLL_MS: '100', ...env });
  const service = startWorkerService(config, logs.logger);
  const client = new QueueClient(redis.url, queueName);
  await Promise.all([service.ready, client.ready()]);
  return {
    modelDir,
    service,
    client,
    logs,
    id,
    heartbeat: () => client.heartbeat(id) as Promise<WorkerHeartbeat | undefined>,
    /** A staged copy of `from` beside MODEL_DIR, to damage and put in place. */
    stage: (from: string) => {
      const staged = `${modelDir}.staged-${randomUUID().slice(0, 6)}`;
      cpSync(from, staged, { recursive: true });
      return staged;
    },
    close: async () => {
      await service.close();
      await client.close();
    },
  };
}

const predictModel = async (client: QueueClient) => (await client.run<JobResult>(predictJob('The sky is'))).model.sha256;

describe('a serving worker and a new artifact', () => {
  let w: Awaited<ReturnType<typeof servingWorker>>;
  let oldSha: string;
  beforeAll(async () => {
    w = await servingWorker();
    oldSha = await int8Sha(w.modelDir);
  });
  afterAll(async () => w?.close());

  it('refuses a truncated one, keeps serving the old model, and says why in its heartbeat (still ready)', async () => {
    const staged = w.stage(next);
    truncateSync(join(staged, 'model.int8.onnx'), 4096);
    replaceArtifact(staged, w.modelDir);
    const hb = await until('the refusal', async () => {
      const h = await w.heartbeat();
      return h?.swap?.state === 'refused' ? h : undefined;
    });
    expect(hb).toMatchObject({ state: 'ready', model: { sha256: oldSha }, swap: { state: 'refused', sha256: await int8Sha(w.modelDir) } });
    expect(hb?.swap?.reason).toMatch(/model\.int8\.onnx is 4096 bytes, the manifest says \d+ \(truncated or replaced\)/);
    expect(await predictModel(w.client)).toBe(oldSha);
    expect(w.logs.lines().some((l) => l.level === 50 && String(l.msg).startsWith('refusing the new artifact, still serving the current model'))).toBe(true);
  });

  it('refuses an invalid manifest next, as soon as the files change again', async () => {
    const staged = w.stage(next);
    writeFileSync(join(staged, 'manifest.json'), '{"format_version": 1}');
    replaceArtifact(staged, w.modelDir);
    const hb = await until('the second refusal', async () => {
      const h = await w.heartbeat();
      return h?.swap?.reason?.includes('does not match manifest format 2') ? h : undefined;
    });
    expect(hb).toMatchObject({ state: 'ready', model: { sha256: oldSha }, swap: { state: 'refused' } });
    expect(await predictModel(w.client)).toBe(oldSha);
  });

  it('moves to a good one: later jobs name it, the heartbeat and the model card follow', async () => {
    replaceArtifact(w.stage(next), w.modelDir);
    const newSha = await int8Sha(next);
    await until('the new model in the heartbeat', async () => (await w.heartbeat())?.model?.sha256 === newSha || undefined);
    const hb = await w.heartbeat();
    expect(hb).toMatchObject({ state: 'ready', model: { sha256: newSha } });
    expect(hb?.swap).toBeUndefined();
    expect(await predictModel(w.client)).toBe(newSha);
    expect(w.service.model()?.sha256).toBe(newSha);
    const card = JSON.parse((await w.client.redis.get(modelCardKey(w.client.queueName, newSha))) as string) as { manifest: { files: object }; report: object | null };
    expect(card.manifest.files).toEqual((await readManifest(next)).files);
    expect(card.report).toMatchObject({ prompts: expect.any(Number) });
    expect(card.report).not.toHaveProperty('rows');
    // The old model's card is no longer refreshed: it expires with the heartbeat's TTL.
    expect(await w.client.redis.pttl(modelCardKey(w.client.queueName, oldSha))).toBeLessThanOrEqual(5000);
    const swapped = w.logs.lines().find((l) => String(l.msg).startsWith('swapped models'));
    expect(swapped).toMatchObject({ sha256: newSha, held_ms: expect.any(Number) });
  });

  it('ignores the same model written again (no swap)', async () => {
    const before = w.logs.lines().filter((l) => String(l.msg).startsWith('swapped models')).length;
    replaceArtifact(w.stage(next), w.modelDir);
    await new Promise((r) => setTimeout(r, 500));
    expect(w.logs.lines().filter((l) => String(l.msg).startsWith('swapped models')).length).toBe(before);
    expect((await w.heartbeat())?.swap).toBeUndefined();
  });
});

describe('a compare whose FP32 file the new artifact replaced', () => {
  it('goes back to the queue and is answered by the new model, not failed', async () => {
    // A slow poll, so the compare arrives before the worker has noticed the new artifact.
    const w = await servingWorker({ ARTIFACT_POLL_MS: '1500' });
    try {
      replaceArtifact(w.stage(next), w.modelDir);
      const r = await w.client.run<JobResult>(compareJob('The sky is'), 30_000);
      expect(r.model.sha256).toBe(await int8Sha(next));
      expect(w.logs.lines().some((l) => l.msg === 'back to the queue until this worker serves the new model')).toBe(true);
    } finally {
      await w.close();
    }
  });
});

describe('the fleet swap lock', () => {
  it('lets one worker at a time through, and outlives a holder that died only by its TTL', async () => {
    const conn = createRedis(redis.url, 'blocking');
    const queueName = `q-${randomUUID().slice(0, 8)}`;
    const signal = new AbortController().signal;
    try {
      const first = await acquireSwapLock(conn, queueName, 'w1', { pollMs: 20, signal });
      const waits: string[] = [];
      let secondHeld = false;
      const second = acquireSwapLock(conn, queueName, 'w2', { pollMs: 20, signal, onWait: (holder) => waits.push(holder) }).then((l) => {
        secondHeld = true;
        return l;
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(secondHeld).toBe(false);
      expect(waits).toEqual(['w1']);
      await first.release();
      const held = await second;
      expect(secondHeld).toBe(true);
      // A late release by the first holder does not free the second one's lock.
      await first.release();
      expect(await conn.get(modelSwapLockKey(queueName))).toMatch(/^w2:/);
      await held.release();
      expect(await conn.get(modelSwapLockKey(queueName))).toBeNull();

      // A holder that died: its key stays until the TTL, then the next worker gets it.
      await conn.set(modelSwapLockKey(queueName), 'dead:0', 'PX', 300);
      const t0 = Date.now();
      const after = await acquireSwapLock(conn, queueName, 'w3', { pollMs: 20, signal });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(await conn.pttl(modelSwapLockKey(queueName))).toBeLessThanOrEqual(LOCK_TTL_MS);
      await after.release();
    } finally {
      conn.disconnect();
    }
  });

  it('gives up waiting when the worker closes', async () => {
    const conn = createRedis(redis.url, 'blocking');
    const queueName = `q-${randomUUID().slice(0, 8)}`;
    try {
      await conn.set(modelSwapLockKey(queueName), 'other:0', 'PX', 10_000);
      const closing = new AbortController();
      const waiting = acquireSwapLock(conn, queueName, 'w1', { pollMs: 20, signal: closing.signal });
      closing.abort();
      await expect(waiting).rejects.toThrow();
    } finally {
      conn.disconnect();
    }
  });
});
