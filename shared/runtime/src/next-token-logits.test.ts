import { describe, expect, it } from 'vitest';
import { planRuns } from './next-token-logits.js';

describe('planRuns', () => {
  it('keeps everything in one run when it fits, sorted by length', () => {
    expect(planRuns([5, 3, 4], 100)).toEqual([[1, 2, 0]]);
  });

  it('splits so that rows × longest row stays within the budget', () => {
    const lengths = [10, 10, 10, 100, 10];
    const runs = planRuns(lengths, 100);
    for (const run of runs) {
      const width = Math.max(...run.map((i) => lengths[i] as number));
      expect(run.length === 1 || run.length * width <= 100).toBe(true);
    }
    expect(runs.flat().sort()).toEqual([0, 1, 2, 3, 4]);
    expect(runs).toEqual([[0, 1, 2, 4], [3]]);
  });

  it('runs a prompt longer than the budget on its own', () => {
    expect(planRuns([2000, 3], 1024)).toEqual([[1], [0]]);
    expect(planRuns([], 1024)).toEqual([]);
  });
});
