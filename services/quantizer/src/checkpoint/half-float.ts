/**
 * IEEE half precision (F16) and bfloat16 (BF16) <-> float32, as bit patterns.
 *
 * Checkpoints are often saved in F16 or BF16 to halve their size; every later stage works in FP32,
 * so the loader widens them once. Widening is exact for both formats. The narrowing functions exist
 * for the safetensors writer (tests write F16/BF16 checkpoints) and round to nearest even, as
 * PyTorch's `.half()` / `.bfloat16()` do, so a file written here matches one written there.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Widens one F16 bit pattern (0..0xffff) to the float it encodes. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal: no implicit leading 1
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Widens one BF16 bit pattern: BF16 is the top half of an F32, so this is a shift. */
export function bf16ToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** Narrows a float to the nearest F16 bit pattern (ties to even; overflow → ±Inf; NaN → 0x7e00). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : 0x7e00;
  const e = exp - 127 + 15; // re-biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal in F16 (or underflow to zero): shift the mantissa with its implicit 1 into place.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e; // 13 bits of F32→F16 mantissa difference, plus 1 - e for the exponent
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let out = m >>> shift;
    if (rest > half || (rest === half && (out & 1) === 1)) out += 1; // may carry into the exponent: correct
    return sign | out;
  }
  let out = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out += 1; // a carry into exp 0x1f gives Inf: correct
  return sign | out;
}

/** Narrows a float to the nearest BF16 bit pattern (ties to even; NaN stays a quiet NaN). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;

/**
 * Widens many F16 values (little-endian bytes) into `out` at `outOffset`. Uses a 65536-entry table
 * (256 KB, built once) because a 124M-parameter F16 checkpoint would otherwise spend seconds in
 * the branchy scalar decoder.
 */
export function decodeF16(bytes: Uint8Array, out: Float32Array, outOffset: number): void {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  const table = f16Table;
  const n = bytes.length >>> 1;
  for (let i = 0; i < n; i++) out[outOffset + i] = table[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
}

/** Widens many BF16 values (little-endian bytes) into `out` at `outOffset`. */
export function decodeBf16(bytes: Uint8Array, out: Float32Array, outOffset: number): void {
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  const n = bytes.length >>> 1;
  for (let i = 0; i < n; i++) outBits[outOffset + i] = ((bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16) >>> 0;
}

/** Narrows floats into little-endian F16 or BF16 bytes. */
export function encodeHalf(kind: 'F16' | 'BF16', values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const narrow = kind === 'F16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) {
    const h = narrow(values[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}
