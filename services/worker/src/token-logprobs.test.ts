import { describe, expect, it } from 'vitest';
import { tokenText } from '@gpt2-int8/runtime/tokenizer';
import { tokenLogprobs } from './token-logprobs.js';

/** log P(i) computed the long way, in float64: exp, sum, divide, log. */
function reference(logits: number[], i: number): number {
  const sum = logits.reduce((s, x) => s + Math.exp(x), 0);
  return Math.log(Math.exp(logits[i] as number) / sum);
}

describe('tokenLogprobs', () => {
  const logits = [2, -1, 0.5, 3, 3, -4];

  it('gives the chosen token its log-probability under the raw logits', () => {
    for (let i = 0; i < logits.length; i++) expect(tokenLogprobs(logits, i, 0).logprob).toBeCloseTo(reference(logits, i), 12);
  });

  it('lists the n most likely tokens, most likely first, ties by id, with their text', () => {
    const r = tokenLogprobs(logits, 1, 3);
    expect(r.top_logprobs.map((t) => t.token_id)).toEqual([3, 4, 0]);
    for (const t of r.top_logprobs) {
      expect(t.logprob).toBeCloseTo(reference(logits, t.token_id), 12);
      expect(t.token).toBe(tokenText(t.token_id));
    }
    expect(tokenLogprobs(logits, 1, 0).top_logprobs).toEqual([]);
  });

  it('does not depend on a shift of every logit (only the distribution counts)', () => {
    const shifted = logits.map((x) => x + 1000);
    expect(tokenLogprobs(shifted, 2, 2).logprob).toBeCloseTo(reference(logits, 2), 9);
  });
});
