import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { comparePosition } from '@gpt2-int8/runtime/agreement';
import { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { argmax, maxAbsDifference } from '@gpt2-int8/runtime/logits';
import { promptLogits } from '@gpt2-int8/runtime/next-token-logits';
import type { Report, ReportRow } from '@gpt2-int8/contract/report';
import { median } from '@gpt2-int8/contract/stats';
import { encode, tokenText } from '@gpt2-int8/runtime/tokenizer';

export interface ReportInput {
  config: Gpt2Config;
  fp32: Uint8Array;
  int8: Uint8Array;
  prompts: readonly string[];
  synthetic: boolean;
  /** Timed passes over the whole prompt set, FP32 and INT8 interleaved so drift hits both. */
  repetitions: number;
  threads: number;
  onProgress?: (done: number, total: number) => void;
}

/** Tokens of a prompt, cut to the model's context (tiny test models have short ones). */
function promptTokens(prompt: string, config: Gpt2Config): number[] {
  return encode(prompt).map((t) => Math.min(t, config.vocab_size - 1)).slice(-config.n_positions);
}

/** FP32 vs INT8 on the prompt set: agreement of the next token, divergence, latency and size. */
export async function buildReport(input: ReportInput): Promise<Report> {
  const { config } = input;
  const fp32 = await Gpt2Session.load(input.fp32, config, { threads: input.threads });
  const int8 = await Gpt2Session.load(input.int8, config, { threads: input.threads });
  try {
    const tokenized = input.prompts.map((p) => promptTokens(p, config));
    const total = tokenized.length + input.repetitions;
    const rows: ReportRow[] = [];
    for (const [i, tokens] of tokenized.entries()) {
      const a = await promptLogits(fp32, tokens);
      const b = await promptLogits(int8, tokens);
      const agreement = comparePosition(a, b);
      rows.push({
        prompt: input.prompts[i] as string,
        fp32_token: tokenText(argmax(a)),
        int8_token: tokenText(argmax(b)),
        same: agreement.same,
        top5_overlap: agreement.top5,
        kl: agreement.kl,
        max_abs_logit_diff: maxAbsDifference(a, b),
      });
      input.onProgress?.(i + 1, total);
    }

    const fp32Times: number[] = [];
    const int8Times: number[] = [];
    for (let r = 0; r < input.repetitions; r++) {
      for (const [session, times] of [[fp32, fp32Times], [int8, int8Times]] as const) {
        const start = performance.now();
        for (const tokens of tokenized) await promptLogits(session, tokens);
        times.push((performance.now() - start) / tokenized.length);
      }
      input.onProgress?.(tokenized.length + r + 1, total);
    }

    const mean = (f: (r: ReportRow) => number) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
    const fp32Ms = median(fp32Times);
    const int8Ms = median(int8Times);
    const fp32Bytes = input.fp32.byteLength;
    const int8Bytes = input.int8.byteLength;
    return {
      prompts: rows.length,
      top1_agreement: mean((r) => (r.same ? 1 : 0)),
      top5_overlap: mean((r) => r.top5_overlap),
      mean_kl: mean((r) => r.kl),
      max_abs_logit_diff: Math.max(...rows.map((r) => r.max_abs_logit_diff)),
      latency_ms: { fp32: fp32Ms, int8: int8Ms, speedup: fp32Ms / int8Ms, threads: input.threads },
      bytes: { fp32: fp32Bytes, int8: int8Bytes, ratio: int8Bytes / fp32Bytes },
      synthetic: input.synthetic,
      rows,
    };
  } finally {
    await fp32.release();
    await int8.release();
  }
}

/** The report as the table the quantizer prints. */
export function formatReport(report: Report): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const lines = [
    '| prompt | FP32 | INT8 | same | KL |',
    '|---|---|---|---|---|',
    ...report.rows.map((r) => `| ${JSON.stringify(r.prompt).slice(0, 40)} | ${JSON.stringify(r.fp32_token)} | ${JSON.stringify(r.int8_token)} | ${r.same ? 'yes' : 'NO'} | ${r.kl.toFixed(4)} |`),
    '',
    `top-1 agreement ${pct(report.top1_agreement)} · top-5 overlap ${pct(report.top5_overlap)} · mean KL ${report.mean_kl.toExponential(2)} nats · max |Δlogit| ${report.max_abs_logit_diff.toFixed(3)}`,
    `latency (median, ${report.latency_ms.threads} thread): FP32 ${report.latency_ms.fp32.toFixed(2)} ms · INT8 ${report.latency_ms.int8.toFixed(2)} ms · speedup ${report.latency_ms.speedup.toFixed(2)}×`,
    `size: FP32 ${mb(report.bytes.fp32)} · INT8 ${mb(report.bytes.int8)} · ratio ${report.bytes.ratio.toFixed(3)}`,
  ];
  if (report.synthetic) lines.push('NOTE: synthetic (random) weights: agreement figures say little about a trained model.');
  return lines.join('\n');
}
