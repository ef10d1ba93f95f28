/**
 * A damaged model artifact, seen through the real gateway: the built gateway and a built worker
 * (processes) on a private redis-server, the worker's MODEL_DIR a damaged copy of the tiny artifact.
 *
 * For each damage (file missing, truncated, sha256 mismatch, a config that does not match the graph)
 * the worker refuses to serve, /readyz says why — naming the file, not the server's directories —
 * and requests get a fast 503 instead of waiting in a queue nobody reads. When the artifact is
 * repaired, the same worker process notices and serves. A damaged FP32 model (loaded lazily for
 * compare) is an internal error: 502 with a generic message, nothing about files or hashes.
 *
 * (The worker's own handling of each case is in services/worker/test/worker-service.test.ts; the
 * quantizer interrupted mid-write leaving the previous artifact intact is in
 * services/quantizer/src/quantize-artifact.test.ts.)
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateRedis, startRedis } from '../support/redis-server.js';
import { tinyArtifact } from '../support/tiny-artifact.js';
import { alive, post, startCluster, until } from './cluster.js';

let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.dispose());

function damagedCopy(damage: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-damaged-'));
  cpSync(tinyArtifact(), dir, { recursive: true });
  damage(dir);
  return dir;
}

function flipByte(path: string): void {
  const bytes = readFileSync(path);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0xff;
  writeFileSync(path, bytes);
}

const CASES: Array<{ name: string; id: string; damage: (dir: string) => void; reason: RegExp }> = [
  { name: 'model file missing', id: 'missing', damage: (d) => unlinkSync(join(d, 'model.int8.onnx')), reason: /refusing to serve: model\.int8\.onnx is missing; re-run the quantizer/ },
  {
    name: 'external data file missing',
    id: 'data',
    damage: (d) => unlinkSync(join(d, 'model.int8.onnx.data')),
    reason: /refusing to serve: model\.int8\.onnx\.data is missing; re-run the quantizer/,
  },
  {
    name: 'model file truncated',
    id: 'truncated',
    damage: (d) => truncateSync(join(d, 'model.int8.onnx'), 4096),
    reason: /refusing to serve: model\.int8\.onnx is 4096 bytes, the manifest says \d+ \(truncated or replaced\)/,
  },
  {
    name: 'sha256 mismatch',
    id: 'sha',
    damage: (d) => flipByte(join(d, 'model.int8.onnx')),
    reason: /refusing to serve: model\.int8\.onnx has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64} \(replaced or corrupted\)/,
  },
  {
    name: 'config not matching the graph',
    id: 'config',
    damage: (d) => {
      const path = join(d, 'manifest.json');
      const m = JSON.parse(readFileSync(path, 'utf8')) as { config: { n_layer: number } };
      m.config.n_layer = 4;
      writeFileSync(path, JSON.stringify(m, null, 2));
    },
    reason: /refusing to serve: model\.int8\.onnx does not match its manifest: the graph has no input past_key_values\.2\.key/,
  },
];

describe('a worker whose artifact is damaged, through the real gateway', () => {
  it.concurrent.each(CASES)('$name: refuses, /readyz says why (without paths), requests get 503 at once; repaired, it serves', async ({ id, damage, reason }) => {
    const dir = damagedCopy(damage);
    const c = await startCluster({ queueName: `art-${id}`, workers: [], redis, modelDir: dir, waitReady: false });
    try {
      const worker = c.startWorker(`art-${id}`);
      await until('the error heartbeat', async () => (await c.heartbeat(`art-${id}`))?.state === 'error', 60_000, () => worker.output().slice(-2000));

      const ready = await fetch(`${c.base}/readyz`);
      expect(ready.status).toBe(503);
      const text = await ready.text();
      const body = JSON.parse(text) as { status: string; redis: boolean; workers: unknown; error: { code: string; message: string } };
      expect(body).toMatchObject({ status: 'not_ready', redis: true, workers: { ready: 0, loading: 0, error: 1 }, error: { code: 'NO_WORKER' } });
      expect(body.error.message).toMatch(new RegExp(`worker art-${id} is error: ${reason.source}`));
      expect(text).not.toContain(dir);
      expect(text).not.toContain(tmpdir());
      // The worker's log keeps the details for the operator (its stdout reaches this process on a
      // pipe, which can lag behind the heartbeat the worker set after logging).
      await until('the refusal in the worker log', () => worker.output().includes('refusing to serve'), 5000, () => worker.output().slice(-2000));

      const t0 = Date.now();
      const res = await post(c.base, '/api/predict', { prompt: 'The sky is' });
      expect(res.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(res.headers.get('retry-after')).toBeTruthy();
      const refusal = await res.text();
      expect(JSON.parse(refusal).error).toEqual({ code: 'NO_WORKER', message: 'No model worker is ready yet (0 loading, 1 unable to serve — see /readyz)' });

      // The quantizer (here: a copy) writes a good artifact; the same process picks it up.
      cpSync(tinyArtifact(), dir, { recursive: true });
      await until('/readyz 200 after the repair', async () => (await fetch(`${c.base}/readyz`)).status === 200, 30_000, () => worker.output().slice(-2000));
      const served = await post(c.base, '/api/predict', { prompt: 'The sky is' });
      expect(served.status).toBe(200);
      expect(((await served.json()) as { worker: string }).worker).toBe(`art-${id}`);
      expect(alive(worker)).toBe(true);
    } finally {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a damaged FP32 model: predict still served; compare is a 502 with nothing about files or hashes', async () => {
    const dir = damagedCopy((d) => flipByte(join(d, 'model.fp32.onnx')));
    const c = await startCluster({ queueName: 'art-fp32', workers: ['art-fp32'], redis, modelDir: dir });
    try {
      expect((await post(c.base, '/api/predict', { prompt: 'The sky is' })).status).toBe(200);
      const res = await post(c.base, '/api/compare', { prompt: 'The sky is' }, { headers: { 'x-request-id': 'fp32-broken' } });
      expect(res.status).toBe(502);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 'WORKER_FAILED', message: 'The model worker failed to process this request; try again' } });
      for (const leak of [dir, 'fp32.onnx', 'sha256', 'manifest', '/tmp', ' at ']) expect(text).not.toContain(leak);
      // The reason is in the worker's log (and the gateway's), under the request id.
      await until('the failure in the worker log', () => /"request_id":"fp32-broken".*has sha256/.test(c.workers.get('art-fp32')?.output() ?? ''), 5000);
      expect((await post(c.base, '/api/predict', { prompt: 'Still fine' })).status).toBe(200);
    } finally {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
