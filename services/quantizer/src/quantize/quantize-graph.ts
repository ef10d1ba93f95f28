import type { Quantization } from '@gpt2-int8/contract/manifest';
import { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { matchGather, tokenEmbeddingOnly } from './operators/gather.js';
import { matchGemm } from './operators/gemm.js';
import { matchMatMul } from './operators/matmul.js';
import { dimsOf } from '../onnx/tensor-data.js';
import { type QuantizableNode, Quantizer } from './quantizer.js';
import { withoutDeclaredShapes } from './declared-rows.js';

/** The operators that are quantized, by op type: one file each in operators/. */
const OPERATORS = new Map<string, (node: onnx.INodeProto, q: Quantizer) => QuantizableNode | undefined>([['MatMul', matchMatMul], ['Gemm', matchGemm], ['Gather', matchGather]]);

export interface QuantizeStats {
  linear: number;
  embedding: number;
}

/**
 * A copy of `model` with every MatMul/Gemm whose weight is a constant FP32 initializer, and the
 * token embedding lookup, in their integer forms (operators/). Everything else is kept as it is,
 * so an exported graph keeps its structure; `model` itself is not changed (the copy shares its
 * unchanged nodes and initializers), so it can be encoded before or after.
 */
export function quantizeModel(model: onnx.ModelProto, quantization: Quantization): { model: onnx.ModelProto; stats: QuantizeStats } {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const opset = model.opsetImport?.find((o) => !o.domain)?.version;
  const opsetVersion = opset === undefined || opset === null ? 0 : Number(opset);
  if (opsetVersion < 13) throw new Error(`the model uses ONNX opset ${opsetVersion}; opset 13 or later is needed (re-export with a newer exporter)`);
  const msOpset = model.opsetImport?.some((o) => o.domain === 'com.microsoft') ? [] : [{ domain: 'com.microsoft', version: 1 }];

  const q = new Quantizer(graph, quantization, opsetVersion);
  const found = tokenEmbeddingOnly((graph.node ?? []).flatMap((n) => OPERATORS.get(n.opType ?? '')?.(n, q) ?? []), q);
  for (const u of found) if (u.role === 'embedding') q.lookupTables.add(u.weight);
  // The LM head: a linear layer with the vocabulary (the token table's rows) as one of its dimensions.
  const vocab = [...q.lookupTables].map((t) => dimsOf(q.inits.get(t) as onnx.ITensorProto)[0]);
  for (const u of found) if (u.role === 'linear' && dimsOf(q.inits.get(u.weight) as onnx.ITensorProto).some((d) => vocab.includes(d))) q.headWeights.add(u.weight);
  const replaced = new Map<onnx.INodeProto, onnx.NodeProto[]>();
  for (const u of found) {
    const start = q.b.nodes.length;
    u.emit();
    replaced.set(u.node, q.b.nodes.slice(start));
  }

  // Splice replacements in place of the nodes they replace, which keeps the node list topological
  // (activation quantization is emitted with the first matmul that reads it).
  const nodes: onnx.INodeProto[] = (graph.node ?? []).flatMap((n) => replaced.get(n) ?? [n]);
  const node = removeDeadNodes(nodes, new Set(graph.output?.map((o) => o.name as string))) as onnx.NodeProto[];
  const used = new Set(node.flatMap((n) => n.input ?? []));
  for (const o of graph.output ?? []) used.add(o.name as string);
  const initializer = [...(graph.initializer ?? []), ...q.b.initializers].filter((t) => used.has(t.name as string));
  return {
    model: withoutDeclaredShapes({ ...model, opsetImport: [...(model.opsetImport ?? []), ...msOpset], graph: onnx.GraphProto.create({ ...graph, node, initializer }) }),
    stats: { linear: found.filter((u) => u.role === 'linear').length, embedding: found.filter((u) => u.role === 'embedding').length },
  };
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
