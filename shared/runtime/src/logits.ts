/** Numerics on a next-token logit vector, in float64 so comparisons of close models are exact enough. */

/** The index of the largest logit (the lowest such index on ties); -1 for an empty array. */
export function argmax(logits: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i] as number;
    if (v > bestValue || best === -1) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/** log-softmax, stable for any logit scale. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  const logZ = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = (logits[i] as number) - logZ;
  return out;
}

/** softmax(logits / temperature), numerically stable (the maximum is subtracted first). */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  if (!(temperature > 0)) throw new RangeError(`softmax needs a positive temperature, got ${temperature}`);
  const out = new Float64Array(logits.length);
  if (logits.length === 0) return out;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(((logits[i] as number) - max) / temperature);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/** Orders by value descending, then index ascending. */
function before(aId: number, aValue: number, bId: number, bValue: number): boolean {
  return aValue > bValue || (aValue === bValue && aId < bId);
}

/**
 * Indices of the k largest values, largest first (ties: lower index first). O(n·log k) with a small
 * sorted buffer: k is at most a few dozen while n is the 50257-token vocabulary.
 */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const n = Math.min(Math.max(0, Math.floor(k)), values.length);
  if (n === 0) return [];
  const ids: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (ids.length === n) {
      const last = ids[n - 1] as number;
      if (!before(i, v, last, values[last] as number)) continue;
      ids.pop();
    }
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = ids[mid] as number;
      if (before(m, values[m] as number, i, v)) lo = mid + 1;
      else hi = mid;
    }
    ids.splice(lo, 0, i);
  }
  return ids;
}

/** KL(P ‖ Q) in nats between the distributions two logit vectors define. */
export function klDivergence(pLogits: ArrayLike<number>, qLogits: ArrayLike<number>): number {
  const lp = logSoftmax(pLogits);
  const lq = logSoftmax(qLogits);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) kl += Math.exp(lp[i] as number) * ((lp[i] as number) - (lq[i] as number));
  return Math.max(0, kl);
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
