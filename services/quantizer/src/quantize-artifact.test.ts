import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, verifyArtifactFile } from '@gpt2-int8/contract/manifest';
import { tinyCheckpoint } from '../../../test/support/tiny-artifact.js';
import { QUANTIZE_DEFAULTS, quantizeArtifact, type QuantizeRequest } from './quantize-artifact.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let work: string;
let checkpoint: string;

function request(outDir: string, extra: Partial<QuantizeRequest> = {}): QuantizeRequest {
  return { ...QUANTIZE_DEFAULTS, source: { kind: 'hf-dir', path: checkpoint, id: checkpoint }, outDir, reportRepetitions: 1, log: () => undefined, ...extra };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'quantize-artifact-'));
  checkpoint = join(work, 'ckpt');
  cpSync(tinyCheckpoint(), checkpoint, { recursive: true });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('quantizeArtifact', () => {
  it('writes a verified artifact with every manifest field', async () => {
    const out = join(work, 'a', 'current');
    const { manifest, reused, report } = await quantizeArtifact(request(out));
    expect(reused).toBe(false);
    expect(report?.prompts).toBeGreaterThan(40);
    const read = await readManifest(out);
    expect(read).toEqual(manifest);
    expect(read.source.kind).toBe('hf-dir');
    expect(read.synthetic).toBe(true);
    expect(read.config).toMatchObject({ n_layer: 2, n_embd: 64, vocab_size: 50257 });
    expect(read.quantization).toEqual({ weights: 'int8', granularity: 'per-channel', activations: 'dynamic-per-row', embedding: 'int8', activation_passes: 2 });
    expect(read.int8_bytes / read.fp32_bytes).toBeLessThanOrEqual(0.27);
    for (const f of ['model.int8.onnx', 'model.int8.onnx.data', 'model.fp32.onnx', 'report.json'] as const) await verifyArtifactFile(out, read, f);
  });

  it('reuses an artifact made from the same source with the same options', async () => {
    const out = join(work, 'b', 'current');
    const first = await quantizeArtifact(request(out));
    const second = await quantizeArtifact(request(out));
    expect(second.reused).toBe(true);
    expect(second.manifest.created_at).toBe(first.manifest.created_at);
  });

  it('reuses after the source is touched but not changed, and rebuilds when it changes', async () => {
    const own = join(work, 'ckpt-c');
    cpSync(checkpoint, own, { recursive: true });
    const out = join(work, 'c', 'current');
    const src = { kind: 'hf-dir' as const, path: own, id: own };
    await quantizeArtifact(request(out, { source: src }));
    const later = new Date(Date.now() + 5000);
    utimesSync(join(own, 'config.json'), later, later);
    expect((await quantizeArtifact(request(out, { source: src }))).reused).toBe(true);
    const config = JSON.parse(readFileSync(join(own, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(own, 'config.json'), JSON.stringify({ ...config, layer_norm_epsilon: 1e-6 }));
    const rebuilt = await quantizeArtifact(request(out, { source: src }));
    expect(rebuilt.reused).toBe(false);
    expect(rebuilt.manifest.config.layer_norm_epsilon).toBe(1e-6);
  });

  it('rebuilds when the options change', async () => {
    const out = join(work, 'd', 'current');
    await quantizeArtifact(request(out));
    const other = await quantizeArtifact(request(out, { granularity: 'per-tensor' }));
    expect(other.reused).toBe(false);
    expect((await readManifest(out)).quantization.granularity).toBe('per-tensor');
  });

  it('lets exactly one of two simultaneous quantizers build; the other reuses its artifact', async () => {
    const out = join(work, 'e', 'current');
    const waits: string[] = [];
    const results = await Promise.all([
      quantizeArtifact(request(out, { log: (m) => waits.push(m) })),
      quantizeArtifact(request(out, { log: (m) => waits.push(m) })),
    ]);
    expect(results.map((r) => r.reused).sort()).toEqual([false, true]);
    expect(waits.some((m) => m.includes('another quantizer'))).toBe(true);
  });

  it('takes over a lock left by a process that died', async () => {
    const out = join(work, 'f', 'current');
    await quantizeArtifact(request(out));
    // A pid that cannot be alive on this host.
    writeFileSync(join(work, 'f', '.current.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), since: new Date().toISOString() }));
    expect((await quantizeArtifact(request(out))).reused).toBe(true);
    expect(existsSync(join(work, 'f', '.current.lock'))).toBe(false);
  });

  it('leaves the previous artifact intact when a run is killed, and cleans up after it', async () => {
    const out = join(work, 'g', 'current');
    const before = await quantizeArtifact(request(out));
    const child: ChildProcess = spawn(process.execPath, [CLI, 'quantize', '--model', checkpoint, '--out', out, '--granularity', 'per-tensor'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Kill it while it works on the new artifact (it has taken the lock and is validating).
    await new Promise<void>((resolve, reject) => {
      child.stderr?.on('data', (d: Buffer) => {
        if (d.toString().includes('validating')) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`the quantizer exited (${code}) before it could be interrupted`)));
    });
    // What a crash in the middle of writing leaves: a temporary directory with a partial file.
    const partial = join(work, 'g', `.current.tmp-999999-deadbeef`);
    mkdirSync(partial);
    writeFileSync(join(partial, 'model.int8.onnx'), 'partial');
    const manifest = await readManifest(out);
    expect(manifest.created_at).toBe(before.manifest.created_at);
    await verifyArtifactFile(out, manifest, 'model.int8.onnx');
    // The next run takes over the dead quantizer's lock, rebuilds and removes the leftovers.
    const next = await quantizeArtifact(request(out, { granularity: 'per-tensor' }));
    expect(next.reused).toBe(false);
    expect(readdirSync(join(work, 'g')).filter((e) => e.startsWith('.current.'))).toEqual([]);
  });
});
