/**
 * Many sequences decoded together through the KV cache: one ONNX Runtime call advances every
 * decoding row by one token (continuous batching, services/worker/src/scheduler.ts).
 *
 * The cache is one buffer per layer and key/value, [rows, n_head, capacity, head_dim], rows
 * outermost. The decoding sequences hold rows 0..n-1, so a step passes the first n rows as the past
 * — a view, no copy — with each row's empty slots masked out, and writes each row's new keys and
 * values (fetched from present_new.*) into its slot `length`. A sequence that leaves gives its row
 * to the last one (one row copied), so the rows stay contiguous.
 *
 * A prompt is run before its sequence joins (prefill): alone, at batch 1, in chunks of fixed size
 * into a buffer of its own, then copied into a row. The chunks do not depend on what else runs, so
 * a sequence computes the same thing alone or among others: each row of the batched step is
 * computed as at batch 1 (activations are quantized per row) and a masked slot contributes exactly
 * nothing (its score is replaced by the lowest float, so its weight is 0).
 */
import * as ort from 'onnxruntime-node';
import { type Gpt2Session, type KvCache, lastPositionLogits } from './gpt2-session.js';
import { GRAPH_IO } from './graph-io.js';

/**
 * Slots are added this many at a time. Every step attends over all of them (masked or not), and a
 * step's attention costs about rows × slots; each growth copies the whole cache once.
 */
export const DEFAULT_SLOT_GROWTH = 64;

/** Whether `session`'s graph gives the new positions' keys and values (needed here). */
export function supportsBatchDecoding(session: Gpt2Session): boolean {
  return session.session.outputNames.includes(GRAPH_IO.presentNewKey(0));
}

const newKvNames = (session: Gpt2Session) => Array.from({ length: session.config.n_layer }, (_, l) => [GRAPH_IO.presentNewKey(l), GRAPH_IO.presentNewValue(l)]).flat();

/** A prompt run in chunks at batch 1, its keys and values kept at exactly its length. */
export class Prefill {
  /** Per layer: keys then values, [n_head, length, head_dim] each. */
  keys: Float32Array[] = [];
  values: Float32Array[] = [];
  /** Prompt tokens run so far. */
  length = 0;
  /** The next token's logits once the whole prompt has run. */
  logits: Float32Array | undefined;

  constructor(
    private readonly session: Gpt2Session,
    readonly prompt: readonly number[],
    /** Tokens per chunk: fixed, so the computation never depends on what else runs. */
    readonly chunk: number,
  ) {
    if (prompt.length === 0) throw new Error('an empty prompt cannot be decoded');
  }

  get done(): boolean {
    return this.length === this.prompt.length;
  }

  /** Tokens the next chunk runs. */
  get nextChunkTokens(): number {
    return Math.min(this.chunk, this.prompt.length - this.length);
  }

  /** Runs the next chunk; after the last, `logits` is set. */
  async runChunk(): Promise<void> {
    const { n_layer, n_head, n_embd, vocab_size } = this.session.config;
    const D = n_embd / n_head;
    const count = this.nextChunkTokens;
    const tokens = this.prompt.slice(this.length, this.length + count);
    const P = this.length;
    const dims = [1, n_head, P, D];
    const cache: KvCache =
      P === 0
        ? this.session.emptyCache(1)
        : { keys: this.keys.map((k) => new ort.Tensor('float32', k, dims)), values: this.values.map((v) => new ort.Tensor('float32', v, dims)), length: P };
    const { logits, outputs } = await this.session.run({ inputIds: [[...tokens]], attentionMask: [Array<number>(P + count).fill(1)] }, cache, newKvNames(this.session));
    const T = P + count;
    const join = (old: Float32Array | undefined, name: string) => {
      const fresh = (outputs[name] as ort.Tensor).data as Float32Array;
      const out = new Float32Array(n_head * T * D);
      for (let h = 0; h < n_head; h++) {
        if (old) out.set(old.subarray(h * P * D, (h + 1) * P * D), h * T * D);
        out.set(fresh.subarray(h * count * D, (h + 1) * count * D), (h * T + P) * D);
      }
      return out;
    };
    this.keys = Array.from({ length: n_layer }, (_, l) => join(this.keys[l], GRAPH_IO.presentNewKey(l)));
    this.values = Array.from({ length: n_layer }, (_, l) => join(this.values[l], GRAPH_IO.presentNewValue(l)));
    this.length = T;
    if (this.done) this.logits = lastPositionLogits(logits, vocab_size)[0]?.slice() as Float32Array;
  }
}

/** A sequence's place among the decoding rows; `row` changes as others leave. */
export interface DecodingRow {
  row: number;
  /** Positions in the cache. */
  length: number;
}

export class BatchDecoder {
  private keys: Float32Array[] = [];
  private values: Float32Array[] = [];
  /** Slots per row, and rows, the buffers hold. */
  private capacity = 0;
  private rowCapacity = 0;
  private readonly active: DecodingRow[] = [];
  private readonly headDim: number;

  private readonly growth: number;

  constructor(
    private readonly session: Gpt2Session,
    opts: { slotGrowth?: number } = {},
  ) {
    const { n_head, n_embd } = session.config;
    this.headDim = n_embd / n_head;
    this.growth = opts.slotGrowth ?? DEFAULT_SLOT_GROWTH;
  }

  /** Sequences decoding. */
  get rows(): number {
    return this.active.length;
  }

  /** Slots per row now (the past every step attends over, masked beyond each row's length). */
  get slots(): number {
    return this.capacity;
  }

