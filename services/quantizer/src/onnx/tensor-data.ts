import { onnx } from '@gpt2-int8/runtime/onnx-proto';

export function dimsOf(t: onnx.ITensorProto): number[] {
  return (t.dims ?? []).map((d) => Number(d));
}

/**
 * The values of an FP32 initializer, from raw_data or float_data (exporters use either). Raw bytes
 * are copied because protobuf slices are not guaranteed 4-byte aligned.
 */
export function floatData(t: onnx.ITensorProto): Float32Array {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`tensor ${t.name}: expected FLOAT, got data type ${t.dataType}`);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new Error(`tensor ${t.name}: weights stored in external data files are not supported; re-export with the weights inside the .onnx file`);
  }
  const count = dimsOf(t).reduce((a, b) => a * b, 1);
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== count * 4) throw new Error(`tensor ${t.name}: ${t.rawData.length} bytes of raw data for ${count} floats`);
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, count);
  }
  const values = t.floatData ?? [];
  if (values.length !== count) throw new Error(`tensor ${t.name}: ${values.length} float values for shape [${dimsOf(t).join(', ')}]`);
  return Float32Array.from(values);
}

/** Reads a small integer tensor (shapes, axes) from raw_data or int64_data/int32_data. */
export function intData(t: onnx.ITensorProto): number[] {
  const DT = onnx.TensorProto.DataType;
  if (t.rawData && t.rawData.length > 0) {
    const bytes = new Uint8Array(t.rawData);
    if (t.dataType === DT.INT64) return Array.from(new BigInt64Array(bytes.buffer, 0, bytes.length / 8), Number);
    if (t.dataType === DT.INT32) return Array.from(new Int32Array(bytes.buffer, 0, bytes.length / 4));
  }
  if (t.dataType === DT.INT64) return (t.int64Data ?? []).map(Number);
  if (t.dataType === DT.INT32) return (t.int32Data ?? []).map(Number);
  throw new Error(`tensor ${t.name}: expected an integer tensor, got data type ${t.dataType}`);
}
