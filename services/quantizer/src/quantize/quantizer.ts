import type { Quantization } from '@gpt2-int8/contract/manifest';
import type { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { DT, GraphBuilder } from '@gpt2-int8/runtime/onnx-graph-builder';
import { dimsOf, floatData } from '../onnx/tensor-data.js';
import { headQuantization } from './quantization.js';
import { declaredRows } from './declared-rows.js';
import { outlierColumns, splitColumns } from './outlier-columns.js';
import { type Granularity, quantizeInt4Blocks, quantizeInt8Blocks, quantizeSymmetric, transpose } from './quantize-weights.js';

/** A node that reads a constant FP32 matrix, found by its operator (operators/), and how to replace it. */
export interface QuantizableNode {
  node: onnx.INodeProto;
  /** The matrix it reads: a weight (stored [K,N] or [N,K]) or a lookup table. */
  weight: string;
  role: 'linear' | 'embedding';
  /** Adds the replacement's nodes and initializers to the quantizer's builder; its last node writes the node's output. */
  emit(): void;
}

/**
 * An activation quantized at run time: uint8 codes (zero point 128) and one scale a row, `passes`
 * times (Quantizer.int8TwoPassActivation); `fused`, made by QuantizeLinear, so the product may be one
 * MatMulIntegerToFloat (operators/matmul.ts).
 */
export type Int8Activation = { q: string; scale: string; fused: boolean; passes: 1 | 2 };
/** A weight's int8 codes and scales, as initializer names. */
export type Int8Weight = { q: string; scales: string };
/**
 * A weight [N, K] in blocks of K with a scale per block, in MatMulNBits' layout: 4-bit codes packed
 * two a byte [N, K/block, block/2], or 8-bit codes [N, K/block, block].
 */
export type BlockWeight = { packed: string; scales: string; n: number; k: number; bits: 4 | 8; blockSize: number };
/**
 * A lookup table's outlier columns kept FP32 (outlier-columns.ts): `rest`, the table with them zeroed
 * (what its int8 rows are made of); `kept` [V, k]; `columns`, their indices [k]; and `placement`,
 * a [k, E] 0/1 matrix that puts the k values of a looked-up row back into their columns.
 */
export type KeptColumns = { rest: Float32Array; kept: string; columns: string; placement: string };

function cached<T>(cache: Map<string, T>, key: string, make: () => T): T {
  const found = cache.get(key);
  if (found !== undefined) return found;
  const made = make();
  cache.set(key, made);
  return made;
}

/**
 * What the operators (operators/) share while they rewrite one graph, as ONNX Runtime's quantization
 * tool splits its quantizer from its per-operator classes: the builder of the new nodes, the graph's
 * initializers, and every weight and activation quantized once however many operators read it (a
 * tied embedding and head are stored once; a tensor read by several matmuls is quantized once).
 */
export class Quantizer {
  readonly b = new GraphBuilder('q/');
  /** The tables a quantized Gather reads, known before anything is emitted (see operators/matmul.ts). */
  readonly lookupTables = new Set<string>();
  /** The LM head's weight (a matrix with the vocabulary as one dimension), known before anything is emitted. */
  readonly headWeights = new Set<string>();
  readonly inits: Map<string, onnx.ITensorProto>;
  /** The node that writes each tensor. */
  readonly producers = new Map<string, onnx.INodeProto>();
  private readonly int8Weights = new Map<string, Int8Weight>();
  private readonly blockWeights = new Map<string, BlockWeight>();
  private readonly keptColumnsOf = new Map<string, KeptColumns | null>();
  /** Keyed by tensor and passes. */
  private readonly int8Activations = new Map<string, Int8Activation>();
  /** Each activation's rows as a key (declared-rows.ts): activations with equal keys share a zero point. */
  private readonly rowsKey: (tensor: string) => string | undefined;
  private readonly zeroPoints = new Map<string, string>();

  constructor(graph: onnx.IGraphProto, readonly quantization: Quantization, private readonly opsetVersion: number) {
    this.inits = new Map(graph.initializer?.map((t) => [t.name as string, t]) ?? []);
    for (const n of graph.node ?? []) for (const o of n.output ?? []) this.producers.set(o, n);
    this.rowsKey = declaredRows(graph);
  }

  /** How the matrix `weight` is quantized: the head's and the lookup table's way, or the rest's. */
  quantizationOf(weight: string): Quantization {
    return this.lookupTables.has(weight) || this.headWeights.has(weight) ? headQuantization(this.quantization) : this.quantization;
  }

  isFloatMatrix(name: string | undefined): name is string {
    const t = name === undefined ? undefined : this.inits.get(name);
    return t !== undefined && t.dataType === DT.FLOAT && dimsOf(t).length === 2;
  }

  /** 'rows' keeps the stored [R,C] layout with a scale per row; 'KN' is [K,N] with a scale per column. */
  int8Weight(init: string, layout: 'rows' | 'KN', stored: 'KN' | 'NK', granularity: Granularity): Int8Weight {
    return cached(this.int8Weights, `${init}:${layout}`, () => {
      const t = this.inits.get(init) as onnx.ITensorProto;
      const [rows, cols] = dimsOf(t) as [number, number];
      const flip = layout === 'KN' && stored === 'NK';
      const dims = flip ? [cols, rows] : [rows, cols];
      const data = this.keptColumns(init)?.rest ?? floatData(t);
      const qm = quantizeSymmetric(flip ? transpose(data, rows, cols) : data, dims[0] as number, dims[1] as number, layout === 'rows' ? 0 : 1, granularity);
      const suffix = layout === 'rows' ? '' : '_kn';
      return {
        q: this.b.initializer(`${init}_quantized${suffix}`, { dims, dataType: DT.INT8, data: qm.q }),
        scales: this.b.initializer(`${init}_scale${suffix}`, { dims: [qm.scales.length], dataType: DT.FLOAT, data: qm.scales }),
      };
    });
  }

  /**
   * The outlier columns of lookup table `table` kept FP32, made once for the lookup (operators/gather.ts)
   * and the tied head (operators/matmul.ts); undefined when it has none or is not a lookup table.
   * Only the int8 row forms read them: blocks already give the large columns their own scales.
   */
  keptColumns(table: string): KeptColumns | undefined {
    if (!this.lookupTables.has(table)) return undefined;
    const made = cached(this.keptColumnsOf, table, () => {
      const t = this.inits.get(table) as onnx.ITensorProto;
      const [rows, cols] = dimsOf(t) as [number, number];
      const data = floatData(t);
      const columns = outlierColumns(data, rows, cols);
      if (columns.length === 0) return null;
      const { rest, kept } = splitColumns(data, rows, cols, columns);
      const placement = new Float32Array(columns.length * cols);
      columns.forEach((c, j) => {
        placement[j * cols + c] = 1;
      });
      return {
        rest,
        kept: this.b.initializer(`${table}_kept_columns`, { dims: [rows, columns.length], dataType: DT.FLOAT, data: kept }),
        columns: this.b.constant(columns, DT.INT64),
        placement: this.b.initializer(`${table}_kept_placement`, { dims: [columns.length, cols], dataType: DT.FLOAT, data: placement }),
      };
    });
    return made ?? undefined;
  }

  /** The weight as [N, K] (rows are output channels: MatMulNBits' layout and a lookup table's) in blocks of `blockSize`. */
  blockWeight(init: string, stored: 'KN' | 'NK', bits: 4 | 8, blockSize: number): BlockWeight {
    return cached(this.blockWeights, init, () => {
      const t = this.inits.get(init) as onnx.ITensorProto;
      const [rows, cols] = dimsOf(t) as [number, number];
      const [n, k] = stored === 'NK' ? [rows, cols] : [cols, rows];
      const data = stored === 'NK' ? floatData(t) : transpose(floatData(t), rows, cols);
      if (k % blockSize !== 0) throw new Error(`${init}: ${k} inputs is not a multiple of the block size ${blockSize}; choose a smaller --block-size`);
      const q = bits === 4 ? quantizeInt4Blocks(data, n, k, blockSize) : quantizeInt8Blocks(data, n, k, blockSize);
      const codes = 'packed' in q ? q.packed : q.codes;
      return {
        packed: this.b.initializer(`${init}_int${bits}`, { dims: [n, k / blockSize, (blockSize * bits) / 8], dataType: DT.UINT8, data: codes }),
        scales: this.b.initializer(`${init}_int${bits}_scale`, { dims: [n * (k / blockSize)], dataType: DT.FLOAT, data: q.scales }),
        n,
        k,
        bits,
        blockSize,
      };
    });
  }

  /**
   * `x` quantized per row (per token) at run time, not per tensor as ONNX Runtime's
   * DynamicQuantizeLinear does, so a prompt's result does not depend on what else is in its batch
   * or on whether its prefix came from the KV cache. Codes are shifted into uint8 with a zero point
   * of 128, which keeps ONNX Runtime on its fast u8×s8 kernel (README.md, How the INT8 model is built).
   */
  int8Activation(x: string): Int8Activation {
    return cached(this.int8Activations, `${x}:1`, () => {
      const { b } = this;
      const abs = b.op('Abs', [x]);
      const absMax = this.opsetVersion >= 18 ? b.op('ReduceMax', [abs, b.constant([-1], DT.INT64)], { keepdims: 1 }) : b.op('ReduceMax', [abs], { axes: [-1], keepdims: 1 });
      const scale = b.op('Max', [b.op('Mul', [absMax, b.scalar(1 / 127)]), b.scalar(1e-30)]);
      return { q: this.rowCodes(x, scale, x), scale, fused: this.fused, passes: 1 };
    });
  }

  /**
   * `x` in two passes: the codes of int8Activation, then each row's rounding error quantized at 1/254
   * of the row's scale (the error is at most half a step, so its codes stay within ±127), about 15
   * bits a value. The two are stacked along the row axis, so that one product reads the weight once
   * for both; `addPasses` adds its two halves.
   */
  int8TwoPassActivation(x: string): Int8Activation {
    return cached(this.int8Activations, `${x}:2`, () => {
      const { b } = this;
      const first = this.int8Activation(x);
      const fineScale = b.op('Mul', [first.scale, b.scalar(1 / 254)]);
      const error = b.op('Sub', [x, this.rowValues(first, x)]);
      const fine = this.rowCodes(error, fineScale, x);
      return { q: b.op('Concat', [first.q, fine], { axis: -2 }), scale: b.op('Concat', [first.scale, fineScale], { axis: -2 }), fused: this.fused, passes: 2 };
    });
  }

  /** The sum of the two halves (along the row axis) of a product of int8TwoPassActivation's codes. */
  addPasses(product: string, out: string | undefined): string {
    const halves = this.b.opN('Split', [product], 2, this.opsetVersion >= 18 ? { axis: -2, num_outputs: 2 } : { axis: -2 });
    return this.b.op('Add', halves, {}, '', out);
  }

  /**
   * From opset 21 one QuantizeLinear with a block of the whole row does what Div, Round, Add and Cast
   * do otherwise; then the product may be one MatMulIntegerToFloat (operators/matmul.ts).
   */
  private get fused(): boolean {
    return this.opsetVersion >= 21;
  }

  /** Codes of `x` with one scale a row; `rowsOf` is the activation whose rows these are. */
  private rowCodes(x: string, scale: string, rowsOf: string): string {
    const { b } = this;
    // block_size ≥ the row's length: one block, one scale per row.
    if (this.fused) return b.op('QuantizeLinear', [x, scale, this.zeroPoint(rowsOf, scale)], { axis: -1, block_size: ROW_BLOCK });
    return b.op('Cast', [b.op('Add', [b.op('Round', [b.op('Div', [x, scale])]), b.scalar(128)])], { to: DT.UINT8 });
  }

  /** The values a one-pass activation's codes stand for. */
  private rowValues(a: Int8Activation, rowsOf: string): string {
    const { b } = this;
    if (this.fused) return b.op('DequantizeLinear', [a.q, a.scale, this.zeroPoint(rowsOf, a.scale)], { axis: -1, block_size: ROW_BLOCK });
    return b.op('Mul', [b.op('Sub', [b.op('Cast', [a.q], { to: DT.FLOAT }), b.scalar(128)]), a.scale]);
  }

  /**
   * The blocked QuantizeLinear's zero point must have the scale's shape, hence an Expand, made once
   * for all the activations whose rows are the same (declared-rows.ts): one Shape and Expand a graph
   * rather than one per linear (docs/performance.md, decisions).
   */
  private zeroPoint(rowsOf: string, scale: string): string {
    const { b } = this;
    return cached(this.zeroPoints, this.rowsKey(rowsOf) ?? `tensor:${rowsOf}`, () => b.op('Expand', [b.scalar(128, DT.UINT8), b.op('Shape', [scale])]));
  }
}

/** A block size longer than any row: QuantizeLinear's blocked form then quantizes each row with its own scale. */
const ROW_BLOCK = 2 ** 30;
