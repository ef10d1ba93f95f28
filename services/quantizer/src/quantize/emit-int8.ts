import type { onnx } from '@gpt2-int8/shared/onnx-proto';
import { DT, type GraphBuilder } from '@gpt2-int8/shared/onnx-graph-builder';
import { dimsOf, floatData } from '../onnx/tensor-data.js';
import { type Granularity, type QuantizedMatrix, quantizeSymmetric, transpose } from './quantize-weights.js';
import type { Usage } from './weight-usages.js';

/** Integer codes of a weight, as initializers: [K,N] ready for MatMulInteger, or rows for Gather. */
interface WeightVariant {
  q: string;
  scales: string;
}

const i64 = DT.INT64;

/**
 * INT8: int8 weights (per output channel or per tensor) with MatMulInteger and per-row (per-token)
 * dynamic activation quantization; an int8 lookup dequantized after the Gather.
 *
 * Activations are quantized per row rather than per tensor (ONNX Runtime's DynamicQuantizeLinear),
 * so a prompt's result does not depend on what else is in its batch or on whether its prefix came
 * from the KV cache. Codes are shifted into uint8 with a zero point of 128, which keeps ONNX Runtime
 * on its fast u8×s8 kernel (docs/performance.md, "Decisions").
 */
export function int8Emitter(b: GraphBuilder, inits: Map<string, onnx.ITensorProto>, usages: Usage[], granularity: Granularity, opsetVersion: number) {
  const gathered = new Set(usages.filter((u) => u.kind === 'gather').map((u) => u.init));
  const variants = new Map<string, WeightVariant>();
  // 'rows' keeps the stored [R,C] layout with a scale per row; 'KN' is [K,N] with a scale per column.
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
      qm = quantizeSymmetric(data, rows, cols, 0, granularity);
      dims = [rows, cols];
    } else if (stored === 'KN') {
      qm = quantizeSymmetric(data, rows, cols, 1, granularity);
      dims = [rows, cols];
    } else {
      qm = quantizeSymmetric(transpose(data, rows, cols), cols, rows, 1, granularity);
      dims = [cols, rows];
    }
    const suffix = layout === 'rows' ? '' : '_kn';
    const v: WeightVariant = {
      q: b.initializer(`${init}_quantized${suffix}`, { dims, dataType: DT.INT8, data: qm.q }),
      scales: b.initializer(`${init}_scale${suffix}`, { dims: [qm.scales.length], dataType: DT.FLOAT, data: qm.scales }),
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

  return (u: Usage): void => {
    const out = u.node.output?.[0] as string;
    if (u.kind === 'gather') {
      const w = variant(u.init, 'rows', 'KN');
      const ids = u.node.input?.[1] as string;
      const rows = b.op('Cast', [b.op('Gather', [w.q, ids])], { to: DT.FLOAT });
      const scale = granularity === 'per-tensor' ? w.scales : b.op('Unsqueeze', [b.op('Gather', [w.scales, ids]), b.constant([-1], i64)]);
      b.op('Mul', [rows, scale], {}, '', out);
      return;
    }
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
  };
}
