/**
 * onnx-proto is CommonJS without statically detectable named exports, so Node's ESM loader cannot
 * import `{ onnx }` from it. This module re-exports the value and its types under the usual name.
 */
import pkg from 'onnx-proto';
import type { onnx as types } from 'onnx-proto';

export const onnx: typeof types = pkg.onnx;

// A namespace holding only types creates no value, so it can share the name with the const above.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace onnx {
  type ModelProto = types.ModelProto;
  type IModelProto = types.IModelProto;
  type GraphProto = types.GraphProto;
  type IGraphProto = types.IGraphProto;
  type NodeProto = types.NodeProto;
  type INodeProto = types.INodeProto;
  type TensorProto = types.TensorProto;
  type ITensorProto = types.ITensorProto;
  type ValueInfoProto = types.ValueInfoProto;
  type IValueInfoProto = types.IValueInfoProto;
  type AttributeProto = types.AttributeProto;
  type IAttributeProto = types.IAttributeProto;
  namespace TensorProto {
    type DataType = types.TensorProto.DataType;
  }
}
