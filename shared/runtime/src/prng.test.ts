import { describe, expect, it } from 'vitest';
import { hashString32, Rng } from './prng.js';

describe('Rng', () => {
  it('repeats its sequence for a seed and stream, and differs across seeds and streams', () => {
    const take = (r: Rng) => Array.from({ length: 8 }, () => r.nextU32());
    const a = take(new Rng(42));
    expect(take(new Rng(42))).toEqual(a);
    expect(take(new Rng(43))).not.toEqual(a);
    expect(take(new Rng(42, 1))).not.toEqual(a);
    expect(take(new Rng(42 + 2 ** 32))).not.toEqual(a); // high bits of a large seed matter
    expect(a.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });

  it('gives uniforms strictly inside (0, 1) and normals with the asked mean and std', () => {
    const r = new Rng(7);
    let sum = 0;
    let sumSq = 0;
    let outside = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      if (!(u > 0 && u < 1)) outside++;
      const z = r.normal(3, 0.5);
      sum += z;
      sumSq += z * z;
    }
    expect(outside).toBe(0);
    const mean = sum / n;
    const std = Math.sqrt(sumSq / n - mean * mean);
    expect(Math.abs(mean - 3)).toBeLessThan(0.01);
    expect(Math.abs(std - 0.5)).toBeLessThan(0.01);
  });

  it('rejects seeds that are not non-negative integers', () => {
    expect(() => new Rng(-1)).toThrow(RangeError);
    expect(() => new Rng(1.5)).toThrow(RangeError);
  });

  it('hashes names to distinct 32-bit ids', () => {
    expect(hashString32('h.0.ln_1.weight')).not.toBe(hashString32('h.0.ln_1.bias'));
    expect(hashString32('')).toBe(0x811c9dc5);
  });
});
