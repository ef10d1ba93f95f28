/**
 * The peer the project's INT8 is measured against: an FP32 graph rewritten the way ONNX Runtime's
 * `quantize_dynamic` rewrites it with its defaults (QOperator format, `weight_type=QInt8`,
 * `per_channel=False`, `reduce_range=False`, `MatMulConstBOnly`), in TypeScript so the bench needs
 * no Python. For every MatMul with a constant FP32 B:
 *
 *   DynamicQuantizeLinear(A) → (A_u8, A_scale, A_zp)   uint8, one scale and zero point per tensor
 *   MatMulInteger(A_u8, B_s8, A_zp, B_zp = 0) → Cast(float) → Mul(·, Mul(A_scale, B_scale))
 *
 * with B quantized symmetrically to int8 with one scale for the whole tensor (absmax / 127). ONNX
 * Runtime fuses each chain into `DynamicQuantizeMatMul` when it loads the model. Every Gather from
 * a constant FP32 table (axis 0) reads the table as int8 (the same weight quantization) and is
 * followed by `DequantizeLinear`, as `quantize_dynamic` does for Gather (GatherQuant).
 *
 * One difference from running `quantize_dynamic` on this repository's graph: `quantize_dynamic`
 * leaves Gemm in FP32, and gpt2-graph.ts writes the LM head as a Gemm (transB) so a tied head shares
 * the embedding's initializer. Optimum's export writes the head as a MatMul over a transposed copy of
 * the table, which `quantize_dynamic` quantizes; so here a Gemm with a constant B, no transA and
 * alpha = beta = 1 is quantized as that MatMul (over its own [K, N] int8 copy), its bias added after.
 */
import { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { DT, GraphBuilder } from '@gpt2-int8/runtime/onnx-graph-builder';
import { dimsOf, floatData } from '../onnx/tensor-data.js';
import { quantizeSymmetric, transpose } from './quantize-weights.js';

export interface OrtStandardStats {
  matmuls: number;
  gathers: number;
}

function attr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** A copy of `model` quantized as ONNX Runtime's `quantize_dynamic` does by default (see above). */
export function quantizeOrtStandard(model: onnx.ModelProto): { model: onnx.ModelProto; stats: OrtStandardStats } {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const inits = new Map(graph.initializer?.map((t) => [t.name as string, t]) ?? []);
  const b = new GraphBuilder('ort/');
  const isFloatMatrix = (name: string | undefined): name is string => {
    const t = name === undefined ? undefined : inits.get(name);
    return t !== undefined && t.dataType === DT.FLOAT && dimsOf(t).length === 2;
  };

  /** Per-tensor symmetric int8, as quantize_dynamic's weights: [q, scale, zero point] initializer names. */
  const weights = new Map<string, [string, string, string]>();
  const int8Weight = (name: string, layout: 'as-stored' | 'transposed'): [string, string, string] => {
    const key = `${name}:${layout}`;
    const found = weights.get(key);
    if (found) return found;
    const t = inits.get(name) as onnx.ITensorProto;
    const [rows, cols] = dimsOf(t) as [number, number];
    const data = layout === 'transposed' ? transpose(floatData(t), rows, cols) : floatData(t);
    const dims = layout === 'transposed' ? [cols, rows] : [rows, cols];
    const q = quantizeSymmetric(data, dims[0] as number, dims[1] as number, 0, 'per-tensor');
    const suffix = layout === 'transposed' ? '_T' : '';
    const made: [string, string, string] = [
      b.initializer(`${name}${suffix}_quantized`, { dims, dataType: DT.INT8, data: q.q }),
      b.initializer(`${name}${suffix}_scale`, { dims: [], dataType: DT.FLOAT, data: q.scales }),
      b.initializer(`${name}${suffix}_zero_point`, { dims: [], dataType: DT.INT8, data: new Int8Array(1) }),
    ];
    weights.set(key, made);
    return made;
  };
  /** DynamicQuantizeLinear once per activation, however many matmuls read it. */
  const activations = new Map<string, string[]>();
  const dynamicQuantize = (x: string): string[] => {
    const found = activations.get(x);
    if (found) return found;
    const made = b.opN('DynamicQuantizeLinear', [x], 3);
    activations.set(x, made);
    return made;
  };
  const matMulInteger = (a: string, weight: string, layout: 'as-stored' | 'transposed', out: string | undefined): string => {
    const [aq, aScale, aZp] = dynamicQuantize(a) as [string, string, string];
    const [bq, bScale, bZp] = int8Weight(weight, layout);
    const acc = b.op('MatMulInteger', [aq, bq, aZp, bZp]);
    return b.op('Mul', [b.op('Cast', [acc], { to: DT.FLOAT }), b.op('Mul', [aScale, bScale])], {}, '', out);
  };

  const stats: OrtStandardStats = { matmuls: 0, gathers: 0 };
  const nodes: onnx.INodeProto[] = [];
  for (const node of graph.node ?? []) {
    const start = b.nodes.length;
    const [x, w, c] = node.input ?? [];
    const out = node.output?.[0];
    if (node.opType === 'MatMul' && x !== undefined && isFloatMatrix(w)) {
      matMulInteger(x, w, 'as-stored', out);
      stats.matmuls++;
    } else if (node.opType === 'Gemm' && x !== undefined && isFloatMatrix(w) && Number(attr(node, 'transA')?.i ?? 0) === 0
      && (attr(node, 'alpha')?.f ?? 1) === 1 && (attr(node, 'beta')?.f ?? 1) === 1) {
      const transposed = Number(attr(node, 'transB')?.i ?? 0) === 1;
      const y = matMulInteger(x, w, transposed ? 'transposed' : 'as-stored', c ? undefined : out);
      if (c) b.op('Add', [y, c], {}, '', out);
      stats.matmuls++;
    } else if (node.opType === 'Gather' && x !== undefined && w !== undefined && isFloatMatrix(x) && Number(attr(node, 'axis')?.i ?? 0) === 0) {
      const [q, scale, zp] = int8Weight(x, 'as-stored');
      b.op('DequantizeLinear', [b.op('Gather', [q, w]), scale, zp], {}, '', out);
      stats.gathers++;
    } else {
      nodes.push(node);
      continue;
    }
    nodes.push(...b.nodes.slice(start));
  }
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const initializer = [...(graph.initializer ?? []), ...b.initializers].filter((t) => used.has(t.name as string));
  return {
    model: onnx.ModelProto.create({ ...model, graph: onnx.GraphProto.create({ ...graph, node: nodes as onnx.NodeProto[], initializer }) }),
    stats,
  };
}
