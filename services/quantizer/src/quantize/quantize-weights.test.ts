import { describe, expect, it } from 'vitest';
import { quantizeInt4Blocks, quantizeInt8Blocks, quantizeSymmetric, transpose } from './quantize-weights.js';

// Independent reference: quantize one channel with plain arithmetic on a JS number array.
function referenceChannel(values: number[]): { q: number[]; scale: number } {
  const max = Math.max(...values.map(Math.abs));
  const scale = max === 0 ? 1 : max / 127;
  return { q: values.map((v) => Math.min(127, Math.max(-127, Math.round(v / scale)))), scale };
}

describe('quantizeSymmetric', () => {
  const rows = 5;
  const cols = 7;
  const data = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % cols)));

  it('per column matches a channel-by-channel reference', () => {
    const { q, scales } = quantizeSymmetric(data, rows, cols, 1, 'per-channel');
    expect(scales.length).toBe(cols);
    for (let c = 0; c < cols; c++) {
      const column = Array.from({ length: rows }, (_, r) => data[r * cols + c] as number);
      const ref = referenceChannel(column);
      expect(scales[c]).toBeCloseTo(ref.scale, 6);
      expect(Array.from({ length: rows }, (_, r) => q[r * cols + c])).toEqual(ref.q);
    }
  });

  it('per row matches the reference and reaches ±127 in every row', () => {
    const { q, scales } = quantizeSymmetric(data, rows, cols, 0, 'per-channel');
    for (let r = 0; r < rows; r++) {
      const ref = referenceChannel(Array.from(data.subarray(r * cols, (r + 1) * cols)));
      expect(scales[r]).toBeCloseTo(ref.scale, 6);
      expect(Array.from(q.subarray(r * cols, (r + 1) * cols))).toEqual(ref.q);
      expect(Math.max(...Array.from(q.subarray(r * cols, (r + 1) * cols), Math.abs))).toBe(127);
    }
  });

  it('per tensor uses one scale and bounds the error by half a step', () => {
    const { q, scales } = quantizeSymmetric(data, rows, cols, 1, 'per-tensor');
    expect(scales.length).toBe(1);
    const s = scales[0] as number;
    data.forEach((v, i) => expect(Math.abs(v - (q[i] as number) * s)).toBeLessThanOrEqual(s / 2 + 1e-6));
  });

  it('gives an all-zero channel a finite scale and zero codes', () => {
    const zeros = new Float32Array(6);
    const { q, scales } = quantizeSymmetric(zeros, 2, 3, 0, 'per-channel');
    expect(Array.from(scales)).toEqual([1, 1]);
    expect(Array.from(q)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('refuses a size that does not match the shape', () => {
    expect(() => quantizeSymmetric(new Float32Array(5), 2, 3, 0, 'per-channel')).toThrow(/5 values is not 2×3/);
  });
});

describe('transpose', () => {
  it('swaps rows and columns', () => {
    expect(Array.from(transpose(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

describe('quantizeInt4Blocks', () => {
  const rows = 3;
  const cols = 64;
  const data = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));
  const unpack = (packed: Uint8Array, i: number) => ((i % 2 === 0 ? packed[i >> 1]! & 0x0f : packed[i >> 1]! >> 4) - 8);

  it('packs two codes per byte, low nibble first, with zero point 8', () => {
    const { packed, scales } = quantizeInt4Blocks(data, rows, cols, 32);
    expect(packed.length).toBe((rows * cols) / 2);
    expect(scales.length).toBe(rows * 2);
    for (let i = 0; i < rows * cols; i++) {
      const q = unpack(packed, i);
      expect(q).toBeGreaterThanOrEqual(-8);
      expect(q).toBeLessThanOrEqual(7);
    }
  });

  it('reconstructs each block at least as well as plain absmax rounding', () => {
    const { packed, scales } = quantizeInt4Blocks(data, rows, cols, 32);
    for (let b = 0; b < (rows * cols) / 32; b++) {
      const block = Array.from(data.subarray(b * 32, (b + 1) * 32));
      const naiveScale = Math.max(...block.map(Math.abs)) / 7;
      const naiveErr = block.reduce((e, v) => e + (v - Math.max(-8, Math.min(7, Math.round(v / naiveScale))) * naiveScale) ** 2, 0);
      const err = block.reduce((e, v, i) => e + (v - unpack(packed, b * 32 + i) * (scales[b] as number)) ** 2, 0);
      // Scales are stored as float32, hence the relative slack.
      expect(err).toBeLessThanOrEqual(naiveErr * (1 + 1e-6));
    }
  });

  it('refuses a row length that is not a multiple of the block', () => {
    expect(() => quantizeInt4Blocks(new Float32Array(40), 1, 40, 32)).toThrow(/multiple of the block size/);
  });
});

describe('quantizeInt8Blocks', () => {
  it('gives each block of a row its own absmax / 127 scale, codes shifted by 128', () => {
    const rows = 3;
    const cols = 8;
    const data = Float32Array.from({ length: rows * cols }, (_, i) => Math.cos(i * 0.9) * (i % 4 === 0 ? 10 : 1));
    const { codes, scales } = quantizeInt8Blocks(data, rows, cols, 4);
    expect(scales.length).toBe(rows * 2);
    for (let blk = 0; blk < rows * 2; blk++) {
      const ref = referenceChannel(Array.from(data.subarray(blk * 4, blk * 4 + 4)));
      expect(scales[blk]).toBeCloseTo(ref.scale, 6);
      expect(Array.from(codes.subarray(blk * 4, blk * 4 + 4), (c) => c - 128)).toEqual(ref.q);
    }
    expect(() => quantizeInt8Blocks(data, rows, cols, 3)).toThrow(/multiple of the block size/);
  });
});
