/** How far INT8 is from FP32 on next-token distributions: top-1 agreement, top-5 overlap, KL. */
import { everyPositionLogits, type Gpt2Session } from './gpt2-session.js';
import { argmax, klDivergence, topK } from './logits.js';

export interface PositionAgreement {
  same: boolean;
  top5: number;
  kl: number;
}

export interface Agreement {
  positions: number;
  /** Fraction of positions where INT8's most likely token is FP32's. */
  top1_agreement: number;
  /** Mean |top5(FP32) ∩ top5(INT8)| / 5. */
  top5_overlap: number;
  /** Mean KL(FP32 ‖ INT8) in nats. */
  mean_kl: number;
  max_kl: number;
}

export function comparePosition(fp32: ArrayLike<number>, int8: ArrayLike<number>): PositionAgreement {
  const a = new Set(topK(fp32, 5));
  const overlap = topK(int8, 5).filter((t) => a.has(t)).length / 5;
  return { same: argmax(fp32) === argmax(int8), top5: overlap, kl: klDivergence(fp32, int8) };
}

export function summarizeAgreement(rows: readonly PositionAgreement[]): Agreement {
  const n = rows.length;
  return {
    positions: n,
    top1_agreement: n ? rows.filter((r) => r.same).length / n : Number.NaN,
    top5_overlap: n ? rows.reduce((s, r) => s + r.top5, 0) / n : Number.NaN,
    mean_kl: n ? rows.reduce((s, r) => s + r.kl, 0) / n : Number.NaN,
    max_kl: rows.reduce((m, r) => Math.max(m, r.kl), 0),
  };
}

/**
 * Agreement at every position of a token sequence longer than the context: windows of the model's
 * context, each overlapping the last by half, scoring only positions not scored before — so every
 * position after the first window sees at least half a context of real text before it.
 */
export async function agreementOverText(fp32: Gpt2Session, int8: Gpt2Session, tokens: readonly number[]): Promise<Agreement> {
  const n = fp32.config.n_positions;
  const V = fp32.config.vocab_size;
  const rows: PositionAgreement[] = [];
  let done = 0;
  while (done < tokens.length) {
    const start = done === 0 ? 0 : Math.max(0, done - Math.floor(n / 2));
    const window = tokens.slice(start, start + n);
    const a = await everyPositionLogits(fp32, window);
    const b = await everyPositionLogits(int8, window);
    for (let t = done - start; t < window.length; t++) rows.push(comparePosition(a.subarray(t * V, (t + 1) * V), b.subarray(t * V, (t + 1) * V)));
    done = start + window.length;
  }
  return summarizeAgreement(rows);
}
