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
