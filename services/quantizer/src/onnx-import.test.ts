import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { buildGpt2Graph } from './gpt2-graph.js';
import { decodeModel, DT, encodeModel, GraphBuilder, modelProto } from '@gpt2-int8/runtime/onnx-graph-builder';
import { loadOnnxSource } from './onnx-import.js';
import { QUANTIZE_DEFAULTS, quantizeArtifact } from './quantize-artifact.js';
import { quantizeModel } from './quantize/quantize-graph.js';
import { int8Quantization } from './quantize/quantization.js';
import { randomWeights } from './random-weights.test-util.js';

const work = mkdtempSync(join(tmpdir(), 'onnx-import-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function random(n: number, seed: number, scale = 0.2): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647 - 0.5) * scale;
  });
}

/**
 * The weight forms torch.onnx.export writes for linear layers: MatMul with an [in, out]
 * initializer, MatMul behind a Transpose of an [out, in] initializer, and Gemm with transB and a
 * bias, plus a layer whose weight is a graph input (not constant: must be left alone).
 */
function torchStyleModel() {
  const K = 32;
  const N = 24;
  const b = new GraphBuilder();
  const x = b.input('x', DT.FLOAT, [4, K]);
  const dynamicW = b.input('w_dynamic', DT.FLOAT, [N, N]);
  const a = b.op('MatMul', [x, b.initializer('w_kn', { dims: [K, N], dataType: DT.FLOAT, data: random(K * N, 1) })]);
  const t = b.op('Transpose', [b.initializer('w_nk', { dims: [N, N], dataType: DT.FLOAT, data: random(N * N, 2) })], { perm: [1, 0] });
  const c = b.op('MatMul', [a, t]);
  const d = b.op('Gemm', [c, b.initializer('w_gemm', { dims: [N, N], dataType: DT.FLOAT, data: random(N * N, 3) }), b.initializer('bias', { dims: [N], dataType: DT.FLOAT, data: random(N, 4) })], {
    transB: 1,
    alpha: { float: 0.5 },
  });
  b.op('MatMul', [d, dynamicW], {}, '', 'y');
  b.output('y', DT.FLOAT, [4, N]);
  return modelProto(b.graph('torch_style'));
}

describe('ONNX import', () => {
  it('quantizes MatMul, Transpose-fed MatMul and Gemm(transB, alpha, bias) with constant weights, and leaves the rest', async () => {
    const fp32 = encodeModel(torchStyleModel());
    const { model, stats } = quantizeModel(torchStyleModel(), int8Quantization('per-channel'));
    expect(stats.linear).toBe(3);
    const ops = model.graph?.node?.map((n) => n.opType) ?? [];
    expect(ops.filter((o) => o === 'MatMulIntegerToFloat')).toHaveLength(3);
    expect(ops.filter((o) => o === 'MatMul')).toHaveLength(1);
    expect(ops).not.toContain('Gemm');
    expect(ops).not.toContain('Transpose');

    const feeds = { x: new ort.Tensor('float32', random(4 * 32, 5, 4), [4, 32]), w_dynamic: new ort.Tensor('float32', random(24 * 24, 6), [24, 24]) };
    const want = (await (await ort.InferenceSession.create(fp32)).run(feeds)).y?.data as Float32Array;
    const got = (await (await ort.InferenceSession.create(encodeModel(model))).run(feeds)).y?.data as Float32Array;
    let err = 0;
    let norm = 0;
    want.forEach((v, i) => {
      err += (v - (got[i] as number)) ** 2;
      norm += v * v;
    });
    expect(Math.sqrt(err / norm)).toBeLessThan(0.02);
  });

  it('reads the model shape off an optimum-layout graph when there is no config.json', async () => {
    const config: Gpt2Config = { n_layer: 2, n_embd: 32, n_head: 4, n_positions: 48, vocab_size: 211, layer_norm_epsilon: 1e-5 };
    const file = join(work, 'infer', 'model.onnx');
    mkdirSync(join(work, 'infer'));
    writeFileSync(file, encodeModel(buildGpt2Graph(config, randomWeights(config, 3))));
    const src = await loadOnnxSource(file);
    expect(src.config).toEqual(config);
    expect(src.hasKvCache).toBe(true);
  });

  it('turns an exported GPT-2 .onnx into a complete artifact', async () => {
    const config: Gpt2Config = { n_layer: 2, n_embd: 32, n_head: 4, n_positions: 48, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
    const file = join(work, 'export.onnx');
    writeFileSync(file, encodeModel(buildGpt2Graph(config, randomWeights(config, 9))));
    const out = join(work, 'models', 'current');
    const result = await quantizeArtifact({
      ...QUANTIZE_DEFAULTS,
      source: { kind: 'onnx', path: file, id: file },
      outDir: out,
      reportRepetitions: 1,
      log: () => undefined,
    });
    expect(result.reused).toBe(false);
    const manifest = await readManifest(out);
    expect(manifest.source.kind).toBe('onnx');
    expect(manifest.config).toEqual(config);
    const int8 = decodeModel(new Uint8Array(readFileSync(join(out, 'model.int8.onnx'))));
    expect(int8.graph?.node?.filter((n) => n.opType === 'MatMulIntegerToFloat')).toHaveLength(4 * config.n_layer + 1);
    expect(manifest.int8_bytes / manifest.fp32_bytes).toBeLessThan(0.3);
  });

  it('refuses a file that is not an ONNX model, naming it', async () => {
    const file = join(work, 'junk.onnx');
    writeFileSync(file, 'this is not protobuf at all, just some text');
    await expect(loadOnnxSource(file)).rejects.toThrow(/junk\.onnx is not an ONNX model/);
  });
});
