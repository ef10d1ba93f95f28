import { onnx } from '../onnx/onnx-proto.js';
import { DT, GraphBuilder } from '../onnx/graph-builder.js';
import { dimsOf, floatData } from '../onnx/tensor-data.js';
import { type Granularity, type QuantizedMatrix, quantizeSymmetric, transpose } from './quantize-weights.js';

export interface QuantizeOptions {
  granularity: Granularity;
}

export interface QuantizeStats {
  linear: number;
  embedding: number;
}

/** How a float matrix is used: as the weight of a matmul (stored [K,N] or [N,K]) or as a lookup table. */
type Usage =
  | { kind: 'matmul'; node: onnx.INodeProto; init: string; stored: 'KN' | 'NK'; alpha: number; bias?: { name: string; beta: number } }
  | { kind: 'gather'; node: onnx.INodeProto; init: string };

/** Integer codes of a weight, as initializers: [K,N] ready for MatMulInteger, or rows for Gather. */
interface WeightVariant {
  q: string;
  scales: string;
  /** 'rows' keeps the stored [R,C] layout with a scale per row; 'KN' is [K,N] with a scale per column. */
  layout: 'rows' | 'KN';
}

function attr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/**
 * Rewrites every MatMul/Gemm whose weight is a constant FP32 initializer into an INT8 matmul with
 * per-row (per-token) dynamic activation quantization, and every Gather from a constant FP32 table
 * into an INT8 lookup dequantized after the gather. Everything else is left as it is.
 *
 * Activations are quantized per row rather than per tensor (ONNX Runtime's DynamicQuantizeLinear),
 * so a prompt's result does not depend on what else is in its batch or on whether its prefix came
 * from the KV cache. Codes are shifted into uint8 with a zero point of 128, which keeps ONNX Runtime
 * on its fast u8×s8 kernel (see QUANTIZATION-NOTES.md).
 */