  /** A finished prefill becomes the last row (its keys and values move there). */
  join(prefill: Prefill): DecodingRow {
    if (!prefill.done) throw new Error('the prompt has not been run to its end');
    const entry: DecodingRow = { row: this.active.length, length: prefill.length };
    this.reserve(this.active.length + 1, Math.max(prefill.length + 1, ...this.active.map((a) => a.length + 1)));
    const { n_head } = this.session.config;
    const D = this.headDim;
    const rowSize = n_head * this.capacity * D;
    for (let l = 0; l < this.keys.length; l++) {
      for (const [src, dst] of [[prefill.keys[l], this.keys[l]], [prefill.values[l], this.values[l]]] as const) {
        for (let h = 0; h < n_head; h++) {
          (dst as Float32Array).set((src as Float32Array).subarray(h * prefill.length * D, (h + 1) * prefill.length * D), entry.row * rowSize + h * this.capacity * D);
        }
      }
    }
    this.active.push(entry);
    // The row holds them now.
    prefill.keys = [];
    prefill.values = [];
    return entry;
  }

  /** Frees a row: the last row moves into it. */
  leave(entry: DecodingRow): void {
    const i = this.active.indexOf(entry);
    if (i < 0) return;
    const last = this.active.pop() as DecodingRow;
    if (last !== entry) {
      const rowSize = this.session.config.n_head * this.capacity * this.headDim;
      for (const buf of [...this.keys, ...this.values]) buf.copyWithin(entry.row * rowSize, last.row * rowSize, (last.row + 1) * rowSize);
      last.row = entry.row;
      this.active[i] = last;
    }
    entry.row = -1;
    // Fewer slots when the longest sequences have left: every step attends over all of them.
    const needed = Math.ceil(Math.max(1, ...this.active.map((a) => a.length + 1)) / this.growth) * this.growth;
    if (needed < this.capacity) this.resize(this.rowCapacity, needed);
  }

  /**
   * One step of every decoding row: `tokens[r]` goes to row r at its position `length`. Resolves
   * with each row's next-token logits (copies, owned by the caller).
   */
  async step(tokens: readonly number[]): Promise<Float32Array[]> {
    const n = this.active.length;
    if (tokens.length !== n || n === 0) throw new Error(`a step takes one token per decoding row (${n}), got ${tokens.length}`);
    this.reserve(n, Math.max(...this.active.map((a) => a.length + 1)));
    const { n_head, vocab_size } = this.session.config;
    const C = this.capacity;
    const D = this.headDim;
    const rowSize = n_head * C * D;
    const dims = [n, n_head, C, D];
    const cache: KvCache = {
      keys: this.keys.map((k) => new ort.Tensor('float32', k.subarray(0, n * rowSize), dims)),
      values: this.values.map((v) => new ort.Tensor('float32', v.subarray(0, n * rowSize), dims)),
      length: C,
    };
    const attentionMask = this.active.map((a) => {
      const mask = new Array<number>(C + 1).fill(0).fill(1, 0, a.length);
      mask[C] = 1;
      return mask;
    });
    const { logits, outputs } = await this.session.run({ inputIds: tokens.map((t) => [t]), attentionMask }, cache, newKvNames(this.session));
    for (let l = 0; l < this.keys.length; l++) {
      for (const [name, buf] of [[GRAPH_IO.presentNewKey(l), this.keys[l]], [GRAPH_IO.presentNewValue(l), this.values[l]]] as const) {
        const data = (outputs[name] as ort.Tensor).data as Float32Array; // [n, n_head, 1, D]
        for (const a of this.active) {
          for (let h = 0; h < n_head; h++) {
            const from = (a.row * n_head + h) * D;
            (buf as Float32Array).set(data.subarray(from, from + D), a.row * rowSize + (h * C + a.length) * D);
          }
        }
      }
    }
    for (const a of this.active) a.length++;
    return lastPositionLogits(logits, vocab_size).map((row) => row.slice());
  }

  /** Makes room for `rows` rows of `slots` slots, keeping what is stored. */
  private reserve(rows: number, slots: number): void {
    const capacity = slots > this.capacity ? Math.ceil(slots / this.growth) * this.growth : this.capacity;
    const rowCapacity = rows > this.rowCapacity ? Math.max(rows, Math.min(2 * this.rowCapacity, rows + 32), 1) : this.rowCapacity;
    if (capacity !== this.capacity || rowCapacity !== this.rowCapacity) this.resize(rowCapacity, capacity);
  }

  private resize(rowCapacity: number, capacity: number): void {
    const { n_layer, n_head } = this.session.config;
    const D = this.headDim;
    const move = (old: Float32Array | undefined) => {
      const bigger = new Float32Array(rowCapacity * n_head * capacity * D);
      if (old === undefined) return bigger;
      if (capacity === this.capacity) {
        bigger.set(old.subarray(0, Math.min(this.active.length, rowCapacity) * n_head * capacity * D));
        return bigger;
      }
      for (const a of this.active) {
        const keep = Math.min(a.length, capacity) * D;
        for (let h = 0; h < n_head; h++) {
          const from = (a.row * n_head + h) * this.capacity * D;
          bigger.set(old.subarray(from, from + keep), (a.row * n_head + h) * capacity * D);
        }
      }
      return bigger;
    };
    this.keys = Array.from({ length: n_layer }, (_, l) => move(this.keys[l]));
    this.values = Array.from({ length: n_layer }, (_, l) => move(this.values[l]));
    this.capacity = capacity;
    this.rowCapacity = rowCapacity;
  }
}
