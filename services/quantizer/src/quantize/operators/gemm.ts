import type { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { attribute } from '../../onnx/attribute.js';
import type { QuantizableNode, Quantizer } from '../quantizer.js';
import { emitProduct, type Product } from './matmul.js';

/**
 * Gemm with a constant B and no transA: alpha · A · B' + beta · C, B' being B or, with transB, Bᵀ
 * (the LM head gpt2-graph.ts builds, and torch.onnx.export's linear layers). Its product is emitted
 * as a MatMul's (matmul.ts), in either precision, then the bias is added in FP32.
 */
export function matchGemm(node: onnx.INodeProto, q: Quantizer): QuantizableNode | undefined {
  const [x, w, bias] = node.input ?? [];
  if (x === undefined || !q.isFloatMatrix(w) || Number(attribute(node, 'transA')?.i ?? 0) !== 0) return undefined;
  const p: Product = { x, weight: w, stored: Number(attribute(node, 'transB')?.i ?? 0) === 1 ? 'NK' : 'KN', alpha: attribute(node, 'alpha')?.f ?? 1, matrixInput: true };
  const beta = attribute(node, 'beta')?.f ?? 1;
  const emit = () => {
    const out = node.output?.[0];
    const y = emitProduct(q, p, bias ? undefined : out);
    if (bias) q.b.op('Add', [y, beta === 1 ? bias : q.b.op('Mul', [bias, q.b.scalar(beta)])], {}, '', out);
  };
  return { node, weight: w, role: 'linear', emit };
}
