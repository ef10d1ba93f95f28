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
 * A prompt is run before its sequence joins (prefill.ts): alone, at batch 1, in chunks of fixed
 * size, then copied into a row. The chunks do not depend on what else runs, so a sequence computes
 * the same thing alone or among others: each row of the batched step is computed as at batch 1
 * (activations are quantized per row) and a masked slot contributes exactly nothing (its score is
 * replaced by the lowest float, so its weight is 0).
 */
import * as ort from 'onnxruntime-node';
import { type Gpt2Session, type KvCache, lastPositionLogits } from './gpt2-session.js';
import type { Prefill } from './prefill.js';

/**
 * Cache slots are added this many at a time (here and in kv-decoder.ts). Every step reads and
 * attends over all of them, masked or not, so fewer spare slots make a step cheaper; each growth
 * copies the whole cache once. 16 rather than 64: 8 rows of 32-token distil generations 10–15% more
 * tokens a second (docs/performance.md, decisions).
 */
export const SLOT_GROWTH = 16;

/** Whether `session`'s graph gives the new positions' keys and values (needed here). */
export function supportsBatchDecoding(session: Gpt2Session): boolean {
  return session.cacheOutputs === 'new';
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
  /** Consecutive steps with two groups of slots or more to spare. */
  private oversizedSteps = 0;

  /**
   * `shrinkAfterSteps`: spare slots are given back once they have been spare for this many steps.
   * Not at once: closed-loop clients leave and rejoin in waves, and a cache shrunk as a wave ends is
   * grown again, group by group, as the next one decodes, each time a copy of every layer's buffer
   * (`resize` took 6.9–7.9% of a worker's thread at 8 rows, docs/performance.md).
   */
  constructor(
    private readonly session: Gpt2Session,
    private readonly shrinkAfterSteps = 64,
  ) {
    const { n_head, n_embd } = session.config;
    this.headDim = n_embd / n_head;
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
      for (const [src, dst] of [[prefill.cache.keys[l]?.data, this.keys[l]], [prefill.cache.values[l]?.data, this.values[l]]] as const) {
        for (let h = 0; h < n_head; h++) {
          (dst as Float32Array).set((src as Float32Array).subarray(h * prefill.length * D, (h + 1) * prefill.length * D), entry.row * rowSize + h * this.capacity * D);
        }
      }
    }
    this.active.push(entry);
    prefill.release();
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
  }

  /**
   * One step of every decoding row: `tokens[r]` goes to row r at its position `length`. Resolves
   * with each row's next-token logits: views of the call's output, a buffer no later call reuses
   * (copying each row out cost 3.9% of a worker's thread at 8 rows, docs/performance.md).
   */
  async step(tokens: readonly number[]): Promise<Float32Array[]> {
    const n = this.active.length;
    if (tokens.length !== n || n === 0) throw new Error(`a step takes one token per decoding row (${n}), got ${tokens.length}`);
    const slots = Math.max(...this.active.map((a) => a.length + 1));
    this.reserve(n, slots);
    this.giveBackSpareSlots(slots);
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
    const names = this.session.cacheOutputNames();
    const { logits, outputs } = await this.session.run({ inputIds: tokens.map((t) => [t]), attentionMask }, cache, names);
    for (let l = 0; l < this.keys.length; l++) {
      for (const [name, buf] of [[names[2 * l], this.keys[l]], [names[2 * l + 1], this.values[l]]] as const) {
        const data = (outputs[name as string] as ort.Tensor).data as Float32Array; // [n, n_head, 1, D]
        for (const a of this.active) {
          for (let h = 0; h < n_head; h++) {
            const from = (a.row * n_head + h) * D;
            (buf as Float32Array).set(data.subarray(from, from + D), a.row * rowSize + (h * C + a.length) * D);
          }
        }
      }
    }
    for (const a of this.active) a.length++;
    return lastPositionLogits(logits, vocab_size);
  }

  /** Fewer slots once the longest sequences have long left: every step attends over all of them. */
  private giveBackSpareSlots(slots: number): void {
    const needed = Math.ceil(slots / SLOT_GROWTH) * SLOT_GROWTH;
    this.oversizedSteps = needed + SLOT_GROWTH < this.capacity ? this.oversizedSteps + 1 : 0;
    if (this.oversizedSteps < this.shrinkAfterSteps) return;
    this.resize(this.rowCapacity, needed);
    this.oversizedSteps = 0;
  }

  /** Makes room for `rows` rows of `slots` slots, keeping what is stored. */
  private reserve(rows: number, slots: number): void {
    const capacity = slots > this.capacity ? Math.ceil(slots / SLOT_GROWTH) * SLOT_GROWTH : this.capacity;
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
