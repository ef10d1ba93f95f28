import { onnx } from './onnx-proto.js';

export type DataType = onnx.TensorProto.DataType;
export const DT = onnx.TensorProto.DataType;

export type AttrValue = number | number[] | string | { float: number } | onnx.ITensorProto;

/** A dimension is a fixed size or a symbolic name such as "batch_size". */
export type Dim = number | string;

export interface ConstantTensor {
  dims: readonly number[];
  dataType: DataType;
  /** Raw little-endian bytes; typed arrays are viewed, not copied. */
  data: ArrayBufferView;
}

export function tensorProto(name: string, t: ConstantTensor): onnx.TensorProto {
  return onnx.TensorProto.create({
    name,
    dims: [...t.dims],
    dataType: t.dataType,
    rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  });
}

export function valueInfo(name: string, elemType: DataType, shape: readonly Dim[]): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function attribute(name: string, v: AttrValue): onnx.AttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; wrap floats as { float }`);
    return onnx.AttributeProto.create({ name, type: A.INT, i: v });
  }
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v });
  if ('float' in v) return onnx.AttributeProto.create({ name, type: A.FLOAT, f: v.float });
  return onnx.AttributeProto.create({ name, type: A.TENSOR, t: v });
}

/**
 * Builds an ONNX graph node by node. Every node gets a unique name and (unless given) unique output
 * names, so callers write the dataflow as expressions: `b.op('Add', [x, y])`.
 */
export class GraphBuilder {
  readonly nodes: onnx.NodeProto[] = [];
  readonly initializers: onnx.TensorProto[] = [];
  readonly inputs: onnx.ValueInfoProto[] = [];
  readonly outputs: onnx.ValueInfoProto[] = [];
  /** Shapes declared for intermediate tensors (ONNX's value_info). */
  readonly declared: onnx.ValueInfoProto[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  constructor(private readonly prefix = '') {}

  private fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  input(name: string, elemType: DataType, shape: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, elemType: DataType, shape: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  /** Declares an intermediate tensor's shape where it cannot be inferred from constants (value_info); returns the name. */
  declare(name: string, elemType: DataType, shape: readonly Dim[]): string {
    this.declared.push(valueInfo(name, elemType, shape));
    return name;
  }

  initializer(name: string, t: ConstantTensor): string {
    this.initializers.push(tensorProto(name, t));
    return name;
  }

  /** A small constant, shared between all nodes that ask for the same value. */
  constant(values: number[] | Float32Array, dataType: DataType = DT.FLOAT, dims: readonly number[] = [values.length]): string {
    const key = `${dataType}:${dims.join('x')}:${Array.from(values).join(',')}`;
    const existing = this.constants.get(key);
    if (existing !== undefined) return existing;
    const data = dataType === DT.INT64 ? BigInt64Array.from(Array.from(values), (v) => BigInt(v))
      : dataType === DT.UINT8 ? Uint8Array.from(values)
      : dataType === DT.INT8 ? Int8Array.from(values)
      : dataType === DT.INT32 ? Int32Array.from(values)
      : Float32Array.from(values);
    const name = this.initializer(this.fresh('const'), { dims, dataType, data });
    this.constants.set(key, name);
    return name;
  }

  scalar(value: number, dataType: DataType = DT.FLOAT): string {
    return this.constant([value], dataType, []);
  }

  /** Adds a node and returns its outputs. `outputs` is a count (fresh names) or explicit names. */
  opN(opType: string, inputs: string[], outputs: number | string[], attrs: Record<string, AttrValue> = {}, domain = ''): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : outputs;
    this.nodes.push(
      onnx.NodeProto.create({
        name: this.fresh(`${opType}_node`),
        opType,
        domain,
        input: inputs,
        output: outNames,
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outNames;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = '', outputName?: string): string {
    const [out] = this.opN(opType, inputs, outputName === undefined ? 1 : [outputName], attrs, domain);
    return out as string;
  }

  graph(name: string): onnx.GraphProto {
    return onnx.GraphProto.create({
      name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
      valueInfo: this.declared,
    });
  }
}

/** 21: QuantizeLinear's blocked form (the quantizer's per-row activations, services/quantizer/src/quantize/quantizer.ts). */
export const OPSET = 21;
export const MS_DOMAIN = 'com.microsoft';

export function modelProto(graph: onnx.GraphProto, meta: Record<string, string> = {}): onnx.ModelProto {
  return onnx.ModelProto.create({
    irVersion: 9,
    producerName: 'gpt2-int8',
    producerVersion: '0.1.0',
    opsetImport: [
      { domain: '', version: OPSET },
      { domain: MS_DOMAIN, version: 1 },
    ],
    graph,
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
}

export function encodeModel(model: onnx.ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
