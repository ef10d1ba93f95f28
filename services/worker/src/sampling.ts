/**
 * Choosing tokens from logits: greedy argmax, softmax, top-k lists and sampling with temperature,
 * top-k and top-p. Pure functions over plain arrays; probabilities are computed in float64.
 * Ties are broken by the lower token id, so every choice is deterministic.
 */
import { argmax, softmax, topK } from '@gpt2-int8/runtime/logits';
import type { Rng } from '@gpt2-int8/runtime/prng';

export interface Candidate {
  id: number;
  prob: number;
}

/** The k most likely tokens with their probabilities under softmax(logits): what predict returns. */
export function topKProbs(logits: ArrayLike<number>, k: number): Candidate[] {
  const probs = softmax(logits);
  return topK(probs, k).map((id) => ({ id, prob: probs[id] as number }));
}

export interface SamplingOptions {
  /** 0 (or less) means greedy argmax; otherwise logits are divided by it before the softmax. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 means no limit. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches top_p (1 = all). */
  topP: number;
}

/**
 * The candidates sampling draws from, in ascending id order, renormalised to sum to 1: temperature,
 * then top-k, then top-p (nucleus) over what top-k kept — the order Hugging Face's generate uses.
 * Tokens tied at the nucleus boundary are kept lowest id first.
 */
export function samplingDistribution(logits: ArrayLike<number>, opts: SamplingOptions): Candidate[] {
  if (!(opts.temperature > 0)) {
    const id = argmax(logits);
    return id < 0 ? [] : [{ id, prob: 1 }];
  }
  const { ids, probs, keep } = filtered(logits, opts);
  let total = 0;
  for (let i = 0; i < probs.length; i++) if (keep(i)) total += probs[i] as number;
  const out: Candidate[] = [];
  for (let i = 0; i < probs.length; i++) if (keep(i)) out.push({ id: ids ? (ids[i] as number) : i, prob: (probs[i] as number) / total });
  return out;
}

/**
 * Temperature, top-k and top-p without building candidate objects (the vocabulary is 50257 long and
 * this runs once per generated token): `probs[i]` belongs to token `ids[i]` (or `i` without top-k),
 * and `keep(i)` says whether top-p kept it.
 */
function filtered(logits: ArrayLike<number>, opts: SamplingOptions): { ids: number[] | undefined; probs: Float64Array; keep: (i: number) => boolean } {
  let ids: number[] | undefined;
  let probs: Float64Array;
  if (opts.topK > 0 && opts.topK < logits.length) {
    ids = topK(logits, opts.topK).sort((a, b) => a - b);
    probs = softmax(ids.map((id) => logits[id] as number), opts.temperature);
  } else {
    probs = softmax(logits, opts.temperature);
  }
  if (!(opts.topP < 1)) return { ids, probs, keep: () => true };
  const { cut, tiesKept } = nucleusCut(probs, opts.topP);
  // Ties at the cut are kept lowest index first: count them off in ascending order.
  let ties = tiesKept;
  const kept = new Uint8Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const v = probs[i] as number;
    if (v > cut || (v === cut && ties-- > 0)) kept[i] = 1;
  }
  return { ids, probs, keep: (i) => kept[i] === 1 };
}

/** Indices (ascending) of the smallest set of largest probabilities whose sum reaches p. */
export function nucleus(probs: Float64Array, p: number): number[] {
  const { cut, tiesKept } = nucleusCut(probs, p);
  let ties = tiesKept;
  const out: number[] = [];
  for (let i = 0; i < probs.length; i++) {
    const v = probs[i] as number;
    if (v > cut || (v === cut && ties-- > 0)) out.push(i);
  }
  return out;
}

/**
 * The nucleus boundary: every probability above `cut` is in, and `tiesKept` of those equal to it.
 * Only entries ≥ (1 − p) / n can be in the nucleus (everything smaller sums to less than 1 − p),
 * which leaves a handful on a confident distribution; among the survivors a quickselect-style
 * partition finds the boundary in linear expected time instead of sorting 50k values per token.
 */
export function nucleusCut(probs: Float64Array, p: number): { cut: number; tiesKept: number } {
  const floor = (1 - p) / probs.length;
  let n = 0;
  const work = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) if ((probs[i] as number) >= floor) work[n++] = probs[i] as number;
  let lo = 0;
  let hi = n; // the undecided values are work[lo, hi); everything above them is already in
  let need = p;
  let seed = 0x9e3779b9;
  while (hi > lo) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const pivot = work[lo + (seed % (hi - lo))] as number;
    // Three-way partition: [lo, gt) > pivot, [gt, lt) == pivot, [lt, hi) < pivot.
    let gt = lo;
    let lt = hi;
    let i = lo;
    let sumGreater = 0;
    while (i < lt) {
      const v = work[i] as number;
      if (v > pivot) {
        work[i] = work[gt] as number;
        work[gt++] = v;
        sumGreater += v;
        i++;
      } else if (v < pivot) {
        work[i] = work[--lt] as number;
        work[lt] = v;
      } else {
        i++;
      }
    }
    if (sumGreater >= need && gt > lo) {
      hi = gt;
      continue;
    }
    need -= sumGreater;
    const equal = lt - gt;
    // Take values equal to the pivot one by one until the sum reaches p.
    for (let t = 1; t <= equal; t++) {
      need -= pivot;
      if (need <= 0) return { cut: pivot, tiesKept: t };
    }
    if (lt === hi) return { cut: pivot, tiesKept: equal }; // nothing smaller left: rounding never reached p
    lo = lt;
  }
  // Unreachable with a non-empty distribution; keep everything that survived the floor.
  return { cut: floor, tiesKept: Number.POSITIVE_INFINITY };
}

/** Draws one id from a distribution (its probabilities summing to 1) with a uniform u in [0, 1). */
export function drawFrom(candidates: readonly Candidate[], u: number): number {
  if (candidates.length === 0) throw new RangeError('cannot draw from an empty distribution');
  let cum = 0;
  for (const c of candidates) {
    cum += c.prob;
    if (u < cum) return c.id;
  }
  // Rounding can leave the sum a hair under 1: the last candidate takes the remainder.
  return (candidates[candidates.length - 1] as Candidate).id;
}

/** The next token: greedy when temperature is 0, otherwise drawn with the seeded generator. */
export function chooseToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng): number {
  if (!(opts.temperature > 0)) return argmax(logits);
  // The same walk as drawFrom(samplingDistribution(...)), without the candidate objects.
  const { ids, probs, keep } = filtered(logits, opts);
  let total = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (keep(i)) {
      total += probs[i] as number;
      last = i;
    }
  }
  const target = rng.uniform() * total;
  let cum = 0;
  for (let i = 0; i < probs.length; i++) {
    if (!keep(i)) continue;
    cum += probs[i] as number;
    if (target < cum) return ids ? (ids[i] as number) : i;
  }
  return ids ? (ids[last] as number) : last;
}
