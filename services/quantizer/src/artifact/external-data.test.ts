import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { Gpt2Session, leftPad } from '@gpt2-int8/runtime/gpt2-session';
import { decodeModel, encodeModel } from '@gpt2-int8/runtime/onnx-graph-builder';
import { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { buildGpt2Graph } from '../gpt2-graph.js';
import { quantizeModel } from '../quantize/quantize-graph.js';
import { int8Quantization } from '../quantize/quantization.js';
import { randomWeights } from '../random-weights.test-util.js';
import { encodeWithExternalData, EXTERNAL_DATA_ALIGNMENT } from './external-data.js';

const config: Gpt2Config = { n_layer: 2, n_embd: 64, n_head: 4, n_positions: 64, vocab_size: 503, layer_norm_epsilon: 1e-5 };
const { model } = quantizeModel(decodeModel(encodeModel(buildGpt2Graph(config, randomWeights(config, 5)))), int8Quantization('per-channel'));
const inline = encodeModel(model);
const split = encodeWithExternalData(model, 'm.onnx.data');
const stored = decodeModel(split.model);
const dir = mkdtempSync(join(tmpdir(), 'external-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entry = (t: onnx.ITensorProto, key: string) => t.externalData?.find((e) => e.key === key)?.value;

describe('encodeWithExternalData', () => {
  it('moves exactly the tables a Gather reads, at aligned offsets, with their bytes unchanged', () => {
    const gathered = new Set(model.graph?.node?.filter((n) => n.opType === 'Gather').map((n) => n.input?.[0]));
    const original = new Map(model.graph?.initializer?.map((t) => [t.name, t]));
    const external = stored.graph?.initializer?.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) ?? [];
    expect(external.map((t) => t.name).sort()).toEqual([...gathered].filter((n) => original.has(n as string)).sort());
    expect(external.map((t) => t.name)).toContain('transformer.wte.weight_quantized');
    for (const t of external) {
      const offset = Number(entry(t, 'offset'));
      const length = Number(entry(t, 'length'));
      expect(entry(t, 'location')).toBe('m.onnx.data');
      expect(offset % EXTERNAL_DATA_ALIGNMENT).toBe(0);
      expect(t.rawData?.length ?? 0).toBe(0);
      expect(Buffer.from(split.data.subarray(offset, offset + length)).equals(Buffer.from(original.get(t.name)?.rawData as Uint8Array))).toBe(true);
    }
    // The model passed in is left as it was.
    expect(Buffer.from(encodeModel(model)).equals(Buffer.from(inline))).toBe(true);
  });

  it('gives ONNX Runtime the same model: identical logits from the two files as from the single one', async () => {
    writeFileSync(join(dir, 'm.onnx'), split.model);
    writeFileSync(join(dir, 'm.onnx.data'), split.data);
    const one = await Gpt2Session.load(inline, config);
    const two = await Gpt2Session.load(join(dir, 'm.onnx'), config);
    for (const prompt of [[1, 2, 3], [502, 7, 7, 7, 40], [0]]) {
      const a = await one.logits(leftPad([prompt], 0));
      const b = await two.logits(leftPad([prompt], 0));
      expect(b.logits).toEqual(a.logits);
    }
    await one.release();
    await two.release();
  });
});
