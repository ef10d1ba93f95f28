import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ArtifactError, readManifest, verifyArtifactFile } from '@gpt2-int8/contract/manifest';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';
import { backoffDelay, loadModel, ManifestWaitTimeout, waitForManifest } from '../src/model-loader.js';
import { copyArtifact, corrupt, editManifest, tempDir } from './artifact-copy.js';

const dirs: string[] = [];
const fresh = () => {
  const d = copyArtifact();
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('waiting for the manifest', () => {
  it('backs off from 250 ms to at most 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map(backoffDelay)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });

  it('waits, saying so, until the quantizer writes the manifest', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const waits: number[] = [];
    const pending = waitForManifest(dir, { maxWaitMs: 0, onWait: (w) => waits.push(w.delayMs) });
    await sleep(400);
    copyArtifact(dir);
    const manifest = await pending;
    expect(manifest.synthetic).toBe(true);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits[0]).toBe(250);
  });

  it('gives up after MODEL_WAIT_MAX_MS with the reason', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const err = await waitForManifest(dir, { maxWaitMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestWaitTimeout);
    expect((err as Error).message).toMatch(/MODEL_WAIT_MAX_MS=300.*manifest\.json still does not exist; has the quantizer run\?/);
  });

  it('stops waiting when aborted', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const abort = new AbortController();
    const pending = waitForManifest(dir, { maxWaitMs: 0, signal: abort.signal });
    abort.abort();
    await expect(pending).rejects.toThrow();
  });

  it('fails at once on a manifest that exists but is invalid', async () => {
    const dir = tempDir();
    dirs.push(dir);
    writeFileSync(join(dir, 'manifest.json'), '{"format_version": 99}');
    await expect(waitForManifest(dir, { maxWaitMs: 0 })).rejects.toThrow(ArtifactError);
  });
});

describe('verifying and loading', () => {
  it('loads the tiny artifact and checks it', async () => {
    const manifest = await readManifest(tinyArtifact());
    const model = await loadModel(tinyArtifact(), manifest, 'model.int8.onnx', { threads: 1 });
    expect(model.sha256).toBe(manifest.files['model.int8.onnx'].sha256);
    expect(model.session.config).toEqual(manifest.config);
    await model.session.release();
  });

  it('refuses a file whose sha256 does not match the manifest', async () => {
    const dir = fresh();
    corrupt(dir, 'model.int8.onnx');
    const manifest = await readManifest(dir);
    await expect(verifyArtifactFile(dir, manifest, 'model.int8.onnx')).rejects.toThrow(/has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64} \(replaced or corrupted\); re-run the quantizer/);
    await expect(loadModel(dir, manifest, 'model.int8.onnx', { threads: 1 })).rejects.toThrow(ArtifactError);
  });

  it('refuses a truncated or missing file', async () => {
    const dir = fresh();
    const manifest = await readManifest(dir);
    truncateSync(join(dir, 'model.int8.onnx'), 1000);
    await expect(verifyArtifactFile(dir, manifest, 'model.int8.onnx')).rejects.toThrow(/is 1000 bytes, the manifest says \d+ \(truncated or replaced\)/);
    rmSync(join(dir, 'model.fp32.onnx'));
    await expect(verifyArtifactFile(dir, manifest, 'model.fp32.onnx')).rejects.toThrow(/model\.fp32\.onnx is missing; re-run the quantizer/);
  });

  it('checks the INT8 graph\'s external data file too before loading', async () => {
    const dir = fresh();
    const manifest = await readManifest(dir);
    corrupt(dir, 'model.int8.onnx.data');
    await expect(loadModel(dir, manifest, 'model.int8.onnx', { threads: 1 })).rejects.toThrow(/model\.int8\.onnx\.data has sha256 [0-9a-f]{64}, the manifest says/);
    rmSync(join(dir, 'model.int8.onnx.data'));
    await expect(loadModel(dir, manifest, 'model.int8.onnx', { threads: 1 })).rejects.toThrow(/model\.int8\.onnx\.data is missing; re-run the quantizer/);
  });

  it('refuses a manifest config that does not match the graph', async () => {
    const dir = fresh();
    editManifest(dir, (m) => {
      m.config.n_layer = 3;
    });
    const manifest = await readManifest(dir);
    await expect(loadModel(dir, manifest, 'model.int8.onnx', { threads: 1 })).rejects.toThrow(
      /does not match its manifest: the graph has no input past_key_values\.2\.key/,
    );
    editManifest(dir, (m) => {
      m.config.n_layer = 2;
      m.config.n_head = 8;
    });
    await expect(loadModel(dir, await readManifest(dir), 'model.int8.onnx', { threads: 1 })).rejects.toThrow(/does not match its manifest/);
  });

  it('refuses a vocabulary smaller than the tokenizer’s', async () => {
    const dir = fresh();
    editManifest(dir, (m) => {
      m.config.vocab_size = 1000;
    });
    await expect(loadModel(dir, await readManifest(dir), 'model.int8.onnx', { threads: 1 })).rejects.toThrow(/vocab_size 1000 is smaller/);
  });
});
