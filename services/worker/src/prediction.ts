import type { Prediction } from '@gpt2-int8/contract/api';
import { tokenText } from '@gpt2-int8/runtime/tokenizer';
import type { Candidate } from './sampling.js';

/** A prediction from the most likely tokens, most likely first. */
export function predictionOf(top: readonly Candidate[]): Prediction {
  const best = top[0];
  if (best === undefined) throw new Error('no logits to predict from');
  return {
    token: tokenText(best.id),
    token_id: best.id,
    top_k: top.map((c) => ({ token: tokenText(c.id), token_id: c.id, prob: c.prob })),
  };
}
