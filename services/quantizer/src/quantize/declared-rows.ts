import { onnx } from '@gpt2-int8/runtime/onnx-proto';

/**
 * The tensors whose rows (every dimension but the last) the graph declares in its value_info, as a
 * key per tensor: equal keys, the same rows on every call. `undefined` for a tensor with no declared
 * shape, or one with a dimension left unnamed.
 *
 * The quantizer gives activations of the same rows one uint8 zero-point tensor (quantizer.ts,
 * int8Activation). gpt2-graph.ts declares the input of every linear layer; an exported graph that
 * declares nothing gets a zero point per activation.
 */
export function declaredRows(graph: onnx.IGraphProto): (tensor: string) => string | undefined {
  const keys = new Map<string, string>();
  for (const info of graph.valueInfo ?? []) {
    const dims = info.type?.tensorType?.shape?.dim ?? [];
    const rows = dims.slice(0, -1).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : undefined));
    if (rows.length > 0 && rows.every((d) => d !== undefined && d !== '')) keys.set(info.name as string, JSON.stringify(rows));
  }
  return (tensor) => keys.get(tensor);
}

/**
 * `model` without its declared shapes, as the artifact stores it: they are the quantizer's to read.
 * ONNX Runtime optimizes a graph that declares them otherwise, slower and with other bits (distil,
 * ad hoc: FP32 7–11% slower at one token, logits up to 6e-7 apart; docs/performance.md, decisions).
 */
export function withoutDeclaredShapes(model: onnx.IModelProto): onnx.ModelProto {
  return onnx.ModelProto.create({ ...model, graph: onnx.GraphProto.create({ ...model.graph, valueInfo: [] }) });
}
