import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedGpt2Shapes, loadHfCheckpoint } from './hf-checkpoint.js';
import { makeModel } from './make-model.js';
import type { ByteProgress } from './progress-printer.js';
import { readSafetensorsHeader } from './safetensors.js';
import { PRESETS, syntheticTensors } from './synthetic.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'make-model-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const MICRO: Gpt2Config = { n_layer: 3, n_embd: 16, n_head: 4, n_positions: 32, vocab_size: 100, layer_norm_epsilon: 1e-5 };

async function fileSha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

function stats(data: Float32Array): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (const x of data) {
    s += x;
    s2 += x * x;
  }
  const mean = s / data.length;
  return { mean, std: Math.sqrt(s2 / data.length - mean * mean) };
}

describe('syntheticTensors', () => {
  it('lists exactly the GPT-2 tensors with the shapes the loader expects (lm_head tied)', () => {
    for (const cfg of [MICRO, PRESETS.small]) {
      const expected = expectedGpt2Shapes(cfg);
      expected.delete('lm_head.weight');
      expect(new Map(syntheticTensors(cfg, 0).map((t) => [t.name, t.shape]))).toEqual(expected);
    }
  });

  it('chunks large tensors and regenerates the same values on every call', () => {
    const wte = syntheticTensors(PRESETS.tiny, 5).find((t) => t.name === 'wte.weight');
    if (wte === undefined) throw new Error('no wte');
    const sizes = [...wte.chunks()].map((c) => c.length);
    expect(sizes.length).toBeGreaterThan(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(50257 * 64);
    const bytes = (c: Float32Array | undefined) => Buffer.from(c?.buffer ?? new ArrayBuffer(0));
    const first = bytes(wte.chunks()[Symbol.iterator]().next().value);
    const again = bytes(wte.chunks()[Symbol.iterator]().next().value);
    expect(first.length).toBe(4 << 20);
    expect(first.equals(again)).toBe(true);
  });
});

describe('makeModel', () => {
  it('writes the tiny preset in the HF layout, loadable, with GPT-2-like initialisation', async () => {
    const dir = join(root, 'tiny-1');
    const progress: ByteProgress[] = [];
    const result = await makeModel({ preset: 'tiny', seed: 1, outDir: dir, onProgress: (p) => progress.push({ ...p }) });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors']);

    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ synthetic: true, model_type: 'gpt2', activation_function: 'gelu_new', n_layer: 2, n_embd: 64, n_head: 4, n_positions: 128, vocab_size: 50257 });

    const header = await readSafetensorsHeader(join(dir, 'model.safetensors'));
    expect(header.metadata.format).toBe('pt');
    expect(header.entries.every((e) => e.name.startsWith('transformer.') && e.dtype === 'F32')).toBe(true);
    expect(header.entries.some((e) => e.name.includes('lm_head'))).toBe(false);

    expect(result.weightsBytes).toBe(header.fileBytes);
    expect(result.weightsSha256).toBe(await fileSha(join(dir, 'model.safetensors')));
    expect(progress.at(-1)).toEqual({ label: 'model.safetensors', bytesDone: header.fileBytes, bytesTotal: header.fileBytes, done: true });
    expect(progress.every((p, i) => i === 0 || p.bytesDone >= (progress[i - 1]?.bytesDone ?? 0))).toBe(true);

    const c = await loadHfCheckpoint(dir);
    expect(c.config).toEqual(PRESETS.tiny);
    expect(result.config).toEqual(PRESETS.tiny);
    expect(c.synthetic).toBe(true);
    expect(c.weights.lmHead).toBeUndefined();
    const wte = stats(c.weights.wte.data);
    expect(Math.abs(wte.mean)).toBeLessThan(1e-3);
    expect(wte.std).toBeCloseTo(0.02, 3);
    const proj = stats(c.weights.blocks[0]?.mlp.proj.weight.data ?? new Float32Array());
    expect(proj.std).toBeCloseTo(0.02 / Math.sqrt(4), 3); // scaled by 1/sqrt(2·n_layer)
    const gain = stats(c.weights.blocks[1]?.ln2.weight.data ?? new Float32Array());
    expect(gain.mean).toBeGreaterThan(0.99);
    expect(gain.mean).toBeLessThan(1.01);
    expect(gain.std).toBeGreaterThan(0); // perturbed, not exactly 1
  });

  it('is deterministic: same seed → same bytes, different seed → different bytes', async () => {
    const a = await makeModel({ preset: 'tiny', seed: 1, outDir: join(root, 'tiny-a') });
    const b = await makeModel({ preset: 'tiny', seed: 1, outDir: join(root, 'tiny-b') });
    const c = await makeModel({ preset: 'tiny', seed: 2, outDir: join(root, 'tiny-c') });
    expect(b.weightsSha256).toBe(a.weightsSha256);
    expect(c.weightsSha256).not.toBe(a.weightsSha256);
    const [la, lb, lc] = await Promise.all(['tiny-a', 'tiny-b', 'tiny-c'].map((d) => loadHfCheckpoint(join(root, d))));
    expect(lb?.source.sha256).toBe(la?.source.sha256);
    expect(lc?.source.sha256).not.toBe(la?.source.sha256);
  });

  it('makes custom shapes, and replaces an existing model in the directory cleanly', async () => {
    const dir = join(root, 'replace');
    await makeModel({ preset: 'tiny', seed: 3, outDir: dir });
    await makeModel({ config: MICRO, seed: 3, outDir: dir });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors']);
    const c = await loadHfCheckpoint(dir);
    expect(c.config).toEqual(MICRO);
    expect(c.weights.blocks).toHaveLength(3);
    expect(c.weights.wte.dims).toEqual([100, 16]);
  });

  it('refuses bad seeds and bad configs before writing anything', async () => {
    const dir = join(root, 'bad');
    await expect(makeModel({ preset: 'tiny', seed: -1, outDir: dir })).rejects.toThrow(/--seed must be a non-negative integer/);
    await expect(makeModel({ config: { ...MICRO, n_head: 5 }, seed: 1, outDir: dir })).rejects.toThrow(/n_embd \(16\) is not divisible by n_head \(5\)/);
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });
});
