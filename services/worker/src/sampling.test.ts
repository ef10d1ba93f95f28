import { describe, expect, it } from 'vitest';
import { Rng } from '@gpt2-int8/runtime/prng';
import { argmax, softmax, topK } from '@gpt2-int8/runtime/logits';
import { chooseToken, drawFrom, nucleus, samplingDistribution, topKProbs } from './sampling.js';

// --- An independent reference: straightforward full sorts and log-sum-exp, written differently. ---
function refSoftmax(logits: number[], t = 1): number[] {
  const scaled = logits.map((x) => x / t);
  const m = Math.max(...scaled);
  const lse = m + Math.log(scaled.reduce((a, x) => a + Math.exp(x - m), 0));
  return scaled.map((x) => Math.exp(x - lse));
}
function refOrder(values: number[]): number[] {
  return values.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
}
/** HF-style: temperature, top-k on logits, then top-p on the renormalised rest. */
function refDistribution(logits: number[], temperature: number, topK: number, topP: number): Map<number, number> {
  let ids = refOrder(logits);
  if (topK > 0) ids = ids.slice(0, topK);
  const p = refSoftmax(ids.map((i) => logits[i] as number), temperature);
  const kept: number[] = [];
  let cum = 0;
  for (let j = 0; j < ids.length; j++) {
    kept.push(j);
    cum += p[j] as number;
    if (topP < 1 && cum >= topP) break;
  }
  const z = kept.reduce((a, j) => a + (p[j] as number), 0);
  return new Map(kept.map((j) => [ids[j] as number, (p[j] as number) / z]));
}

function randomLogits(rng: Rng, n: number, scale: number): number[] {
  return Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * scale);
}

describe('argmax and softmax', () => {
  it('argmax picks the largest, the lowest id on ties, -1 when empty', () => {
    expect(argmax([1, 5, 3])).toBe(1);
    expect(argmax([2, 7, 7, 1])).toBe(1);
    expect(argmax([-Infinity, -Infinity])).toBe(0);
    expect(argmax([])).toBe(-1);
  });

  it('softmax matches log-sum-exp at several temperatures, and survives huge logits', () => {
    const rng = new Rng(1);
    for (const t of [0.3, 1, 2.5]) {
      const logits = randomLogits(rng, 200, 20);
      const got = softmax(logits, t);
      const want = refSoftmax(logits, t);
      want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 12));
    }
    const big = softmax([1000, 1000, -1000]);
    expect([...big]).toEqual([0.5, 0.5, 0]);
    expect(() => softmax([1, 2], 0)).toThrow(RangeError);
  });
});

describe('top-k', () => {
  it('returns the k largest in order, ties by lower id, like a full sort', () => {
    const rng = new Rng(2);
    for (let trial = 0; trial < 20; trial++) {
      const values = randomLogits(rng, 500, 3).map((v) => Math.round(v * 4) / 4); // many ties
      for (const k of [1, 5, 50]) expect(topK(values, k)).toEqual(refOrder(values).slice(0, k));
    }
    expect(topK([1, 2], 10)).toEqual([1, 0]);
    expect(topK([1, 2], 0)).toEqual([]);
  });

  it('topKProbs gives the softmax probabilities of the top tokens', () => {
    const logits = [0, Math.log(3), Math.log(6)];
    const top = topKProbs(logits, 2);
    expect(top.map((c) => c.id)).toEqual([2, 1]);
    expect(top[0]?.prob).toBeCloseTo(0.6, 12);
    expect(top[1]?.prob).toBeCloseTo(0.3, 12);
  });
});

