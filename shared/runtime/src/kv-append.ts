/**
 * A cache grown by one call's positions: per row (batch × head), the past's P positions then the
 * call's S new ones, each position D values. `past` may be undefined when P is 0.
 */
export function appendPositions(past: Float32Array | undefined, fresh: Float32Array, rows: number, P: number, S: number, D: number): Float32Array {
  if (fresh.length !== rows * S * D || (past?.length ?? 0) !== rows * P * D) {
    throw new Error(`cannot append ${fresh.length} values to ${past?.length ?? 0}: expected ${rows} rows of ${S} and ${P} positions × ${D}`);
  }
  const T = P + S;
  const out = new Float32Array(rows * T * D);
  for (let r = 0; r < rows; r++) {
    if (past) out.set(past.subarray(r * P * D, (r + 1) * P * D), r * T * D);
    out.set(fresh.subarray(r * S * D, (r + 1) * S * D), (r * T + P) * D);
  }
  return out;
}
