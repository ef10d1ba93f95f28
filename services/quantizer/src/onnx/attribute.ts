import type { onnx } from '@gpt2-int8/runtime/onnx-proto';

export function attribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}
