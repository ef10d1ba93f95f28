import { type Static, Type } from 'typebox';

/** One prompt of the validation set, FP32 vs INT8 on its next token. */
export const ReportRowSchema = Type.Object({
  prompt: Type.String(),
  fp32_token: Type.String(),
  int8_token: Type.String(),
  same: Type.Boolean(),
  top5_overlap: Type.Number(),
  kl: Type.Number(),
  max_abs_logit_diff: Type.Number(),
});

/** report.json: how far the INT8 model is from FP32, and how much faster and smaller it is. */
export const ReportSchema = Type.Object({
  prompts: Type.Integer(),
  /** Fraction of positions where the INT8 top-1 token equals FP32's (last position of each prompt). */
  top1_agreement: Type.Number(),
  /** Mean |top5(fp32) ∩ top5(int8)| / 5. */
  top5_overlap: Type.Number(),
  /** Mean KL(FP32 ‖ INT8) of the next-token distributions, in nats. */
  mean_kl: Type.Number(),
  max_abs_logit_diff: Type.Number(),
  latency_ms: Type.Object({ fp32: Type.Number(), int8: Type.Number(), speedup: Type.Number(), threads: Type.Integer() }),
  bytes: Type.Object({ fp32: Type.Integer(), int8: Type.Integer(), ratio: Type.Number() }),
  synthetic: Type.Boolean(),
  rows: Type.Array(ReportRowSchema),
});
export type Report = Static<typeof ReportSchema>;
export type ReportRow = Static<typeof ReportRowSchema>;
