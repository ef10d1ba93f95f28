/**
 * Generation through the KV cache: one pass over the prompt, then one token per step, each chosen
 * greedily or sampled with a seeded generator, until EOS, a stop string, max_new_tokens, or the
 * model's context is full.
 */
import type { GenerateResponse, GeneratedToken } from '@gpt2-int8/contract/api';
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

/**
 * Generates from `prompt` (token ids that fit the context). `onToken` receives each streamed event
 * as soon as it is final, in order; it is not awaited, so a slow consumer does not slow the model.
 */
export async function generate(session: Gpt2Session, prompt: readonly number[], params: GenerateParams, onToken: (e: GeneratedToken) => void = () => {}): Promise<Generation> {
  const { n_positions, vocab_size } = session.config;
  const usable = Math.min(vocab_size, GPT2_VOCAB_SIZE);
  const rng = new Rng(params.seed);
  const stream = new TokenStream(params.stop);
  const perTokenMs: number[] = [];
  const emit = (events: GeneratedToken[]) => events.forEach((e) => onToken(e));

  let started = performance.now();
  const decoding = await startDecoding(session, prompt);
  let finishReason: Generation['finishReason'] = 'length';
  for (let i = 0; i < params.maxNewTokens; i++) {
    const logits = decoding.logits.subarray(0, usable);
    const id = chooseToken(logits, params, rng);
    const extra = params.logprobs === undefined ? {} : tokenLogprobs(logits, id, params.logprobs);
    perTokenMs.push(performance.now() - started);
    if (id === EOS_TOKEN_ID) {
      finishReason = 'eos';
      break;
    }
    emit(stream.push(id, extra));
    if (stream.stoppedByString) {
      finishReason = 'stop';
      break;
    }
    if (i === params.maxNewTokens - 1) break;
    // The next step would put this token at position `decoding.length`; past the context it cannot.
    if (decoding.length >= n_positions) {
      finishReason = 'context';
      break;
    }
    started = performance.now();
    await decoding.next(id);
  }
  emit(stream.finish());
  return { text: stream.text(), tokens: stream.events(), finishReason, perTokenMs };
}