describe('sampling distribution', () => {
  const cases: Array<[number, number, number]> = [
    [1, 0, 1],
    [0.7, 0, 0.9],
    [1.3, 40, 1],
    [1, 40, 0.5],
    [0.5, 5, 0.95],
    [1, 0, 0.01],
  ];
  it.each(cases)('matches the reference (temperature %s, top_k %s, top_p %s)', (temperature, topK, topP) => {
    const rng = new Rng(3);
    for (const scale of [0.01, 3, 15]) {
      const logits = randomLogits(rng, 1000, scale);
      const got = samplingDistribution(logits, { temperature, topK, topP });
      const want = refDistribution(logits, temperature, topK, topP);
      expect(got.map((c) => c.id).sort((a, b) => a - b)).toEqual([...want.keys()].sort((a, b) => a - b));
      for (const c of got) expect(c.prob).toBeCloseTo(want.get(c.id) as number, 10);
      expect(got.reduce((a, c) => a + c.prob, 0)).toBeCloseTo(1, 12);
    }
  });

  it('nucleus keeps the smallest top set reaching p, and ties at the edge lowest id first', () => {
    expect(nucleus(Float64Array.from([0.1, 0.5, 0.4]), 0.5)).toEqual([1]);
    expect(nucleus(Float64Array.from([0.1, 0.5, 0.4]), 0.6)).toEqual([1, 2]);
    expect(nucleus(Float64Array.from([0.25, 0.25, 0.25, 0.25]), 0.5)).toEqual([0, 1]);
    expect(nucleus(Float64Array.from([0.25, 0.25, 0.25, 0.25]), 0.51)).toEqual([0, 1, 2]);
  });

  it('nucleus agrees with a full sort on random and heavily tied distributions', () => {
    const rng = new Rng(21);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 300);
      const raw = Array.from({ length: n }, () => (trial % 2 === 0 ? Math.floor(rng.uniform() * 4) + 1 : rng.uniform() ** 4));
      const z = raw.reduce((a, b) => a + b, 0);
      const probs = Float64Array.from(raw, (v) => v / z);
      const p = [0.01, 0.3, 0.5, 0.9, 0.999][trial % 5] as number;
      const order = refOrder([...probs]);
      const want: number[] = [];
      let cum = 0;
      for (const i of order) {
        want.push(i);
        cum += probs[i] as number;
        if (cum >= p) break;
      }
      const got = nucleus(probs, p);
      if (trial % 2 === 1) {
        expect(got).toEqual(want.sort((a, b) => a - b));
        continue;
      }
      // Exact ties can land a sum exactly on p, where summation order decides by one rounding
      // step: check it is a valid nucleus (the largest values, reaching p, minimal) up to 1e-12.
      const kept = got.map((i) => probs[i] as number);
      const smallestKept = Math.min(...kept);
      const dropped = [...probs].filter((_, i) => !got.includes(i));
      expect(dropped.every((v) => v <= smallestKept)).toBe(true);
      const sum = kept.reduce((a, b) => a + b, 0);
      expect(sum).toBeGreaterThanOrEqual(p - 1e-12);
      expect(sum - smallestKept).toBeLessThan(p + 1e-12);
      // Ties at the boundary are kept lowest id first.
      const tiedDropped = got.length < probs.length ? [...probs.keys()].filter((i) => probs[i] === smallestKept && !got.includes(i)) : [];
      const tiedKept = got.filter((i) => probs[i] === smallestKept);
      if (tiedDropped.length > 0) expect(Math.max(...tiedKept)).toBeLessThan(Math.min(...tiedDropped));
    }
  });

  it('chooseToken draws what drawFrom(samplingDistribution) draws', () => {
    const rng = new Rng(4);
    for (const opts of [
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 0.8, topK: 10, topP: 1 },
      { temperature: 1.2, topK: 0, topP: 0.7 },
    ]) {
      const logits = randomLogits(rng, 2000, 4);
      const a = new Rng(99);
      const b = new Rng(99);
      const dist = samplingDistribution(logits, opts);
      for (let i = 0; i < 200; i++) expect(chooseToken(logits, opts, a)).toBe(drawFrom(dist, b.uniform()));
    }
  });

  it('is a single certain token at temperature 0', () => {
    expect(samplingDistribution([1, 9, 3], { temperature: 0, topK: 0, topP: 1 })).toEqual([{ id: 1, prob: 1 }]);
  });
});

describe('drawing', () => {
  it('draws by cumulative probability, the last one taking any rounding remainder', () => {
    const d = [
      { id: 7, prob: 0.2 },
      { id: 3, prob: 0.8 },
    ];
    expect(drawFrom(d, 0)).toBe(7);
    expect(drawFrom(d, 0.1999)).toBe(7);
    expect(drawFrom(d, 0.2)).toBe(3);
    expect(drawFrom([{ id: 1, prob: 0.3 }, { id: 2, prob: 0.6999999 }], 0.9999999)).toBe(2);
    expect(() => drawFrom([], 0.5)).toThrow();
  });

  it('samples with the distribution’s frequencies', () => {
    const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    const rng = new Rng(11);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[chooseToken(logits, { temperature: 1, topK: 0, topP: 1 }, rng)]!++;
    expect((counts[0] as number) / n).toBeCloseTo(0.5, 1);
    expect((counts[1] as number) / n).toBeCloseTo(0.3, 1);
    expect((counts[2] as number) / n).toBeCloseTo(0.2, 1);
  });

  it('is reproducible with a seed and greedy without temperature', () => {
    const logits = randomLogits(new Rng(5), 300, 2);
    const opts = { temperature: 1, topK: 0, topP: 0.9 };
    const run = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 30 }, () => chooseToken(logits, opts, rng));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
    expect(chooseToken(logits, { temperature: 0, topK: 0, topP: 1 }, new Rng(1))).toBe(argmax(logits));
  });
});
