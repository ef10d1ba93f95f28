import type { onnx } from '@gpt2-int8/shared/onnx-proto';
import { DT, type GraphBuilder, MS_DOMAIN } from '@gpt2-int8/shared/onnx-graph-builder';
import { dimsOf, floatData } from '../onnx/tensor-data.js';
import { quantizeInt4Blocks, transpose } from './quantize-weights.js';
import type { Usage } from './weight-usages.js';

/** MatMulNBits' accuracy level 4: activations quantized to int8 per block of K at run time. */
const INT8_COMPUTE = 4;

/**
 * INT4: 4-bit weight-only blocks with ONNX Runtime's MatMulNBits, and GatherBlockQuantized for the
 * embedding. Both read the same packed table [N, K/block, block/2] (the lookup through a Reshape
 * ONNX Runtime folds at load), so a tied embedding and head are stored once. Activations are
 * quantized per block of each row at run time, so results stay independent of the batch.
 */
export function int4Emitter(b: GraphBuilder, inits: Map<string, onnx.ITensorProto>, blockSize: number) {
  const packedTables = new Map<string, { packed: string; scales: string; n: number; k: number }>();
  /** The weight as [N, K]: rows are output channels (MatMulNBits' layout and a lookup table's). */
  const packedTable = (init: string, stored: 'KN' | 'NK') => {
    const found = packedTables.get(init);
    if (found) return found;
    const t = inits.get(init) as onnx.ITensorProto;
    const [rows, cols] = dimsOf(t) as [number, number];
    const [n, k] = stored === 'NK' ? [rows, cols] : [cols, rows];
    const data = stored === 'NK' ? floatData(t) : transpose(floatData(t), rows, cols);
    if (k % blockSize !== 0) throw new Error(`${init}: ${k} inputs is not a multiple of the int4 block size ${blockSize}; choose a smaller --block-size`);
    const q = quantizeInt4Blocks(data, n, k, blockSize);
    const entry = {
      packed: b.initializer(`${init}_int4`, { dims: [n, k / blockSize, blockSize / 2], dataType: DT.UINT8, data: q.packed }),
      scales: b.initializer(`${init}_int4_scale`, { dims: [n * (k / blockSize)], dataType: DT.FLOAT, data: q.scales }),
      n,
      k,
    };
    packedTables.set(init, entry);
    return entry;
  };

  return (u: Usage): void => {
    const out = u.node.output?.[0] as string;
    if (u.kind === 'gather') {
      // The lookup's own shape of the same bytes: data [N, K/2], scales [N, K/block].
      const w = packedTable(u.init, 'NK');
      const data = b.op('Reshape', [w.packed, b.constant([w.n, w.k / 2], DT.INT64)]);
      const scales = b.op('Reshape', [w.scales, b.constant([w.n, w.k / blockSize], DT.INT64)]);
      b.op('GatherBlockQuantized', [data, u.node.input?.[1] as string, scales], { gather_axis: 0, quantize_axis: 1, block_size: blockSize, bits: 4 }, MS_DOMAIN, out);
      return;
    }
    const w = packedTable(u.init, u.stored);
    const attrs = { K: w.k, N: w.n, bits: 4, block_size: blockSize, accuracy_level: INT8_COMPUTE };
    const needsMore = u.alpha !== 1 || u.bias !== undefined;
    let y = b.op('MatMulNBits', [u.node.input?.[0] as string, w.packed, w.scales], attrs, MS_DOMAIN, needsMore ? undefined : out);
    if (u.alpha !== 1) y = b.op('Mul', [y, b.scalar(u.alpha)], {}, '', u.bias ? undefined : out);
    if (u.bias) b.op('Add', [y, u.bias.beta === 1 ? u.bias.name : b.op('Mul', [u.bias.name, b.scalar(u.bias.beta)])], {}, '', out);
  };
}
