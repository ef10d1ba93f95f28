import { onnx } from '@gpt2-int8/runtime/onnx-proto';

/** A model file and the ONNX external data file it references. */
export interface ModelWithExternalData {
  model: Uint8Array;
  data: Uint8Array;
}

/** Page-aligned offsets, so ONNX Runtime can map each table without copying it. */
export const EXTERNAL_DATA_ALIGNMENT = 4096;

/**
 * Encodes `model` with its lookup tables — the initializers a Gather reads directly (token and
 * position embeddings, per-row scales) — in an external data file named `location`, in ONNX's
 * external data layout (offset and length per tensor). ONNX Runtime memory-maps external data and
 * a Gather reads it in place, so only the rows looked up become resident; every other weight is
 * repacked into ONNX Runtime's own buffers at load wherever it is stored, and stays in the .onnx file.
 */
export function encodeWithExternalData(model: onnx.ModelProto, location: string): ModelWithExternalData {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const gathers = (graph.node ?? []).filter((n) => n.opType === 'Gather' && (n.domain ?? '') === '');
  const tables = new Set(gathers.map((n) => n.input?.[0] ?? ''));
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const initializers = (graph.initializer ?? []).map((t) => {
    if (!tables.has(t.name ?? '') || !t.rawData || t.rawData.length === 0) return t;
    const pad = (EXTERNAL_DATA_ALIGNMENT - (offset % EXTERNAL_DATA_ALIGNMENT)) % EXTERNAL_DATA_ALIGNMENT;
    if (pad > 0) chunks.push(new Uint8Array(pad));
    offset += pad;
    chunks.push(t.rawData);
    const external = onnx.TensorProto.create({
      name: t.name,
      dims: t.dims,
      dataType: t.dataType,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(t.rawData.length) },
      ],
    });
    offset += t.rawData.length;
    return external;
  });
  const data = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  // Swapped in for the encoding only: copying the model to change one list would double its memory.
  const inline = graph.initializer;
  graph.initializer = initializers;
  try {
    return { model: onnx.ModelProto.encode(model).finish(), data };
  } finally {
    graph.initializer = inline;
  }
}
