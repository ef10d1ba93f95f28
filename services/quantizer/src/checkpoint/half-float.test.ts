import { describe, expect, it } from 'vitest';
import { bf16ToF32, decodeBf16, decodeF16, encodeHalf, f16ToF32, f32ToBf16, f32ToF16 } from './half-float.js';

describe('f16ToF32', () => {
  it.each([
    [0x0000, 0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504], // largest finite
    [0x0400, 2 ** -14], // smallest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('decodes bit pattern %i', (bits, value) => {
    expect(f16ToF32(bits)).toBe(value);
  });

  it('keeps the sign of zero and decodes NaN', () => {
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0xfd01)).toBeNaN();
  });
});

describe('bf16ToF32', () => {
  it.each([
    [0x0000, 0],
    [0x3f80, 1],
    [0xc000, -2],
    [0x4049, 3.140625],
    [0x7f7f, 3.3895313892515355e38], // largest finite
    [0x0080, 2 ** -126], // smallest normal
    [0x0001, 2 ** -133], // smallest subnormal
    [0x7f80, Infinity],
    [0xff80, -Infinity],
  ])('decodes bit pattern %i', (bits, value) => {
    expect(bf16ToF32(bits)).toBe(value);
  });

  it('decodes NaN and negative zero', () => {
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(Object.is(bf16ToF32(0x8000), -0)).toBe(true);
  });
});

describe('f32ToF16', () => {
  it('round-trips every non-NaN F16 bit pattern', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      if (!Number.isNaN(v) && f32ToF16(v) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest, ties to even', () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // halfway between 0x3c00 and 0x3c01 → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway between 0x3c01 and 0x3c02 → even
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above halfway
    expect(f32ToF16(3 * 2 ** -26)).toBe(0x0001); // subnormal: 0.75 ulp → 1
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // exactly half the smallest subnormal → even (0)
    expect(f32ToF16(1023.5 * 2 ** -24)).toBe(0x0400); // rounds up from the largest subnormal into the normals
  });

  it('overflows to infinity and maps NaN to a quiet NaN', () => {
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-1e10)).toBe(0xfc00);
    expect(f32ToF16(NaN)).toBe(0x7e00);
  });
});

describe('f32ToBf16', () => {
  it('round-trips every non-NaN BF16 bit pattern', () => {
    const wrong: number[] = [];
    for (let b = 0; b < 0x10000; b++) {
      const v = bf16ToF32(b);
      if (!Number.isNaN(v) && f32ToBf16(v) !== b) wrong.push(b);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest, ties to even', () => {
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // halfway → even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // halfway → even
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -16)).toBe(0x3f81);
    expect(f32ToBf16(3.3e38)).toBe(0x7f78);
    expect(f32ToBf16(3.4028234663852886e38)).toBe(0x7f80); // float max rounds to infinity
    expect(Number.isNaN(bf16ToF32(f32ToBf16(NaN)))).toBe(true);
  });
});

describe('bulk decoders', () => {
  it('decode little-endian bytes at an offset', () => {
    const values = new Float32Array([1, -2, 0.5, 65504]);
    const out = new Float32Array(6).fill(7);
    decodeF16(encodeHalf('F16', values), out, 1);
    expect([...out]).toEqual([7, 1, -2, 0.5, 65504, 7]);
    const out2 = new Float32Array(5).fill(7);
    decodeBf16(encodeHalf('BF16', values), out2, 0);
    expect([...out2]).toEqual([1, -2, 0.5, 65536, 7]); // 65504 is not representable in BF16
    expect([...encodeHalf('F16', new Float32Array([1]))]).toEqual([0x00, 0x3c]);
  });
});
