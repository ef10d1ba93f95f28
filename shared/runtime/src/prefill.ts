import { type Gpt2Session, type KvCache, lastPositionLogits } from './gpt2-session.js';

/**
 * Prompt tokens per call of a prefill. Fixed, and the same for every way a sequence is generated
 * (one at a time, kv-decoder.ts, or batched, batch-decoder.ts): a prompt's keys and values depend
 * on how it was split, in the last bits (the attention sums its past and this call's positions
 * apart, services/quantizer/src/gpt2-graph.ts), so one split everywhere gives one answer.
 */
export const PROMPT_CHUNK = 64;

/** A prompt run at batch 1 in chunks of PROMPT_CHUNK tokens, its keys and values kept at exactly its length. */
export class Prefill {
  /** [1, n_head, length, head_dim] per layer, until the sequence's decoder takes it. */
  cache: KvCache;
  /** Prompt tokens run so far. */
  length = 0;
  /** The next token's logits once the whole prompt has run. */
  logits: Float32Array | undefined;

  constructor(
    private readonly session: Gpt2Session,
    readonly prompt: readonly number[],
  ) {
    if (prompt.length === 0) throw new Error('an empty prompt cannot be decoded');
    this.cache = session.emptyCache(1);
  }

  /** Runs a whole prompt. */
  static async run(session: Gpt2Session, prompt: readonly number[]): Promise<Prefill> {
    const prefill = new Prefill(session, prompt);
    while (!prefill.done) await prefill.runChunk();
    return prefill;
  }

  get done(): boolean {
    return this.length === this.prompt.length;
  }

  /** Tokens the next chunk runs. */
  get nextChunkTokens(): number {
    return Math.min(PROMPT_CHUNK, this.prompt.length - this.length);
  }

  /** Runs the next chunk; after the last, `logits` is set. */
  async runChunk(): Promise<void> {
    const tokens = this.prompt.slice(this.length, this.length + this.nextChunkTokens);
    const out = await this.session.step({ inputIds: [[...tokens]], attentionMask: [Array<number>(this.length + tokens.length).fill(1)] }, this.cache);
    this.cache = out.cache;
    this.length = out.cache.length;
    if (this.done) this.logits = lastPositionLogits(out, this.session.config.vocab_size)[0]?.slice() as Float32Array;
  }

  /** Drops the keys and values (the decoder holds a copy now); `length` and `logits` stay. */
  release(): void {
    this.cache = this.session.emptyCache(1);
  }
}
