import type { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { DT, MS_DOMAIN } from '@gpt2-int8/runtime/onnx-graph-builder';
import { dimsOf } from '../../onnx/tensor-data.js';
import { blockBits, type BlockQuantization, type RowQuantization } from '../quantization.js';
import { attribute } from '../../onnx/attribute.js';
import type { QuantizableNode, Quantizer } from '../quantizer.js';

/** Gather along axis 0 of a constant FP32 matrix: an embedding lookup. */
export function matchGather(node: onnx.INodeProto, q: Quantizer): QuantizableNode | undefined {
  const [table, ids] = node.input ?? [];
  if (!q.isFloatMatrix(table) || ids === undefined || Number(attribute(node, 'axis')?.i ?? 0) !== 0) return undefined;
  const out = node.output?.[0] as string;
  const emit = () => {
    const qz = q.quantizationOf(table);
    return qz.activations === 'dynamic-per-row' ? int8Lookup(q, qz, table, ids, out) : blockLookup(q, qz, table, ids, out);
  };
  return { node, weight: table, role: 'embedding', emit };
}

/**
 * Of the lookup tables only the largest (the vocabulary) is quantized: the position table is small
 * (3 MB in GPT-2 small) and quantizing it costs measurable agreement on trained weights
 * (quality.test.ts's student-tiny: 98.0% → 98.4% top-1 when it stays FP32).
 */
export function tokenEmbeddingOnly(found: QuantizableNode[], q: Quantizer): QuantizableNode[] {
  const rowsOf = (table: string) => dimsOf(q.inits.get(table) as onnx.ITensorProto)[0] as number;
  const largest = Math.max(0, ...found.filter((u) => u.role === 'embedding').map((u) => rowsOf(u.weight)));
  return found.filter((u) => u.role !== 'embedding' || rowsOf(u.weight) === largest);
}

/** int8: the rows gathered as int8 codes, then dequantized by their scales (or the one per tensor), plus the table's kept FP32 columns. */
function int8Lookup(q: Quantizer, qz: RowQuantization, table: string, ids: string, out: string): void {
  const { b } = q;
  const w = q.int8Weight(table, 'rows', 'KN', qz.granularity);
  const rows = b.op('Cast', [b.op('Gather', [w.q, ids])], { to: DT.FLOAT });
  const scale = qz.granularity === 'per-tensor' ? w.scales : b.op('Unsqueeze', [b.op('Gather', [w.scales, ids]), b.constant([-1], DT.INT64)]);
  const kept = q.keptColumns(table);
  const looked = b.op('Mul', [rows, scale], {}, '', kept ? undefined : out);
  // The FP32 columns go back in place through a 0/1 matrix: exact, as the int8 rows hold 0 there.
  if (kept) b.op('Add', [looked, b.op('MatMul', [b.op('Gather', [kept.kept, ids]), kept.placement])], {}, '', out);
}

/**
 * Blocks: GatherBlockQuantized on the table a tied head's MatMulNBits reads (matmul.ts), so the two
 * share it, through Reshapes ONNX Runtime folds at load: data [N, K·bits/8], scales [N, K/block].
 */
function blockLookup(q: Quantizer, qz: BlockQuantization, table: string, ids: string, out: string): void {
  const { b } = q;
  const w = q.blockWeight(table, 'NK', blockBits(qz), qz.block_size);
  const data = b.op('Reshape', [w.packed, b.constant([w.n, (w.k * w.bits) / 8], DT.INT64)]);
  const scales = b.op('Reshape', [w.scales, b.constant([w.n, w.k / w.blockSize], DT.INT64)]);
  b.op('GatherBlockQuantized', [data, ids, scales], { gather_axis: 0, quantize_axis: 1, block_size: w.blockSize, bits: w.bits }, MS_DOMAIN, out);
}
