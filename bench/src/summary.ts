/** Medians and spread of timing samples: what every figure in the bench reports. */
import { median, percentile } from '@gpt2-int8/contract/stats';

export interface Summary {
  n: number;
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    median: median(samples),
    p10: percentile(samples, 10),
    p90: percentile(samples, 90),
    min: samples.length ? Math.min(...samples) : Number.NaN,
    max: samples.length ? Math.max(...samples) : Number.NaN,
  };
}

/** Rounds for JSON and tables: enough digits for the comparisons, no float noise. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function roundSummary(s: Summary, digits = 3): Summary {
  return { n: s.n, median: round(s.median, digits), p10: round(s.p10, digits), p90: round(s.p90, digits), min: round(s.min, digits), max: round(s.max, digits) };
}

/** "12.3 (11.9–13.0)": the median with its p10–p90 spread. */
export function withSpread(s: Summary, digits = 2): string {
  return `${s.median.toFixed(digits)} (${s.p10.toFixed(digits)}–${s.p90.toFixed(digits)})`;
}

/**
 * Runs each of the functions `reps` times, interleaved, after `warmups` untimed runs each, so that
 * machine drift hits all of them alike: rep r runs them in order when r is even and in reverse when
 * r is odd (ABBA), which also cancels any advantage of going first. Returns the ms samples of each.
 */
export async function interleaved(fns: readonly (() => Promise<unknown>)[], reps: number, warmups: number, onRep?: (rep: number) => void): Promise<number[][]> {
  for (let w = 0; w < warmups; w++) for (const fn of fns) await fn();
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    const order = fns.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const started = performance.now();
      await (fns[i] as () => Promise<unknown>)();
      (samples[i] as number[]).push(performance.now() - started);
    }
    onRep?.(r + 1);
  }
  return samples;
}
