/**
 * Symmetric INT8 weight quantization: w ≈ q · scale with q in [-127, 127] (not -128, so the range is
 * symmetric and negation never overflows). Scales are per channel (one per row or per column of a
 * 2-D matrix) or one for the whole tensor.
 */
export type Granularity = 'per-channel' | 'per-tensor';

export interface QuantizedMatrix {
  q: Int8Array;
  /** One scale per channel along `channelAxis`, or a single scale for per-tensor. */
  scales: Float32Array;
}

const QMAX = 127;

/**
 * Quantizes a row-major [rows, cols] matrix. `channelAxis` 0 gives one scale per row (an embedding
 * table, or a [out, in] weight), 1 one scale per column (a [in, out] weight).
 */
export function quantizeSymmetric(data: Float32Array, rows: number, cols: number, channelAxis: 0 | 1, granularity: Granularity): QuantizedMatrix {
  if (data.length !== rows * cols) throw new Error(`quantizeSymmetric: ${data.length} values is not ${rows}×${cols}`);
  const channels = granularity === 'per-tensor' ? 1 : channelAxis === 0 ? rows : cols;
  const channelOf = granularity === 'per-tensor' ? () => 0 : channelAxis === 0 ? (i: number) => Math.floor(i / cols) : (i: number) => i % cols;
  const absMax = new Float32Array(channels);
  for (let i = 0; i < data.length; i++) {
    const c = channelOf(i);
    const a = Math.abs(data[i] as number);
    if (a > (absMax[c] as number)) absMax[c] = a;
  }
  // An all-zero channel keeps scale 1 so dequantization stays finite (its q are all 0 anyway).
  const scales = absMax.map((m) => (m > 0 ? m / QMAX : 1));
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Math.round((data[i] as number) / (scales[channelOf(i)] as number));
    q[i] = v > QMAX ? QMAX : v < -QMAX ? -QMAX : v;
  }
  return { q, scales };
}

/** Row-major transpose of a [rows, cols] matrix. */
export function transpose<T extends Float32Array | Int8Array>(data: T, rows: number, cols: number): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}

/** 4-bit codes, two per byte (low nibble first), in ONNX Runtime's MatMulNBits layout. */
export interface Int4Blocks {
  /** [rows, cols / blockSize, blockSize / 2]: each code is q + 8, so 0..15 with zero point 8. */
  packed: Uint8Array;
  /** [rows, cols / blockSize] */
  scales: Float32Array;
}

/** Scales tried per block, as fractions of absmax/7: clipping the largest value often lowers the error. */
const CLIP_CANDIDATES = [1, 0.95, 0.9, 0.85, 0.8];

/**
 * Symmetric 4-bit block quantization of a row-major [rows, cols] matrix along its rows (each row is
 * one output channel; each block of `blockSize` consecutive values gets its own scale). Per block
 * it keeps the clipping ratio with the lowest squared error rather than plain absmax rounding,
 * which is what makes 4-bit weights usable.
 */
export function quantizeInt4Blocks(data: Float32Array, rows: number, cols: number, blockSize: number): Int4Blocks {
  if (data.length !== rows * cols) throw new Error(`quantizeInt4Blocks: ${data.length} values is not ${rows}×${cols}`);
  if (cols % blockSize !== 0 || blockSize % 2 !== 0) throw new Error(`quantizeInt4Blocks: ${cols} columns is not a multiple of the block size ${blockSize}`);
  const blocks = cols / blockSize;
  const packed = new Uint8Array((rows * cols) / 2);
  const scales = new Float32Array(rows * blocks);
  const codes = new Int8Array(blockSize);
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < blocks; blk++) {
      const start = r * cols + blk * blockSize;
      let absMax = 0;
      for (let i = 0; i < blockSize; i++) absMax = Math.max(absMax, Math.abs(data[start + i] as number));
      let bestScale = absMax > 0 ? absMax / 7 : 1;
      let bestErr = Infinity;
      for (const c of absMax > 0 ? CLIP_CANDIDATES : [1]) {
        const s = absMax > 0 ? (absMax * c) / 7 : 1;
        let err = 0;
        for (let i = 0; i < blockSize; i++) {
          const v = data[start + i] as number;
          const q = Math.max(-8, Math.min(7, Math.round(v / s)));
          err += (v - q * s) ** 2;
        }
        if (err < bestErr) {
          bestErr = err;
          bestScale = s;
        }
      }
      scales[r * blocks + blk] = bestScale;
      for (let i = 0; i < blockSize; i++) codes[i] = Math.max(-8, Math.min(7, Math.round((data[start + i] as number) / bestScale)));
      for (let i = 0; i < blockSize; i += 2) {
        packed[(start + i) / 2] = (((codes[i] as number) + 8) & 0x0f) | ((((codes[i + 1] as number) + 8) & 0x0f) << 4);
      }
    }
  }
  return { packed, scales };
}

/** 8-bit codes in ONNX Runtime's MatMulNBits layout (bits = 8). */
export interface Int8Blocks {
  /** [rows, cols / blockSize, blockSize]: each code is q + 128 (q in [-127, 127]), so zero point 128. */
  codes: Uint8Array;
  /** [rows, cols / blockSize] */
  scales: Float32Array;
}

/**
 * Symmetric 8-bit block quantization of a row-major [rows, cols] matrix along its rows, absmax / 127
 * per block of `blockSize` consecutive values (MatMulNBits' and GatherBlockQuantized's default zero
 * point for 8 bits is 128, so codes are stored shifted by 128).
 */
export function quantizeInt8Blocks(data: Float32Array, rows: number, cols: number, blockSize: number): Int8Blocks {
  if (data.length !== rows * cols) throw new Error(`quantizeInt8Blocks: ${data.length} values is not ${rows}×${cols}`);
  if (cols % blockSize !== 0) throw new Error(`quantizeInt8Blocks: ${cols} columns is not a multiple of the block size ${blockSize}`);
  const blocks = cols / blockSize;
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * blocks);
  for (let blk = 0; blk < rows * blocks; blk++) {
    const start = blk * blockSize;
    let absMax = 0;
    for (let i = start; i < start + blockSize; i++) absMax = Math.max(absMax, Math.abs(data[i] as number));
    const scale = absMax > 0 ? absMax / QMAX : 1;
    scales[blk] = scale;
    for (let i = start; i < start + blockSize; i++) {
      const v = Math.round((data[i] as number) / scale);
      codes[i] = (v > QMAX ? QMAX : v < -QMAX ? -QMAX : v) + 128;
    }
  }
  return { codes, scales };
}