export function quantizeModel(model: onnx.ModelProto, opts: QuantizeOptions): QuantizeStats {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const opset = model.opsetImport?.find((o) => !o.domain)?.version;
  const opsetVersion = opset === undefined || opset === null ? 0 : Number(opset);
  if (opsetVersion < 13) throw new Error(`the model uses ONNX opset ${opsetVersion}; opset 13 or later is needed (re-export with a newer exporter)`);

  const inits = new Map(graph.initializer?.map((t) => [t.name as string, t]) ?? []);
  const producers = new Map<string, onnx.INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producers.set(o, n);
  const isFloatMatrix = (name: string | undefined) => {
    const t = name === undefined ? undefined : inits.get(name);
    return t !== undefined && t.dataType === DT.FLOAT && dimsOf(t).length === 2;
  };

  const usages: Usage[] = [];
  for (const node of graph.node ?? []) {
    const [a, bIn, c] = node.input ?? [];
    if (a === undefined || bIn === undefined) continue;
    if (node.opType === 'MatMul') {
      if (isFloatMatrix(bIn)) usages.push({ kind: 'matmul', node, init: bIn, stored: 'KN', alpha: 1 });
      const t = producers.get(bIn);
      if (t?.opType === 'Transpose' && isFloatMatrix(t.input?.[0])) {
        const perm = attr(t, 'perm')?.ints?.map(Number);
        if (perm === undefined || (perm[0] === 1 && perm[1] === 0)) usages.push({ kind: 'matmul', node, init: t.input?.[0] as string, stored: 'NK', alpha: 1 });
      }
    } else if (node.opType === 'Gemm' && isFloatMatrix(bIn) && Number(attr(node, 'transA')?.i ?? 0) === 0) {
      usages.push({
        kind: 'matmul',
        node,
        init: bIn,
        stored: Number(attr(node, 'transB')?.i ?? 0) === 1 ? 'NK' : 'KN',
        alpha: attr(node, 'alpha')?.f ?? 1,
        ...(c ? { bias: { name: c, beta: attr(node, 'beta')?.f ?? 1 } } : {}),
      });
    } else if (node.opType === 'Gather' && isFloatMatrix(a) && Number(attr(node, 'axis')?.i ?? 0) === 0) {
      usages.push({ kind: 'gather', node, init: a });
    }
  }

  // Only the token embedding, the largest lookup table, is worth storing as int8: the position
  // table is small (3 MB in GPT-2 small) and quantizing it costs measurable agreement on trained
  // weights (student-tiny: 98.0% → 98.4% top-1 when it stays FP32).
  const rowsOf = (init: string) => dimsOf(inits.get(init) as onnx.ITensorProto)[0] as number;
  const largestTable = Math.max(0, ...usages.filter((u) => u.kind === 'gather').map((u) => rowsOf(u.init)));
  usages.splice(0, usages.length, ...usages.filter((u) => u.kind !== 'gather' || rowsOf(u.init) === largestTable));

  const b = new GraphBuilder('q/');
  const i64 = DT.INT64;
  const gathered = new Set(usages.filter((u) => u.kind === 'gather').map((u) => u.init));
  const variants = new Map<string, WeightVariant>();
  const variant = (init: string, layout: 'rows' | 'KN', stored: 'KN' | 'NK'): WeightVariant => {
    const key = `${init}:${layout}`;
    const found = variants.get(key);
    if (found) return found;
    const t = inits.get(init) as onnx.ITensorProto;
    const [rows, cols] = dimsOf(t) as [number, number];
    const data = floatData(t);
    let qm: QuantizedMatrix;
    let dims: number[];
    if (layout === 'rows') {
      qm = quantizeSymmetric(data, rows, cols, 0, opts.granularity);
      dims = [rows, cols];
    } else if (stored === 'KN') {
      qm = quantizeSymmetric(data, rows, cols, 1, opts.granularity);
      dims = [rows, cols];
    } else {
      qm = quantizeSymmetric(transpose(data, rows, cols), cols, rows, 1, opts.granularity);
      dims = [cols, rows];
    }
    const v: WeightVariant = {
      q: b.initializer(`${init}_quantized${layout === 'rows' ? '' : '_kn'}`, { dims, dataType: DT.INT8, data: qm.q }),
      scales: b.initializer(`${init}_scale${layout === 'rows' ? '' : '_kn'}`, { dims: [qm.scales.length], dataType: DT.FLOAT, data: qm.scales }),
      layout,
    };
    variants.set(key, v);
    return v;
  };

  // Per-row activation quantization, computed once per tensor however many matmuls read it.
  const rowQuant = new Map<string, { q: string; scale: string }>();
  const reduceMax = (x: string) =>
    opsetVersion >= 18 ? b.op('ReduceMax', [x, b.constant([-1], i64)], { keepdims: 1 }) : b.op('ReduceMax', [x], { axes: [-1], keepdims: 1 });
  const quantizeRows = (x: string) => {
    const found = rowQuant.get(x);
    if (found) return found;
    const scale = b.op('Max', [b.op('Mul', [reduceMax(b.op('Abs', [x])), b.scalar(1 / 127)]), b.scalar(1e-30)]);
    const shifted = b.op('Add', [b.op('Round', [b.op('Div', [x, scale])]), b.scalar(128)]);
    const result = { q: b.op('Cast', [shifted], { to: DT.UINT8 }), scale };
    rowQuant.set(x, result);
    return result;
  };

  const replaced = new Map<onnx.INodeProto, onnx.NodeProto[]>();
  const stats: QuantizeStats = { linear: 0, embedding: 0 };
  for (const u of usages) {
    const start = b.nodes.length;
    const out = u.node.output?.[0] as string;
    if (u.kind === 'gather') {
      const w = variant(u.init, 'rows', 'KN');
      const ids = u.node.input?.[1] as string;
      const rows = b.op('Cast', [b.op('Gather', [w.q, ids])], { to: DT.FLOAT });
      const scale = opts.granularity === 'per-tensor' ? w.scales : b.op('Unsqueeze', [b.op('Gather', [w.scales, ids]), b.constant([-1], i64)]);
      b.op('Mul', [rows, scale], {}, '', out);
      stats.embedding++;
    } else {
      const useRows = u.stored === 'NK' && gathered.has(u.init);
      const w = variant(u.init, useRows ? 'rows' : 'KN', u.stored);
      // A table shared with a Gather stays [N,K] on disk; ONNX Runtime folds this Transpose at load.
      const weight = useRows ? b.op('Transpose', [w.q], { perm: [1, 0] }) : w.q;
      const x = quantizeRows(u.node.input?.[0] as string);
      const acc = b.op('MatMulInteger', [x.q, weight, b.scalar(128, DT.UINT8)]);
      const wScale = u.alpha === 1 ? w.scales : b.op('Mul', [w.scales, b.scalar(u.alpha)]);
      // Scale by the weight's scales first, then the row scales. The other association,
      // Cast(acc) × (row_scale × w_scale), is the pattern ONNX Runtime's MatMulIntegerToFloat fusion
      // matches, and that fusion assumes a per-tensor activation scale: with per-row scales it gives
      // wrong results at optimisation level 'extended' and above (measured with onnxruntime-node 1.30).
      const cast = b.op('Cast', [acc], { to: DT.FLOAT });
      const product = b.op('Mul', [b.op('Mul', [cast, wScale]), x.scale], {}, '', u.bias ? undefined : out);
      if (u.bias) {
        const bias = u.bias.beta === 1 ? u.bias.name : b.op('Mul', [u.bias.name, b.scalar(u.bias.beta)]);
        b.op('Add', [product, bias], {}, '', out);
      }
      stats.linear++;
    }
    replaced.set(u.node, b.nodes.slice(start));
  }

  // Splice replacements in place of the nodes they replace, which keeps the node list topological
  // (activation quantization is emitted with the first matmul that reads it).
  const nodes: onnx.INodeProto[] = (graph.node ?? []).flatMap((n) => replaced.get(n) ?? [n]);
  graph.node = removeDeadNodes(nodes, new Set(graph.output?.map((o) => o.name as string))) as onnx.NodeProto[];
  const used = new Set(graph.node.flatMap((n) => n.input ?? []));
  for (const o of graph.output ?? []) used.add(o.name as string);
  graph.initializer = [...(graph.initializer ?? []), ...b.initializers].filter((t) => used.has(t.name as string));
  return stats;
}

/** Drops nodes none of whose outputs is read (the Transposes that fed a replaced weight). */
function removeDeadNodes(nodes: onnx.INodeProto[], graphOutputs: Set<string>): onnx.INodeProto[] {
  let live = nodes;
  for (;;) {
    const read = new Set(live.flatMap((n) => n.input ?? []));
    const next = live.filter((n) => (n.output ?? []).some((o) => o !== '' && (read.has(o) || graphOutputs.has(o))));
    if (next.length === live.length) return live;
    live = next;
  }
}

