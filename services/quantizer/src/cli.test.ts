import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { tinyCheckpoint } from '../../../test/support/tiny-artifact.js';

// The built CLI, as users and the compose file run it (npm test builds before it tests).
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'quantizer-cli-'));

// Asynchronous on purpose: the fake hub below runs in this process and must keep answering.
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let hub: Server;
let hubUrl = '';
beforeAll(async () => {
  // Plays the hub: every file is missing, except a private repo that wants a token.
  hub = createServer((req, res) => {
    if (req.url?.startsWith('/acme/private/')) {
      res.writeHead(req.headers.authorization === 'Bearer good' ? 404 : 401).end();
      return;
    }
    res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
  hubUrl = `http://127.0.0.1:${(hub.address() as { port: number }).port}`;
});
afterAll(() => {
  hub.close();
  rmSync(work, { recursive: true, force: true });
});

describe('quantize CLI', () => {
  it('quantizes a checkpoint directory and then reuses the artifact', async () => {
    const out = join(work, 'ok', 'current');
    const first = await run(['quantize', '--model', tinyCheckpoint(), '--out', out, '--report-reps', '1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('top-1 agreement');
    expect(JSON.parse(first.stdout)).toMatchObject({ reused: false });
    const second = await run(['quantize', '--model', tinyCheckpoint(), '--out', out]);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ reused: true });
    expect(second.stderr).toContain('up to date');
  });

  it.each([
    [[], /no command given/],
    [['quantize', '--out', 'x'], /needs --model and --out/],
    [['quantize', '--model', 'x', '--out', 'y', '--granularity', 'per-row'], /--granularity must be per-channel or per-tensor/],
    [['quantize', '--model', 'x', '--out', 'y', '--bogus'], /Unknown option '--bogus'/],
    [['quantize', '--model', 'x', '--out', 'y', '--weights', 'int2'], /--weights must be int8 or int4/],
    [['quantize', '--model', 'x', '--out', 'y', '--weights', 'int4', '--block-size', '48'], /--block-size must be a power of two/],
    [['quantize', '--model', 'x', '--out', 'y', '--head-block-size', '512'], /--head-block-size must be 0 or a power of two from 16 to 256/],
    [['quantize', '--model', 'x', '--out', 'y', '--activation-passes', '3'], /--activation-passes must be 1 or 2, got "3"/],
    [['quantize', '--model', 'x', '--out', 'y', '--weights', 'int4', '--activation-passes', '1'], /--activation-passes applies to int8 per-channel or per-tensor weights, not to --weights int4 or --granularity per-block/],
    [['ort-standard', '--in', 'x'], /ort-standard needs --in and --out/],
    [['make-model', '--preset', 'huge', '--out', 'y'], /unknown preset "huge"/],
    [['make-model', '--preset', 'tiny', '--seed', 'abc', '--out', 'y'], /--seed must be a non-negative whole number/],
  ])('refuses bad usage %j with exit code 2', async (args, message) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('usage:');
  });

  it('refuses a path that does not exist and writes nothing', async () => {
    const out = join(work, 'missing', 'current');
    const r = await run(['quantize', '--model', join(work, 'nope'), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope: no such file or directory; --model takes/);
    expect(existsSync(out)).toBe(false);
    // ensure's model comes from MODEL_SOURCE: the message names what the user set.
    const ensured = await run(['ensure', '--out', out], { MODEL_SOURCE: join(work, 'nope') });
    expect(ensured.code).toBe(1);
    expect(ensured.stderr).toMatch(/nope: no such file or directory; MODEL_SOURCE takes/);
  });

  it.each([['quantize'], ['make-model'], ['ensure']])('prints its usage for "%s --help" (npm run quantize -- --help) and exits 0', async (command) => {
    const r = await run([command, '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('usage:');
  });

  it('refuses a pickled checkpoint without reading it', async () => {
    const dir = join(work, 'pickled');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_layer: 1, n_embd: 8, n_head: 2, n_positions: 8, vocab_size: 10 }));
    writeFileSync(join(dir, 'pytorch_model.bin'), 'not really a pickle');
    const out = join(work, 'pickled-out', 'current');
    const r = await run(['quantize', '--model', dir, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pickle/i);
    expect(r.stderr).toMatch(/safetensors/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a config that is not GPT-2, naming the file', async () => {
    const dir = join(work, 'bert');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', num_hidden_layers: 2 }));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.alloc(16));
    const r = await run(['quantize', '--model', dir, '--out', join(work, 'bert-out', 'current')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config\.json.*"bert"/);
  });

  it('reports a hub 404 and a 401 clearly, writing no artifact', async () => {
    const out = join(work, 'hub', 'current');
    const missing = await run(['quantize', '--model', 'hf:acme/nothing-here', '--out', out], { HF_ENDPOINT: hubUrl });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/i);
    expect(missing.stderr).toContain('acme/nothing-here');
    const denied = await run(['quantize', '--model', 'hf:acme/private', '--out', out], { HF_ENDPOINT: hubUrl });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/HF_TOKEN/);
    expect(existsSync(out)).toBe(false);
  });

  it('ensure quantizes MODEL_SOURCE, then finds the artifact up to date', async () => {
    const out = join(work, 'ensure', 'current');
    const first = await run(['ensure', '--out', out, '--report-reps', '1'], { MODEL_SOURCE: tinyCheckpoint() });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ reused: false, synthetic: true });
    expect(first.stderr).toContain('synthetic (random) weights');
    const again = await run(['ensure', '--out', out], { MODEL_SOURCE: tinyCheckpoint() });
    expect(JSON.parse(again.stdout)).toMatchObject({ reused: true });
  });

  it('writes a 4-bit artifact with --weights int4', async () => {
    const out = join(work, 'int4', 'current');
    const r = await run(['quantize', '--model', tinyCheckpoint(), '--out', out, '--weights', 'int4', '--report-reps', '1']);
    expect(r.code, r.stderr).toBe(0);
    const manifest = await readManifest(out);
    expect(manifest.quantization).toEqual({ weights: 'int4', granularity: 'per-block', block_size: 64, activations: 'dynamic-per-block', embedding: 'int4' });
    expect(manifest.int8_bytes / manifest.fp32_bytes).toBeLessThanOrEqual(0.16);
  });

  it('writes int8 blocks with --granularity per-block, and int8 head blocks with --head-block-size', async () => {
    const blocks = join(work, 'int8-blocks', 'current');
    const r = await run(['quantize', '--model', tinyCheckpoint(), '--out', blocks, '--granularity', 'per-block', '--block-size', '32', '--report-reps', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readManifest(blocks)).quantization).toEqual({ weights: 'int8', granularity: 'per-block', block_size: 32, activations: 'dynamic-per-block', embedding: 'int8' });
    const head = join(work, 'int8-head', 'current');
    const h = await run(['quantize', '--model', tinyCheckpoint(), '--out', head, '--head-block-size', '16', '--report-reps', '1']);
    expect(h.code, h.stderr).toBe(0);
    expect((await readManifest(head)).quantization).toEqual({ weights: 'int8', granularity: 'per-channel', activations: 'dynamic-per-row', embedding: 'int8', head_block_size: 16, activation_passes: 2 });
  });

  it('writes the ORT-standard peer of an FP32 model', async () => {
    const art = join(work, 'peer-src', 'current');
    expect((await run(['quantize', '--model', tinyCheckpoint(), '--out', art, '--report-reps', '1'])).code).toBe(0);
    const out = join(work, 'peer', 'model.onnx');
    const r = await run(['ort-standard', '--in', join(art, 'model.fp32.onnx'), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    // The tiny preset: 4 linear layers a block and the head; the token and position lookups.
    expect(JSON.parse(r.stdout)).toMatchObject({ matmuls: 4 * 2 + 1, gathers: 2 });
    expect(existsSync(out)).toBe(true);
  });

  it('writes a synthetic checkpoint with make-model that the quantizer accepts', async () => {
    const ckpt = join(work, 'made');
    const made = await run(['make-model', '--preset', 'tiny', '--seed', '3', '--out', ckpt]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toContain('random weights');
    const out = join(work, 'made-out', 'current');
    expect((await run(['quantize', '--model', ckpt, '--out', out, '--report-reps', '1'])).code).toBe(0);
    expect((await readManifest(out)).synthetic).toBe(true);
  });
});
