import type { Prediction } from '@gpt2-int8/shared/api';
import { tokenText } from '@gpt2-int8/shared/tokenizer';
import { topKProbs } from './sampling.js';

/** The greedy next token and the k most likely tokens with their probabilities. */
export function predictionFrom(logits: ArrayLike<number>, topK: number): Prediction {
  const top = topKProbs(logits, Math.max(1, topK));
  const best = top[0];
  if (best === undefined) throw new Error('no logits to predict from');
  return {
    token: tokenText(best.id),
    token_id: best.id,
    top_k: top.map((c) => ({ token: tokenText(c.id), token_id: c.id, prob: c.prob })),
  };
}
