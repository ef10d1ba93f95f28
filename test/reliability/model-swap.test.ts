/**
 * Hot model swap, through the real service: the built gateway and two built workers on a private
 * redis-server, serving a copy of the tiny artifact, under a steady load of predicts and (streamed)
 * generations.
 *
 * The quantizer's CLI writes a different model (another seed) into the served MODEL_DIR: no request
 * fails, /readyz never reports zero ready workers, the two workers never swap (load and drain) at
 * the same time,
 * every answer names the model (sha256) that produced it, every request sent after both workers
 * swapped is answered by the new model, and /api/model follows. A damaged new artifact is refused
 * by both workers, which keep serving the old model with the reason in /readyz, /api/model and the
 * heartbeats; a good one written after it is served.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInfoResponse } from '@gpt2-int8/contract/api';
import type { WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { buildTinyArtifact, replaceArtifact } from '../support/build-artifact.js';
import { type PrivateRedis, startRedis } from '../support/redis-server.js';
import { tinyArtifact } from '../support/tiny-artifact.js';
import { type Cluster, percentile, startCluster, until } from './cluster.js';
import { type Outcome, startLoad, tally } from './load.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKERS = ['swap-a', 'swap-b'];

let redis: PrivateRedis;
let work: string;
/** A second tiny synthetic checkpoint (another seed), and its artifact as the quantizer writes it. */
let checkpoint2: string;
let artifact2: string;

beforeAll(async () => {
  redis = await startRedis();
  work = mkdtempSync(join(tmpdir(), 'gpt2-int8-swap-'));
  ({ checkpoint: checkpoint2, artifact: artifact2 } = await buildTinyArtifact(join(work, 'seed-2'), 2));
});

