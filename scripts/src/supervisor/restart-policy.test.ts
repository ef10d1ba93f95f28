import { describe, expect, it } from 'vitest';
import { type Crash, decideRestart, DEFAULT_RESTART_POLICY as P } from './restart-policy.js';

/** Crashes `gapMs` apart, each after `uptimeMs` of running. */
function crashes(n: number, gapMs: number, uptimeMs: number): Crash[] {
  return Array.from({ length: n }, (_, i) => ({ at: 1_000_000 + i * gapMs, uptimeMs }));
}

describe('decideRestart', () => {
  it('doubles the delay from 1 s with each quick crash, up to 30 s', () => {
    const delays: number[] = [];
    // Far apart in time (no crash loop) but each run short: the delay keeps doubling.
    for (let n = 1; n <= 7; n++) {
      const d = decideRestart(crashes(n, P.windowMs, 5_000));
      if (!d.restart) throw new Error(`gave up after ${n}`);
      delays.push(d.delayMs);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  it('starts over at 1 s after a run that lasted past healthyAfterMs', () => {
    const history = [...crashes(3, P.windowMs, 5_000), { at: 1_000_000 + 3 * P.windowMs, uptimeMs: P.healthyAfterMs }];
    expect(decideRestart(history)).toEqual({ restart: true, delayMs: 1000 });
  });

  it('gives up on the fifth crash within two minutes, and says so', () => {
    expect(decideRestart(crashes(4, 10_000, 100)).restart).toBe(true);
    expect(decideRestart(crashes(5, 10_000, 100))).toEqual({ restart: false, reason: '5 crashes within 120 s' });
  });

  it('counts only the crashes inside the window', () => {
    // Five crashes, but the first is more than two minutes before the last.
    const history = crashes(5, 31_000, 100);
    expect(decideRestart(history).restart).toBe(true);
  });

  it('needs a crash to decide on', () => {
    expect(() => decideRestart([])).toThrow(/at least one crash/);
  });
});
