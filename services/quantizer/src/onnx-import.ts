import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { type Gpt2Config, parseGpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { GRAPH_IO } from '@gpt2-int8/runtime/graph-io';
import { CheckpointError } from './checkpoint/checkpoint-error.js';
import { decodeModel } from '@gpt2-int8/runtime/onnx-graph-builder';
import { dimsOf } from './onnx/tensor-data.js';

export interface OnnxSource {
  model: onnx.ModelProto;
  bytes: Uint8Array;
  config: Gpt2Config;
  /** Whether the graph has optimum's KV-cache inputs, which the workers need. */
  hasKvCache: boolean;
}

function staticDim(v: onnx.IValueInfoProto | undefined, axis: number): number | undefined {
  const d = v?.type?.tensorType?.shape?.dim?.[axis];
  return d?.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : undefined;
}

/**
 * The GPT-2 hyper-parameters of an exported graph: from a config.json beside it (optimum writes
 * one), else read off the graph — layers from the past_key_values inputs, heads and head size from
 * their shapes, vocabulary from the logits, positions from the position-embedding table.
 */
function inferConfig(model: onnx.ModelProto, where: string): Gpt2Config {
  const g = model.graph as onnx.IGraphProto;
  const inputs = new Map(g.input?.map((i) => [i.name as string, i]) ?? []);
  let nLayer = 0;
  while (inputs.has(GRAPH_IO.pastKey(nLayer))) nLayer++;
  const past = inputs.get(GRAPH_IO.pastKey(0));
  const logits = g.output?.find((o) => o.name === GRAPH_IO.logits) ?? g.output?.[0];
  const vocab = staticDim(logits, 2);
  const nHead = staticDim(past, 1);
  const headDim = staticDim(past, 3);
  const tables = (g.initializer ?? []).filter((t) => dimsOf(t).length === 2).map(dimsOf);
  const embd = nHead && headDim ? nHead * headDim : tables.find((d) => d[0] === vocab)?.[1];
  const positions = tables.find((d) => d[1] === embd && d[0] !== vocab)?.[0];
  const missing = [
    vocab === undefined && 'the vocabulary size (a static last dimension of "logits")',
    nLayer === 0 && 'the layer count (past_key_values.{i}.key inputs)',
    nHead === undefined && 'the head count (a static dimension 1 of past_key_values.0.key)',
  ].filter(Boolean);
  if (missing.length > 0 || embd === undefined || positions === undefined) {
    throw new CheckpointError(
      `${where}: cannot tell the model's shape from the graph (${missing.join('; ') || 'embedding tables not found'}); put the checkpoint's config.json beside the .onnx file`,
    );
  }
  return { n_layer: nLayer, n_embd: embd, n_head: nHead as number, n_positions: positions, vocab_size: vocab as number, layer_norm_epsilon: 1e-5 };
}

/** The config.json an exporter (optimum) writes beside the .onnx file, if it did. */
export const configBeside = (path: string): string => join(dirname(path), 'config.json');

/** Loads an FP32 GPT-2 ONNX export (torch.onnx.export or optimum), refusing what isn't a model. */
export async function loadOnnxSource(path: string): Promise<OnnxSource> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new CheckpointError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let model: onnx.ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new CheckpointError(`${path} is not an ONNX model (${(err as Error).message}); give an .onnx file written by torch.onnx.export or optimum`);
  }
  if (!model.graph || (model.graph.node?.length ?? 0) === 0) throw new CheckpointError(`${path} is not an ONNX model (no graph nodes)`);
  const configPath = configBeside(path);
  const configText = await readFile(configPath, 'utf8').catch(() => undefined);
  let config: Gpt2Config;
  if (configText !== undefined) {
    try {
      config = parseGpt2Config(JSON.parse(configText), configPath);
    } catch (err) {
      throw new CheckpointError((err as Error).message, { cause: err });
    }
  } else {
    config = inferConfig(model, path);
  }
  const names = new Set(model.graph.input?.map((i) => i.name));
  const hasKvCache = [GRAPH_IO.inputIds, GRAPH_IO.attentionMask, GRAPH_IO.positionIds, GRAPH_IO.pastKey(0), GRAPH_IO.pastValue(0)].every((n) => names.has(n));
  return { model, bytes, config, hasKvCache };
}
