import { describe, expect, it } from 'vitest';
import { Rng } from '@gpt2-int8/runtime/prng';
import { topKProbs } from './sampling.js';
import { TokenProbabilities } from './token-probabilities.js';

describe('TokenProbabilities', () => {
  it('matches the JavaScript softmax and top-k, ties to the lower id, row by row', async () => {
    const V = 50257;
    const probs = await TokenProbabilities.create(V);
    const rng = new Rng(4);
    const rows = [0.1, 3, 12].map((scale) => Float32Array.from({ length: V }, () => (rng.uniform() * 2 - 1) * scale));
    // A tie at the top: the lower id must come first, as in shared/logits' topK.
    (rows[0] as Float32Array)[7] = 10;
    (rows[0] as Float32Array)[3] = 10;
    const got = await probs.topK(rows, 5);
    rows.forEach((row, r) => {
      const want = topKProbs(row, 5);
      expect(got[r]?.map((c) => c.id)).toEqual(want.map((c) => c.id));
      got[r]?.forEach((c, j) => expect(c.prob).toBeCloseTo(want[j]?.prob as number, 6));
    });
    expect(got[0]?.slice(0, 2).map((c) => c.id)).toEqual([3, 7]);
    await probs.release();
  });
});
