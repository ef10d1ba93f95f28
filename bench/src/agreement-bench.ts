/**
 * Agreement with FP32 on real text, every position scored: the trained student-tiny quantized with
 * `--logits all` (one pass gives every position's logits; the quantization is per row or per block
 * of a row, so a position's logits are those of the default `last` graph), windows of
 * `window` tokens of the reference text (reference-text.ts) one after another, each window a
 * separate forward pass from an empty cache, every position of every window compared.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Agreement, comparePosition, type PositionAgreement, summarizeAgreement } from '@gpt2-int8/runtime/agreement';
import { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { ensureOrtStandard, ensureQuantized, type EnsureOptions } from './artifacts.js';
import { artifactPaths } from './model-pair.js';

export const AGREEMENT_WINDOW = 64;

export interface AgreementVariant {
  name: string;
  /** Quantizer options (added to `--logits all`), or 'ort-standard' for the peer. */
  options: readonly string[] | 'ort-standard';
}

export interface AgreementRow extends Agreement {
  variant: string;
  windows: number;
  window: number;
  /** INT8 bytes of the student-tiny artifact (graph and external data); the peer's one file. */
  int8_bytes: number;
}

/** Every position of consecutive `window`-token windows of `tokens` (a trailing partial window is dropped). */
export async function windowAgreement(fp32: Gpt2Session, int8: Gpt2Session, tokens: readonly number[], window: number): Promise<Agreement> {
  const V = fp32.config.vocab_size;
  const rows: PositionAgreement[] = [];
  for (let start = 0; start + window <= tokens.length; start += window) {
    const row = tokens.slice(start, start + window);
    const ids = [row];
    const mask = [row.map(() => 1)];
    const a = await fp32.logits({ inputIds: ids, attentionMask: mask });
    const b = await int8.logits({ inputIds: ids, attentionMask: mask });
    if (a.positions !== window || b.positions !== window) throw new Error(`windowAgreement needs graphs with logits for every position (--logits all), got ${a.positions} and ${b.positions}`);
    for (let t = 0; t < window; t++) rows.push(comparePosition(a.logits.subarray(t * V, (t + 1) * V), b.logits.subarray(t * V, (t + 1) * V)));
  }
  return summarizeAgreement(rows);
}

/** The agreement of each variant on student-tiny; artifacts are built (once) under `cacheDir`/student-tiny/agreement. */
export async function measureAgreement(studentDir: string, variants: readonly AgreementVariant[], allTokens: readonly number[], opts: EnsureOptions & { say?: (line: string) => void; maxWindows?: number }): Promise<AgreementRow[]> {
  const tokens = allTokens.slice(0, (opts.maxWindows ?? Infinity) * AGREEMENT_WINDOW);
  const base = join(opts.cacheDir, 'student-tiny', 'agreement');
  const reference = await ensureQuantized(studentDir, join(base, 'default'), opts, ['--logits', 'all']);
  const manifest = await readManifest(reference);
  const fp32 = await Gpt2Session.load(artifactPaths(reference).fp32, manifest.config);
  const rows: AgreementRow[] = [];
  try {
    for (const v of variants) {
      opts.say?.(`agreement: ${v.name}`);
      let path: string;
      let bytes: number;
      if (v.options === 'ort-standard') {
        path = await ensureOrtStandard(reference, opts);
        bytes = (await stat(path)).size;
      } else {
        const dir = v.options.length === 0 ? reference : await ensureQuantized(studentDir, join(base, v.name.replace(/[^\w.-]+/g, '-')), opts, ['--logits', 'all', ...v.options]);
        path = artifactPaths(dir).int8;
        bytes = (await readManifest(dir)).int8_bytes;
      }
      const int8 = await Gpt2Session.load(path, manifest.config);
      try {
        const a = await windowAgreement(fp32, int8, tokens, AGREEMENT_WINDOW);
        rows.push({ variant: v.name, windows: Math.floor(tokens.length / AGREEMENT_WINDOW), window: AGREEMENT_WINDOW, int8_bytes: bytes, ...a });
      } finally {
        await int8.release();
      }
    }
  } finally {
    await fp32.release();
  }
  return rows;
}
