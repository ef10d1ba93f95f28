import type { Prediction } from '@gpt2-int8/shared/api';
import { tokenText } from '@gpt2-int8/shared/tokenizer';
import { type Candidate, topKProbs } from './sampling.js';

/** The greedy next token and the k most likely tokens with their probabilities. */
export function predictionFrom(logits: ArrayLike<number>, topK: number): Prediction {
  return predictionOf(topKProbs(logits, Math.max(1, topK)));
}

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
