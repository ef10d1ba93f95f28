import type { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { DT, MS_DOMAIN } from '@gpt2-int8/runtime/onnx-graph-builder';
import { activationPasses, blockBits, type BlockQuantization, type RowQuantization } from '../quantization.js';
import { dimsOf } from '../../onnx/tensor-data.js';
import { attribute } from '../../onnx/attribute.js';
import type { Int8Activation, QuantizableNode, Quantizer } from '../quantizer.js';

/** x · W · alpha with a constant W: MatMul, and the product inside a Gemm (gemm.ts). */
export interface Product {
  x: string;
  weight: string;
  /** [K,N] as MatMul reads it, or [N,K] (Gemm's transB, or behind a Transpose as torch.onnx.export writes nn.Linear). */
  stored: 'KN' | 'NK';
  alpha: number;
  /** x is 2-D (a Gemm's A), so further products of it can be Gemms too. */
  matrixInput: boolean;
}

/** MatMul whose weight is a constant FP32 matrix, read directly or through a Transpose. */
export function matchMatMul(node: onnx.INodeProto, q: Quantizer): QuantizableNode | undefined {
  const [x, w] = node.input ?? [];
  if (x === undefined || w === undefined) return undefined;
  const t = q.producers.get(w);
  const perm = t && attribute(t, 'perm')?.ints?.map(Number);
  const transposed = t?.opType === 'Transpose' && (perm === undefined || (perm[0] === 1 && perm[1] === 0)) ? t.input?.[0] : undefined;
  const p: Product | undefined = q.isFloatMatrix(w) ? { x, weight: w, stored: 'KN', alpha: 1, matrixInput: false }
    : q.isFloatMatrix(transposed) ? { x, weight: transposed, stored: 'NK', alpha: 1, matrixInput: false } : undefined;
  return p && { node, weight: p.weight, role: 'linear', emit: () => void emitProduct(q, p, node.output?.[0]) };
}

/** Emits the product in the chosen precision; its last node writes `out` (a fresh name when undefined). */
export function emitProduct(q: Quantizer, p: Product, out: string | undefined): string {
  const qz = q.quantizationOf(p.weight);
  return qz.activations === 'dynamic-per-row' ? int8Product(q, qz, p, out) : blockProduct(q, qz, p, out);
}

/**
 * int8: int8 weights times activations quantized per row at run time (Quantizer.int8Activation), as
 * one MatMulIntegerToFloat (the weight's scales per column inside the kernel, the row scales applied
 * to its output) when the activation came from one QuantizeLinear, else MatMulInteger and the scales.
 * A widening linear's activation may come in two passes (quantization.ts), whose product's halves
 * are then added; a tied head adds the product of its table's kept FP32 columns.
 */
function int8Product(q: Quantizer, qz: RowQuantization, p: Product, out: string | undefined): string {
  const { b } = q;
  // A table shared with a Gather stays [N,K] on disk; ONNX Runtime folds this Transpose at load.
  const shared = p.stored === 'NK' && q.lookupTables.has(p.weight);
  const w = q.int8Weight(p.weight, shared ? 'rows' : 'KN', p.stored, qz.granularity);
  const weight = shared ? b.op('Transpose', [w.q], { perm: [1, 0] }) : w.q;
  const [rows, cols] = dimsOf(q.inits.get(p.weight) as onnx.ITensorProto) as [number, number];
  const widening = p.stored === 'KN' ? cols / rows : rows / cols;
  const x = activationPasses(qz, widening) === 2 ? q.int8TwoPassActivation(p.x) : q.int8Activation(p.x);
  const wScale = p.alpha === 1 ? w.scales : b.op('Mul', [w.scales, b.scalar(p.alpha)]);
  const kept = shared ? q.keptColumns(p.weight) : undefined;
  const intOut = kept ? undefined : out;
  const productOut = x.passes === 2 ? undefined : intOut;
  // The row scale as MatMulIntegerToFloat's a_scale: a [..., 1] tensor it multiplies the output by
  // (onnxruntime 1.30, contrib_ops/cpu/quantization/dynamic_quantize_matmul.cc). No bias input: the
  // kernel adds a bias before that multiplication, so a following Add stays a separate node.
  const product = x.fused ? b.op('MatMulIntegerToFloat', [x.q, weight, x.scale, wScale, b.scalar(128, DT.UINT8)], {}, MS_DOMAIN, productOut) : integerProduct(q, x, weight, wScale, productOut);
  const y = x.passes === 2 ? q.addPasses(product, intOut) : product;
  if (!kept) return y;
  // The table's kept FP32 columns (Quantizer.keptColumns): their channels of x times them, in FP32.
  const keptX = b.op('Gather', [p.x, kept.columns], { axis: -1 });
  // A Gemm adds y itself and reads the kept columns as stored ([V, k], transB): 1 token on distil
  // with 8 columns costs +2.7% this way against +5.4% as a MatMul, Transpose and Add (docs/performance.md).
  if (p.matrixInput) return b.op('Gemm', [keptX, kept.kept, y], { transB: 1, alpha: { float: p.alpha } }, '', out);
  const fromKept = b.op('MatMul', [keptX, b.op('Transpose', [kept.kept], { perm: [1, 0] })]);
  return b.op('Add', [y, p.alpha === 1 ? fromKept : b.op('Mul', [fromKept, b.scalar(p.alpha)])], {}, '', out);
}

/**
 * MatMulInteger, then the weight's scales, then the row scales. The other association,
 * Cast(acc) × (row_scale × w_scale), is the pattern ONNX Runtime's MatMulIntegerToFloat fusion
 * matches, and that fusion assumes a per-tensor activation scale: with per-row scales it gives
 * wrong results at optimisation level 'extended' and above (docs/performance.md; onnxruntime-node 1.30).
 */
function integerProduct(q: Quantizer, x: Int8Activation, weight: string, wScale: string, out: string | undefined): string {
  const { b } = q;
  const acc = b.op('MatMulInteger', [x.q, weight, b.scalar(128, DT.UINT8)]);
  return b.op('Mul', [b.op('Mul', [b.op('Cast', [acc], { to: DT.FLOAT }), wScale]), x.scale], {}, '', out);
}

/** MatMulNBits' accuracy level 4: activations quantized to int8 per block of K at run time. */
const INT8_COMPUTE = 4;

/** Blocks: MatMulNBits on 4- or 8-bit weight blocks, activations quantized per block of each row at run time. */
function blockProduct(q: Quantizer, qz: BlockQuantization, p: Product, out: string | undefined): string {
  const w = q.blockWeight(p.weight, p.stored, blockBits(qz), qz.block_size);
  const attrs = { K: w.k, N: w.n, bits: w.bits, block_size: w.blockSize, accuracy_level: INT8_COMPUTE };
  const y = q.b.op('MatMulNBits', [p.x, w.packed, w.scales], attrs, MS_DOMAIN, p.alpha === 1 ? out : undefined);
  return p.alpha === 1 ? y : q.b.op('Mul', [y, q.b.scalar(p.alpha)], {}, '', out);
}
