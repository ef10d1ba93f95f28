/**
 * Generation through the KV cache: one pass over the prompt, then one token per step, each chosen
 * greedily or sampled with a seeded generator, until EOS, a stop string, max_new_tokens, or the
 * model's context is full. The choice of each token is GenerationRun's, the same whether the
 * sequence runs alone here or among others in the scheduler (scheduler.ts).
 */
import type { GenerateResponse, GeneratedToken } from '@gpt2-int8/contract/api';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import type { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { startDecoding } from '@gpt2-int8/runtime/kv-decoder';
import { EOS_TOKEN_ID, GPT2_VOCAB_SIZE } from '@gpt2-int8/runtime/tokenizer';
import { Rng } from '@gpt2-int8/runtime/prng';
import { chooseToken, type SamplingOptions } from './sampling.js';
import { tokenLogprobs } from './token-logprobs.js';
import { TokenStream } from './token-stream.js';

export interface GenerateParams extends SamplingOptions {
  maxNewTokens: number;
  seed: number;
  stop: readonly string[];
  /** Alternatives listed with each token's log-probability; undefined: no log-probabilities. */
  logprobs?: number | undefined;
}

export interface Generation {
  text: string;
  tokens: GeneratedToken[];
  finishReason: GenerateResponse['finish_reason'];
  /** Time to produce each generated token (model step + choice); the first includes the prompt pass. */
  perTokenMs: number[];
}

/** A generation stopped because its client went away (or its request timed out). */
export class GenerationCancelled extends Error {
  constructor(readonly tokens: number) {
    super(`cancelled after ${tokens} generated tokens`);
  }
}

/**
 * One sequence's side of generation: given each next-token distribution, chooses the token, streams
 * it, and says whether to go on. `onToken` receives each streamed event as soon as it is final, in
 * order; it is not awaited, so a slow consumer does not slow the model.
 */
export class GenerationRun {
  private readonly usable: number;
  private readonly rng: Rng;
  private readonly stream: TokenStream;
  readonly perTokenMs: number[] = [];
  private finishReason: Generation['finishReason'] | undefined;
  /** When the time of the next token started counting. */
  private mark = performance.now();

  constructor(
    private readonly config: Gpt2Config,
    private readonly params: GenerateParams,
    private readonly onToken: (e: GeneratedToken) => void = () => {},
  ) {
    this.usable = Math.min(config.vocab_size, GPT2_VOCAB_SIZE);
    this.rng = new Rng(params.seed);
    this.stream = new TokenStream(params.stop);
  }

  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** Restarts the clock of the next token (the model step about to run is its time). */
  startClock(): void {
    this.mark = performance.now();
  }

  /**
   * Takes the next token's logits, with `length` positions in the cache; returns the token to feed
   * at position `length`, or undefined when the generation is over.
   */
  accept(logits: Float32Array, length: number): number | undefined {
    const i = this.perTokenMs.length;
    const row = logits.subarray(0, this.usable);
    const id = chooseToken(row, this.params, this.rng);
    const extra = this.params.logprobs === undefined ? {} : tokenLogprobs(row, id, this.params.logprobs);
    this.perTokenMs.push(performance.now() - this.mark);
    if (id === EOS_TOKEN_ID) return this.end('eos');
    this.emit(this.stream.push(id, extra));
    if (this.stream.stoppedByString) return this.end('stop');
    if (i === this.params.maxNewTokens - 1) return this.end('length');
    // The next step would put this token at position `length`; past the context it cannot.
    if (length >= this.config.n_positions) return this.end('context');
    this.mark = performance.now();
    return id;
  }

  private end(reason: Generation['finishReason']): undefined {
    this.finishReason = reason;
    this.emit(this.stream.finish());
    return undefined;
  }

  private emit(events: GeneratedToken[]): void {
    for (const e of events) this.onToken(e);
  }

  result(): Generation {
    return { text: this.stream.text(), tokens: this.stream.events(), finishReason: this.finishReason ?? 'length', perTokenMs: this.perTokenMs };
  }
}

/**
 * Generates from `prompt` (token ids that fit the context) alone, at batch 1. Stops with
 * GenerationCancelled at the next step once `signal` is aborted.
 */
export async function generate(session: Gpt2Session, prompt: readonly number[], params: GenerateParams, onToken?: (e: GeneratedToken) => void, signal?: AbortSignal): Promise<Generation> {
  if (params.maxNewTokens <= 0) return { text: '', tokens: [], finishReason: 'length', perTokenMs: [] };
  const run = new GenerationRun(session.config, params, onToken);
  const decoding = await startDecoding(session, prompt);
  let next = run.accept(decoding.logits, decoding.length);
  while (next !== undefined) {
    if (signal?.aborted) throw new GenerationCancelled(run.perTokenMs.length);
    run.startClock();
    const logits = await decoding.next(next);
    next = run.accept(logits, decoding.length);
  }
  return run.result();
}
