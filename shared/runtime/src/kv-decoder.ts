import * as ort from 'onnxruntime-node';
import { type Gpt2Session, type KvCache, lastPositionLogits, leftPad } from './gpt2-session.js';
import { GRAPH_IO } from './graph-io.js';

/** One sequence being decoded through the KV cache: the next token's logits, and a way to go on. */
export interface Decoding {
  /** Logits of the next token ([vocab]). */
  readonly logits: Float32Array;
  /** Positions in the cache: the prompt and every token fed since. */
  readonly length: number;
  /** Feeds `token` at position `length`; resolves with the following token's logits. */
  next(token: number): Promise<Float32Array>;
}

/** Cache slots are added this many at a time, so buffers are rarely reallocated and copied. */
const GROWTH = 64;

/**
 * Starts decoding `prompt` (batch 1). With a graph that gives the new positions' keys and values
 * (present_new.*, graph-io.ts) the cache lives in preallocated buffers here and each step fetches a
 * few kilobytes; otherwise every step fetches the whole cache back (optimum's outputs alone). Both
 * compute the same logits.
 */
export async function startDecoding(session: Gpt2Session, prompt: readonly number[]): Promise<Decoding> {
  return session.session.outputNames.includes(GRAPH_IO.presentNewKey(0)) ? SlotCacheDecoding.start(session, prompt) : PresentDecoding.start(session, prompt);
}

/** The plain way: feed `present.*` back as the next step's past. */
export class PresentDecoding implements Decoding {
  private constructor(
    private readonly session: Gpt2Session,
    private out: Awaited<ReturnType<Gpt2Session['step']>>,
    public logits: Float32Array,
  ) {}

  static async start(session: Gpt2Session, prompt: readonly number[]): Promise<PresentDecoding> {
    const out = await session.step(leftPad([[...prompt]], 0), session.emptyCache(1));
    return new PresentDecoding(session, out, lastPositionLogits(out, session.config.vocab_size)[0] as Float32Array);
  }

  get length(): number {
    return this.out.cache.length;
  }

  async next(token: number): Promise<Float32Array> {
    this.out = await this.session.step({ inputIds: [[token]], attentionMask: [Array<number>(this.length + 1).fill(1)] }, this.out.cache);
    this.logits = lastPositionLogits(this.out, this.session.config.vocab_size)[0] as Float32Array;
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

  static async start(session: Gpt2Session, prompt: readonly number[]): Promise<SlotCacheDecoding> {
    const { logits, outputs } = await session.run(leftPad([[...prompt]], 0), session.emptyCache(1), newKvNames(session));
    const decoding = new SlotCacheDecoding(session, 0, lastPositionLogits(logits, session.config.vocab_size)[0] as Float32Array);
    decoding.store(outputs, prompt.length);
    decoding.length = prompt.length;
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
    const { logits, outputs } = await this.session.run({ inputIds: [[token]], attentionMask: [mask] }, cache, newKvNames(this.session));
    this.store(outputs, 1);
    this.length++;
    this.logits = lastPositionLogits(logits, vocab_size)[0] as Float32Array;
    return this.logits;
  }

  /** Copies the fetched present_new.* ([1, n_head, count, head_dim]) into slots [length, length + count). */
  private store(fetched: ort.InferenceSession.OnnxValueMapType, count: number): void {
    this.reserve(this.length + count);
    const { n_layer, n_head, n_embd } = this.session.config;
    const headDim = n_embd / n_head;
    for (let l = 0; l < n_layer; l++) {
      for (const [name, slots] of [[GRAPH_IO.presentNewKey(l), this.keys[l]], [GRAPH_IO.presentNewValue(l), this.values[l]]] as const) {
        const data = (fetched[name] as ort.Tensor).data as Float32Array;
        for (let h = 0; h < n_head; h++) {
          (slots as Float32Array).set(data.subarray(h * count * headDim, (h + 1) * count * headDim), (h * this.capacity + this.length) * headDim);
        }
      }
    }
  }

  /** Makes room for `slots` positions, keeping what is stored. */
  private reserve(slots: number): void {
    if (slots <= this.capacity) return;
    const { n_layer, n_head, n_embd } = this.session.config;
    const headDim = n_embd / n_head;
    const capacity = Math.ceil(slots / GROWTH) * GROWTH;
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

const newKvNames = (session: Gpt2Session) => Array.from({ length: session.config.n_layer }, (_, l) => [GRAPH_IO.presentNewKey(l), GRAPH_IO.presentNewValue(l)]).flat();
