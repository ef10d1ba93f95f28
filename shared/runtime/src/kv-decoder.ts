import * as ort from 'onnxruntime-node';
import { type Gpt2Session, type KvCache, lastPositionLogits } from './gpt2-session.js';
import { SLOT_GROWTH } from './batch-decoder.js';
import { Prefill } from './prefill.js';

/** One sequence being decoded through the KV cache: the next token's logits, and a way to go on. */
export interface Decoding {
  /** Logits of the next token ([vocab]). */
  readonly logits: Float32Array;
  /** Positions in the cache: the prompt and every token fed since. */
  readonly length: number;
  /** Feeds `token` at position `length`; resolves with the following token's logits. */
  next(token: number): Promise<Float32Array>;
}


/**
 * Starts decoding `prompt` (batch 1; the prompt in chunks, prefill.ts). With a graph that gives the
 * new positions' keys and values (present_new.*, graph-io.ts) the cache lives in preallocated
 * buffers here and each step fetches a few kilobytes; otherwise every step fetches the whole cache
 * back (optimum's outputs alone). Both compute the same logits.
 */
export async function startDecoding(session: Gpt2Session, prompt: readonly number[]): Promise<Decoding> {
  const prefill = await Prefill.run(session, prompt);
  return session.cacheOutputs === 'new' ? SlotCacheDecoding.start(session, prefill) : new PresentDecoding(session, prefill.cache, prefill.logits as Float32Array);
}

/** The plain way: feed the grown cache back as the next past (gpt2-session.ts's step). */
export class PresentDecoding implements Decoding {
  constructor(
    private readonly session: Gpt2Session,
    private cache: KvCache,
    public logits: Float32Array,
  ) {}

  get length(): number {
    return this.cache.length;
  }

  async next(token: number): Promise<Float32Array> {
    const out = await this.session.step({ inputIds: [[token]], attentionMask: [Array<number>(this.length + 1).fill(1)] }, this.cache);
    this.cache = out.cache;
    this.logits = lastPositionLogits(out, this.session.config.vocab_size)[0] as Float32Array;
    return this.logits;
  }
}

/**
 * The cache in slot buffers, [n_head, capacity, head_dim] per layer and key/value, of which the first
 * `length` slots are filled. A step passes the whole buffers as the past — no copy — with the empty
 * slots masked out (a masked position contributes exactly nothing to attention), and writes the new
 * position's keys and values, fetched from present_new.*, into slot `length`.
 */
export class SlotCacheDecoding implements Decoding {
  private keys: Float32Array[] = [];
  private values: Float32Array[] = [];
  private capacity = 0;

  private constructor(
    private readonly session: Gpt2Session,
    public length: number,
    public logits: Float32Array,
  ) {}

  /** Takes over a finished prefill's keys and values. */
  static start(session: Gpt2Session, prefill: Prefill): SlotCacheDecoding {
    const decoding = new SlotCacheDecoding(session, 0, prefill.logits as Float32Array);
    const { keys, values } = prefill.cache;
    decoding.store((i) => ((i % 2 === 0 ? keys : values)[i >> 1] as ort.Tensor).data as Float32Array, prefill.length);
    decoding.length = prefill.length;
    prefill.release();
    return decoding;
  }

  async next(token: number): Promise<Float32Array> {
    this.reserve(this.length + 1);
    const { n_head, n_embd, vocab_size } = this.session.config;
    const dims = [1, n_head, this.capacity, n_embd / n_head];
    const cache: KvCache = {
      keys: this.keys.map((k) => new ort.Tensor('float32', k, dims)),
      values: this.values.map((v) => new ort.Tensor('float32', v, dims)),
      length: this.capacity,
    };
    // Past slots [0, length) and the new position (after all `capacity` past slots) attend; the rest not.
    const mask = new Array<number>(this.capacity + 1).fill(0).fill(1, 0, this.length);
    mask[this.capacity] = 1;
    const names = this.session.cacheOutputNames();
    const { logits, outputs } = await this.session.run({ inputIds: [[token]], attentionMask: [mask] }, cache, names);
    this.store((i) => (outputs[names[i] as string] as ort.Tensor).data as Float32Array, 1);
    this.length++;
    this.logits = lastPositionLogits(logits, vocab_size)[0] as Float32Array;
    return this.logits;
  }

  /**
   * Copies `count` positions ([1, n_head, count, head_dim] each, `data(i)`: layer i >> 1's keys for
   * even i, values for odd) into slots [length, length + count).
   */
  private store(data: (i: number) => Float32Array, count: number): void {
    this.reserve(this.length + count);
    const { n_layer, n_head, n_embd } = this.session.config;
    const headDim = n_embd / n_head;
    for (let l = 0; l < n_layer; l++) {
      for (const [i, slots] of [[2 * l, this.keys[l]], [2 * l + 1, this.values[l]]] as const) {
        const fresh = data(i);
        for (let h = 0; h < n_head; h++) {
          (slots as Float32Array).set(fresh.subarray(h * count * headDim, (h + 1) * count * headDim), (h * this.capacity + this.length) * headDim);
        }
      }
    }
  }

  /** Makes room for `slots` positions, keeping what is stored. */
  private reserve(slots: number): void {
    if (slots <= this.capacity) return;
    const { n_layer, n_head, n_embd } = this.session.config;
    const headDim = n_embd / n_head;
    const capacity = Math.ceil(slots / SLOT_GROWTH) * SLOT_GROWTH;
    const grow = (old: Float32Array | undefined) => {
      const bigger = new Float32Array(n_head * capacity * headDim);
      if (old) for (let h = 0; h < n_head; h++) bigger.set(old.subarray(h * this.capacity * headDim, (h * this.capacity + this.length) * headDim), h * capacity * headDim);
      return bigger;
    };
    this.keys = Array.from({ length: n_layer }, (_, l) => grow(this.keys[l]));
    this.values = Array.from({ length: n_layer }, (_, l) => grow(this.values[l]));
    this.capacity = capacity;
  }
}
