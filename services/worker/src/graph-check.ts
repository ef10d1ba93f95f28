/**
 * Does the graph ONNX Runtime loaded match the config the manifest promises? A graph built for
 * another model (more layers, other head sizes, another vocabulary) would fail later with an opaque
 * shape error, or worse run and answer nonsense; this names the difference instead.
 */
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { GRAPH_IO } from '@gpt2-int8/runtime/graph-io';
import { GPT2_VOCAB_SIZE } from '@gpt2-int8/runtime/tokenizer';

/** What the check needs from an InferenceSession (its names and, when known, its shapes). */
export interface GraphSignature {
  inputNames: readonly string[];
  outputNames: readonly string[];
  /** Declared shapes by name; a symbolic dimension is a string. */
  shapes?: ReadonlyMap<string, ReadonlyArray<number | string>>;
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present(?:_new)?\.(\d+)\.(key|value)$/;

/** Every way the graph disagrees with the config; empty when they agree. */
export function checkGraph(graph: GraphSignature, config: Gpt2Config): string[] {
  const problems: string[] = [];
  const inputs = new Set(graph.inputNames);
  const outputs = new Set(graph.outputNames);
  const missing = (names: string[], have: Set<string>, what: string) => {
    const absent = names.filter((n) => !have.has(n));
    if (absent.length > 0) problems.push(`the graph has no ${what} ${absent.slice(0, 4).join(', ')}${absent.length > 4 ? ` (and ${absent.length - 4} more)` : ''}`);
  };
  const layers = Array.from({ length: config.n_layer }, (_, l) => l);
  missing([GRAPH_IO.inputIds, GRAPH_IO.attentionMask, GRAPH_IO.positionIds], inputs, 'input');
  missing(layers.flatMap((l) => [GRAPH_IO.pastKey(l), GRAPH_IO.pastValue(l)]), inputs, 'input');
  missing([GRAPH_IO.logits], outputs, 'output');
  // The cache as this call's keys and values (graphs built by the quantizer), else as optimum's whole present.*.
  const [cacheKey, cacheValue] = outputs.has(GRAPH_IO.presentNewKey(0)) ? [GRAPH_IO.presentNewKey, GRAPH_IO.presentNewValue] : [GRAPH_IO.presentKey, GRAPH_IO.presentValue];
  missing(layers.flatMap((l) => [cacheKey(l), cacheValue(l)]), outputs, 'output');

  const extraLayers = new Set<number>();
  for (const n of graph.inputNames) {
    const m = PAST.exec(n);
    if (m && Number(m[1]) >= config.n_layer) extraLayers.add(Number(m[1]));
  }
  for (const n of graph.outputNames) {
    const m = PRESENT.exec(n);
    if (m && Number(m[1]) >= config.n_layer) extraLayers.add(Number(m[1]));
  }
  if (extraLayers.size > 0) {
    problems.push(`the graph has ${Math.max(...extraLayers) + 1} or more layers of KV cache, the manifest says n_layer=${config.n_layer}`);
  }

  const headDim = config.n_embd / config.n_head;
  const expectDim = (name: string, axis: number, value: number, what: string) => {
    const dim = graph.shapes?.get(name)?.[axis];
    if (typeof dim === 'number' && dim !== value) problems.push(`${name} has ${what} ${dim}, the manifest says ${value}`);
  };
  for (const l of layers) {
    for (const name of [GRAPH_IO.pastKey(l), GRAPH_IO.pastValue(l), cacheKey(l), cacheValue(l)]) {
      expectDim(name, 1, config.n_head, 'n_head');
      expectDim(name, 3, headDim, 'head size');
    }
  }
  expectDim(GRAPH_IO.logits, 2, config.vocab_size, 'vocab_size');
  return problems;
}

/** The GPT-2 tokenizer's ids must all be rows of the embedding; a larger (padded) vocabulary is fine. */
export function checkTokenizerFits(config: Gpt2Config): string[] {
  return config.vocab_size < GPT2_VOCAB_SIZE
    ? [`vocab_size ${config.vocab_size} is smaller than the GPT-2 tokenizer's ${GPT2_VOCAB_SIZE} tokens`]
    : [];
}

/** A probe step's output shapes against the config: the last word on whether the graph fits. */
export function checkProbe(
  out: { logitsLength: number; batch: number; seq: number; positions: number; presentDims: ReadonlyArray<readonly number[]> },
  config: Gpt2Config,
): string[] {
  const problems: string[] = [];
  // Logits for the last position (our default graphs) or for every position (optimum's exports).
  const expectLogits = out.batch * out.positions * config.vocab_size;
  if ((out.positions !== 1 && out.positions !== out.seq) || out.logitsLength !== expectLogits) {
    problems.push(`a probe step of ${out.seq} tokens returned ${out.logitsLength} logits for ${out.positions} position(s), expected ${out.batch * config.vocab_size} or ${out.batch * out.seq * config.vocab_size} (vocab_size ${config.vocab_size})`);
  }
  const want = [out.batch, config.n_head, out.seq, config.n_embd / config.n_head];
  out.presentDims.forEach((dims, i) => {
    if (dims.length !== 4 || dims.some((d, a) => d !== want[a])) {
      problems.push(`a probe step returned a KV cache of shape [${dims.join(', ')}] for layer ${Math.floor(i / 2)}, expected [${want.join(', ')}]`);
    }
  });
  return problems;
}
