/** Numerics on a next-token logit vector, in float64 so comparisons of close models are exact enough. */

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
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

export function softmax(logits: ArrayLike<number>): Float64Array {
  return logSoftmax(logits).map(Math.exp);
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const n = Math.min(k, values.length);
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (best.length === n && v <= (values[best[n - 1] as number] as number)) continue;
    let at = best.length;
    while (at > 0 && v > (values[best[at - 1] as number] as number)) at--;
    best.splice(at, 0, i);
    if (best.length > n) best.pop();
  }
  return best;
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
