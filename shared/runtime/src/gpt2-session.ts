import * as ort from 'onnxruntime-node';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { GRAPH_IO } from './graph-io.js';
import { appendPositions } from './kv-append.js';

export interface SessionSettings {
  /** Intra-op threads; scale by processes, not threads, so the default is 1. */
  threads?: number;
  /** ONNX Runtime's optimisation level; 'all' unless measuring the graph itself. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** Per-layer keys and values, each [batch, n_head, length, head_dim]. */
export interface KvCache {
  keys: ort.Tensor[];
  values: ort.Tensor[];
  /** Positions already in the cache (including padding). */
  length: number;
}

/** One row of a batch: the tokens to run and how many of the cached positions are padding. */
export interface StepInput {
  /** Token ids, all rows the same length (left-pad with `padTokenId` and mark them in `mask`). */
  inputIds: number[][];
  /** 1 for a real token, 0 for padding, covering cache + new tokens: [batch][cache.length + seq]. */
  attentionMask: number[][];
}

export interface LogitsOutput {
  /** [batch, positions, vocab] */
  logits: Float32Array;
  batch: number;
  seq: number;
  /** Positions per row that have logits: seq for a graph that scores every position, else 1. */
  positions: number;
}

export interface StepOutput extends LogitsOutput {
  cache: KvCache;
}

/**
 * One ONNX Runtime session over a GPT-2 graph in optimum's layout, with the bookkeeping of the KV
 * cache and of left padding: position ids count only real tokens, so a padded row computes exactly
 * what it would alone.
 */
export class Gpt2Session {
  /**
   * What the graph gives of the cache (graph-io.ts): 'new', this call's keys and values, which the
   * caller appends to its cache; 'whole', past and new together (an imported optimum export).
   */
  readonly cacheOutputs: 'new' | 'whole';

  private constructor(
    readonly session: ort.InferenceSession,
    readonly config: Gpt2Config,
  ) {
    this.cacheOutputs = session.outputNames.includes(GRAPH_IO.presentNewKey(0)) ? 'new' : 'whole';
  }

  /** The outputs that give the cache, keys then values per layer. */
  cacheOutputNames(): string[] {
    const [key, value] = this.cacheOutputs === 'new' ? [GRAPH_IO.presentNewKey, GRAPH_IO.presentNewValue] : [GRAPH_IO.presentKey, GRAPH_IO.presentValue];
    return Array.from({ length: this.config.n_layer }, (_, l) => [key(l), value(l)]).flat();
  }

  static async load(model: string | Uint8Array, config: Gpt2Config, settings: SessionSettings = {}): Promise<Gpt2Session> {
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: settings.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: settings.optimization ?? 'all',
      executionMode: 'sequential',
      // Errors only: ONNX Runtime's warnings here (unused constants it removes) say nothing actionable.
      logSeverityLevel: 3,
    };
    const session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
    return new Gpt2Session(session, config);
  }

  emptyCache(batch: number): KvCache {
    const { n_layer, n_head, n_embd } = this.config;
    const empty = () => new ort.Tensor('float32', new Float32Array(0), [batch, n_head, 0, n_embd / n_head]);
    return { keys: Array.from({ length: n_layer }, empty), values: Array.from({ length: n_layer }, empty), length: 0 };
  }

  /** One pass: the logits and the grown cache, to feed as the next past. */
  async step(input: StepInput, cache: KvCache): Promise<StepOutput> {
    const names = this.cacheOutputNames();
    const { logits, outputs } = await this.run(input, cache, names);
    const { n_layer, n_head, n_embd } = this.config;
    const D = n_embd / n_head;
    const T = cache.length + logits.seq;
    const grown = (i: number, past: ort.Tensor | undefined): ort.Tensor => {
      const fetched = outputs[names[i] as string] as ort.Tensor;
      if (this.cacheOutputs === 'whole') return fetched;
      const data = appendPositions(cache.length === 0 ? undefined : (past?.data as Float32Array), fetched.data as Float32Array, logits.batch * n_head, cache.length, logits.seq, D);
      return new ort.Tensor('float32', data, [logits.batch, n_head, T, D]);
    };
    const layers = Array.from({ length: n_layer }, (_, l) => l);
    const next: KvCache = { keys: layers.map((l) => grown(2 * l, cache.keys[l])), values: layers.map((l) => grown(2 * l + 1, cache.values[l])), length: T };
    return { ...logits, cache: next };
  }

  /**
   * One pass from an empty cache, fetching the logits only: a prompt's cache (2 × n_layer tensors)
   * is not needed to predict its next token.
   */
  async logits(input: StepInput): Promise<LogitsOutput> {
    return (await this.run(input, this.emptyCache(input.inputIds.length))).logits;
  }

