/**
 * Log-probabilities as OpenAI's API reports them: from the model's own distribution over the
 * vocabulary (log-softmax of the raw logits), before temperature, top-k or top-p shape the sampling.
 */
import type { TokenLogprob } from '@gpt2-int8/contract/api';
import { logSoftmax, topK } from '@gpt2-int8/runtime/logits';
import { tokenText } from '@gpt2-int8/runtime/tokenizer';

export interface Logprobs {
  logprob: number;
  /** The `n` most likely tokens, most likely first (ties by id). */
  top_logprobs: TokenLogprob[];
}

export function tokenLogprobs(logits: ArrayLike<number>, chosen: number, n: number): Logprobs {
  const lp = logSoftmax(logits);
  return {
    logprob: lp[chosen] as number,
    top_logprobs: topK(lp, n).map((id) => ({ token: tokenText(id), token_id: id, logprob: lp[id] as number })),
  };
}