afterAll(async () => {
  await redis?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A served MODEL_DIR holding a copy of the tiny artifact, in a directory of its own (the quantizer renames within it). */
function servedDir(name: string): string {
  const dir = join(work, name, 'current');
  mkdirSync(join(work, name), { recursive: true });
  cpSync(tinyArtifact(), dir, { recursive: true });
  return dir;
}

const int8Sha = async (dir: string) => (await readManifest(dir)).files['model.int8.onnx'].sha256;

interface Sample {
  at: number;
  readyz: number;
  /** Each worker's heartbeat (undefined: none). */
  heartbeats: Array<WorkerHeartbeat | undefined>;
}

/** Samples /readyz and the workers' heartbeats every `everyMs` until stopped. */
function sampler(c: Cluster, everyMs = 50) {
  const samples: Sample[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const at = Date.now();
      const [readyz, heartbeats] = await Promise.all([
        fetch(`${c.base}/readyz`).then((r) => r.status, () => 0),
        Promise.all(WORKERS.map((id) => c.heartbeat(id).catch(() => undefined))),
      ]);
      samples.push({ at, readyz, heartbeats });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    samples,
    stop: async () => {
      stopped = true;
      await done;
      return samples;
    },
  };
}

const modelInfo = async (c: Cluster) => (await (await fetch(`${c.base}/api/model`)).json()) as ModelInfoResponse;
const failed = (outcomes: Outcome[]) => outcomes.filter((o) => o.status !== 200 || o.streamDone === false || !o.matches);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Each worker's swap from its log: `from` when it began loading the new model (under the fleet's
 * lock), `paused` when it stopped starting jobs on the old one, `to` when it served the new one.
 */
function swaps(c: Cluster): Array<{ id: string; from: number; paused: number; to: number }> {
  return WORKERS.flatMap((id) => {
    const lines = (c.workers.get(id)?.output() ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { time: number; msg: string });
    const at = (prefix: string) => lines.filter((l) => l.msg.startsWith(prefix)).map((l) => l.time);
    const to = at('swapped models');
    const paused = at('swapping models');
    return at('a new artifact in MODEL_DIR: verifying').map((from, i) => ({ id, from, paused: paused[i] ?? Infinity, to: to[i] ?? Infinity }));
  });
}

describe('hot model swap under load', () => {
  it('the quantizer writes a new model into MODEL_DIR: no failed request, workers swap one at a time, answers name the new sha256', async () => {
    const modelDir = servedDir('swap');
    const oldSha = await int8Sha(modelDir);
    const c = await startCluster({ queueName: 'swap', workers: WORKERS, redis, modelDir, workerEnv: { ARTIFACT_POLL_MS: '500' } });
    try {
      expect((await modelInfo(c)).serving).toMatchObject({ status: 'current', models: [{ sha256: oldSha, workers: 2 }], artifact_sha256: oldSha });
      const watch = sampler(c);
      const load = startLoad(c.base, { concurrency: 4, tag: 'swap' });
      const apiModel: ModelInfoResponse[] = [];
      await sleep(1500);

      // What `npm run quantize -- --model X --out models/current` runs.
      const quantized = await promisify(execFile)(process.execPath, ['services/quantizer/dist/cli.js', 'quantize', '--model', checkpoint2, '--out', modelDir, '--report-reps', '1'], { cwd: ROOT });
      expect(JSON.parse(quantized.stdout)).toMatchObject({ reused: false });
      const writtenAt = Date.now();
      const newSha = await int8Sha(modelDir);
      expect(newSha).not.toBe(oldSha);
      await until(
        'both workers serving the new model',
        async () => {
          apiModel.push(await modelInfo(c));
          const hbs = await Promise.all(WORKERS.map((id) => c.heartbeat(id)));
          return hbs.every((h) => h?.state === 'ready' && h.model?.sha256 === newSha && h.swap === undefined);
        },
        60_000,
        () => WORKERS.map((id) => c.workers.get(id)?.output().slice(-1500)).join('\n---\n'),
        100,
      );
      const swappedAt = Date.now();
      await sleep(1500);
      const outcomes = await load.stop();
      const samples = await watch.stop();

      // No failed request, each answer its own, each naming one of the two models.
      expect(failed(outcomes), JSON.stringify(tally(outcomes))).toEqual([]);
      expect(outcomes.every((o) => o.model === oldSha || o.model === newSha)).toBe(true);
      const after = outcomes.filter((o) => o.sentAt > swappedAt);
      expect(outcomes.some((o) => o.model === oldSha)).toBe(true);
      expect(after.length).toBeGreaterThan(10);
      expect(after.filter((o) => o.model !== newSha)).toEqual([]);
      expect(new Set(after.map((o) => o.worker))).toEqual(new Set(WORKERS));
      for (const kind of ['predict', 'generate', 'stream'] as const) expect(after.some((o) => o.kind === kind)).toBe(true);

      // Capacity: /readyz never 503, and the two workers' swaps never overlap (the fleet's lock).
      expect(samples.length).toBeGreaterThan(20);
      expect(samples.filter((s) => s.readyz !== 200)).toEqual([]);
      expect(samples.every((s) => s.heartbeats.some((h) => h?.state === 'ready'))).toBe(true);
      const busy = (h: WorkerHeartbeat | undefined) => h?.swap?.state === 'loading' || h?.swap?.state === 'draining';
      expect(samples.filter((s) => s.heartbeats.filter(busy).length > 1)).toEqual([]);
      const p = swaps(c);
      expect(p.map((x) => x.id).sort()).toEqual([...WORKERS].sort());
      const [first, second] = [...p].sort((a, b) => a.from - b.from);
      expect(first?.to).toBeLessThanOrEqual(second?.from as number);
      const ms = (os: Outcome[]) => os.map((o) => o.endedAt - o.sentAt);
      const during = outcomes.filter((o) => o.endedAt > writtenAt && o.sentAt < swappedAt);
      const steady = outcomes.filter((o) => o.endedAt < writtenAt);
      console.info(
        `[reliability] model swap: ${outcomes.length} requests, 0 failed (${outcomes.filter((o) => o.model === oldSha).length} old model, ${outcomes.filter((o) => o.model === newSha).length} new); ` +
          `both workers on the new model ${swappedAt - writtenAt} ms after the quantizer exited (poll 500 ms); swaps (load + drain) ${p.map((x) => `${x.id} ${x.to - x.from} ms, ${x.to - x.paused} ms of it not starting jobs`).join('; ')}; ` +
          `latency p50/max ${percentile(ms(steady), 50)}/${Math.max(...ms(steady))} ms before, ${percentile(ms(during), 50)}/${Math.max(...ms(during))} ms during the swap; ${samples.length} /readyz samples, all 200`,
      );

      // /api/model followed: mid-swap it named both models, or one; after, the new one.
      for (const info of apiModel) {
        expect(['current', 'swapping']).toContain(info.serving.status);
        expect([oldSha, newSha]).toContain(info.manifest.files['model.int8.onnx'].sha256);
        if (info.serving.models.length > 1) expect(info.serving.status).toBe('swapping');
      }
      const final = await modelInfo(c);
      expect(final.serving).toMatchObject({ status: 'current', models: [{ sha256: newSha, workers: 2 }], artifact_sha256: newSha });
      expect(final.manifest.files['model.int8.onnx'].sha256).toBe(newSha);
      expect(final.report).not.toBeNull();
    } finally {
      await c.stop();
    }
  });

  it('a damaged new artifact is refused: the old model keeps serving, /readyz says why; a good one after it is served', async () => {
    const modelDir = servedDir('damaged');
    const oldSha = await int8Sha(modelDir);
    const c = await startCluster({ queueName: 'swap-damaged', workers: WORKERS, redis, modelDir, workerEnv: { ARTIFACT_POLL_MS: '500' } });
    try {
      const watch = sampler(c);
      const load = startLoad(c.base, { concurrency: 2, tag: 'damaged' });
      await sleep(500);

      // A new artifact whose INT8 model does not match its manifest (same size, one byte flipped).
      const staged = join(work, 'damaged', 'staged');
      cpSync(artifact2, staged, { recursive: true });
      const model = join(staged, 'model.int8.onnx');
      const bytes = readFileSync(model);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      writeFileSync(model, bytes);
      const damagedSha = await int8Sha(staged);
      replaceArtifact(staged, modelDir);

      const refused = await until2('both workers refusing it', async () => {
        const hbs = await Promise.all(WORKERS.map((id) => c.heartbeat(id)));
        return hbs.every((h) => h?.swap?.state === 'refused') ? hbs : undefined;
      });
      for (const h of refused) {
        expect(h).toMatchObject({ state: 'ready', model: { sha256: oldSha }, swap: { state: 'refused', sha256: damagedSha } });
        expect(h?.swap?.reason).toMatch(/model\.int8\.onnx has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64} \(replaced or corrupted\)/);
      }
      const readyz = await fetch(`${c.base}/readyz`);
      expect(readyz.status).toBe(200);
      const text = await readyz.text();
      const body = JSON.parse(text) as { status: string; refused?: string[] };
      expect(body.status).toBe('ready');
      expect(body.refused).toHaveLength(2);
      expect(body.refused?.[0]).toMatch(new RegExp(`^worker swap-[ab] refused the new artifact and keeps serving ${oldSha.slice(0, 12)}: .*model\\.int8\\.onnx has sha256`));
      expect(text).not.toContain(work);
      // /api/model describes the model that answers (its card from the workers), not the refused one.
      const info = await modelInfo(c);
      expect(info.serving).toMatchObject({ status: 'refused', models: [{ sha256: oldSha, workers: 2 }], artifact_sha256: damagedSha });
      expect(info.manifest.files['model.int8.onnx'].sha256).toBe(oldSha);
      expect(info.report).not.toBeNull();
      expect(JSON.stringify(info)).not.toContain(work);
      for (const id of WORKERS) expect(c.workers.get(id)?.output()).toContain('refusing the new artifact, still serving the current model');

      // Still served by the old model.
      await sleep(500);
      const duringRefusal = Date.now();
      await sleep(1000);

      // The quantizer writes a good artifact: both workers move to it.
      const good = join(work, 'damaged', 'good');
      cpSync(artifact2, good, { recursive: true });
      replaceArtifact(good, modelDir);
      const newSha = await int8Sha(modelDir);
      await until2('both workers serving the repaired artifact', async () => {
        const hbs = await Promise.all(WORKERS.map((id) => c.heartbeat(id)));
        return hbs.every((h) => h?.model?.sha256 === newSha && h.swap === undefined) || undefined;
      });
      const swappedAt = Date.now();
      await sleep(1000);
      const outcomes = await load.stop();
      const samples = await watch.stop();

      expect(failed(outcomes), JSON.stringify(tally(outcomes))).toEqual([]);
      expect(outcomes.filter((o) => o.sentAt < duringRefusal && o.model !== oldSha)).toEqual([]);
      expect(outcomes.filter((o) => o.sentAt > swappedAt && o.model !== newSha)).toEqual([]);
      expect(outcomes.filter((o) => o.sentAt > swappedAt).length).toBeGreaterThan(5);
      expect(samples.filter((s) => s.readyz !== 200)).toEqual([]);
      expect((await (await fetch(`${c.base}/readyz`)).json()) as object).not.toHaveProperty('refused');
      expect((await modelInfo(c)).serving).toMatchObject({ status: 'current', models: [{ sha256: newSha, workers: 2 }] });
    } finally {
      await c.stop();
    }
  });
});

/** `until` for a check that returns what it found (undefined: not yet). */
async function until2<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  let found: T | undefined;
  await until(what, async () => (found = await check()) !== undefined, timeoutMs, undefined, 100);
  return found as T;
}