  /**
   * One pass fetching the logits and the outputs named in `fetch`, nothing else: onnxruntime-node
   * copies every output it returns into a fresh buffer. `cache` may hold masked-out positions (0 in
   * the attention mask) anywhere, as kv-decoder.ts's slot buffers do.
   */
  async run(input: StepInput, cache: KvCache, fetch: readonly string[] = []): Promise<{ logits: LogitsOutput; outputs: ort.InferenceSession.OnnxValueMapType }> {
    const outputs = await this.session.run(this.feeds(input, cache), [GRAPH_IO.logits, ...fetch]);
    const logits = outputs[GRAPH_IO.logits] as ort.Tensor;
    return {
      logits: { logits: logits.data as Float32Array, batch: input.inputIds.length, seq: input.inputIds[0]?.length ?? 0, positions: Number(logits.dims[1]) },
      outputs,
    };
  }

  private feeds(input: StepInput, cache: KvCache): Record<string, ort.Tensor> {
    const batch = input.inputIds.length;
    const seq = input.inputIds[0]?.length ?? 0;
    if (batch === 0 || seq === 0) throw new Error('step needs at least one row and one token');
    const total = cache.length + seq;
    const ids = new BigInt64Array(batch * seq);
    const positions = new BigInt64Array(batch * seq);
    const mask = new BigInt64Array(batch * total);
    for (let r = 0; r < batch; r++) {
      const rowIds = input.inputIds[r] as number[];
      const rowMask = input.attentionMask[r] as number[];
      if (rowIds.length !== seq || rowMask.length !== total) throw new Error(`row ${r}: expected ${seq} tokens and a mask of ${total}`);
      let seen = 0;
      for (let t = 0; t < total; t++) {
        const m = rowMask[t] as number;
        mask[r * total + t] = BigInt(m);
        if (t >= cache.length) {
          const s = t - cache.length;
          ids[r * seq + s] = BigInt(rowIds[s] as number);
          positions[r * seq + s] = BigInt(Math.max(0, seen + m - 1));
        }
        seen += m;
      }
    }
    const feeds: Record<string, ort.Tensor> = {
      [GRAPH_IO.inputIds]: new ort.Tensor('int64', ids, [batch, seq]),
      [GRAPH_IO.attentionMask]: new ort.Tensor('int64', mask, [batch, total]),
      [GRAPH_IO.positionIds]: new ort.Tensor('int64', positions, [batch, seq]),
    };
    for (let l = 0; l < this.config.n_layer; l++) {
      feeds[GRAPH_IO.pastKey(l)] = cache.keys[l] as ort.Tensor;
      feeds[GRAPH_IO.pastValue(l)] = cache.values[l] as ort.Tensor;
    }
    return feeds;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Left-pads prompts to one length: the shape a batch of prompts takes in `step`. */
export function leftPad(prompts: number[][], padTokenId: number): StepInput {
  const width = Math.max(...prompts.map((p) => p.length));
  return {
    inputIds: prompts.map((p) => [...Array<number>(width - p.length).fill(padTokenId), ...p]),
    attentionMask: prompts.map((p) => [...Array<number>(width - p.length).fill(0), ...Array<number>(p.length).fill(1)]),
  };
}

/** The logits of the last position of each row: [vocab] per row. */
export function lastPositionLogits(out: LogitsOutput, vocab: number): Float32Array[] {
  const p = out.positions;
  return Array.from({ length: out.batch }, (_, r) => out.logits.subarray(((r + 1) * p - 1) * vocab, (r + 1) * p * vocab));
}

/**
 * The next-token logits after every position of `tokens` ([tokens.length, vocab]): one pass when the
 * graph scores every position, else token by token through the KV cache (same values: the
 * quantization is per row, and the cache holds exactly what the one pass computes).
 */
export async function everyPositionLogits(session: Gpt2Session, tokens: readonly number[]): Promise<Float32Array> {
  const V = session.config.vocab_size;
  const whole = await session.logits({ inputIds: [[...tokens]], attentionMask: [tokens.map(() => 1)] });
  if (whole.positions === tokens.length) return whole.logits;
  const out = new Float32Array(tokens.length * V);
  let cache = session.emptyCache(1);
  for (let t = 0; t < tokens.length; t++) {
    const step = await session.step({ inputIds: [[tokens[t] as number]], attentionMask: [Array<number>(t + 1).fill(1)] }, cache);
    out.set(step.logits.subarray(0, V), t * V);
    cache = step.cache;
  }
  return out;
}
