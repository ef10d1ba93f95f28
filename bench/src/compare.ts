/**
 * `npm run compare`: FP32 against INT8 prompt by prompt — per prompt the next
 * token of each model, their medians over repeated runs (FP32 and INT8 interleaved so drift hits
 * both), the speedup; then sizes and agreement (top-1, top-5 overlap, KL) on the prompts and at
 * every position of real prose.
 */
import { LEGACY_PROMPTS } from '@gpt2-int8/contract/prompts';
import { SAMPLE_TEXT } from '@gpt2-int8/dev/sample-text';
import { encode, tokenText } from '@gpt2-int8/runtime/tokenizer';
import { CpuShare } from './cpu-share.js';
import { type Agreement, agreementOverText, comparePosition, summarizeAgreement } from '@gpt2-int8/runtime/agreement';
import { type MachineInfo, machineInfo } from './machine.js';
import { cell, fixed, mb, pct, quoted, table } from './markdown.js';
import { promptLogits } from '@gpt2-int8/runtime/next-token-logits';
import { loadModelPair, releasePair } from './model-pair.js';
import { interleaved, round, roundSummary, type Summary, summarize } from './summary.js';

export interface CompareOptions {
  modelDir: string;
  /** What the model is, for the heading (e.g. "student-tiny (trained)"). */
  modelLabel: string;
  /** The larger prompt set; VALIDATION_PROMPTS unless a file was given. */
  prompts: readonly string[];
  promptsLabel: string;
  reps: number;
  warmups: number;
  threads: number;
  notes: string[];
  onProgress?: (done: number, total: number) => void;
}

export interface CompareRow {
  prompt: string;
  prompt_tokens: number;
  fp32_token: string;
  int8_token: string;
  same: boolean;
  fp32_ms: Summary;
  int8_ms: Summary;
  /** median FP32 ms ÷ median INT8 ms */
  speedup: number;
  top5_overlap: number;
  kl: number;
}

export interface PromptSetResult {
  label: string;
  rows: CompareRow[];
  /** Prompts left out, with the reason (empty, or longer than the context). */
  skipped: { prompt: string; reason: string }[];
  fp32_ms_median: number;
  int8_ms_median: number;
  /** Σ median FP32 ms ÷ Σ median INT8 ms over the set. */
  speedup: number;
  agreement: Agreement;
}

export interface CompareResult {
  kind: 'compare';
  created_at: string;
  machine: MachineInfo;
  model: {
    dir: string;
    label: string;
    source: string;
    synthetic: boolean;
    config: Record<string, number>;
    quantization: Record<string, string | number>;
    int8_sha256: string;
  };
  threads: number;
  reps: number;
  legacy: PromptSetResult;
  prompt_set: PromptSetResult;
  sample_text: Agreement;
  sizes: { fp32_bytes: number; int8_bytes: number; ratio: number };
  /** Cores' worth of CPU other processes used while the comparison ran (null: unknown). */
  others_cores: number | null;
  notes: string[];
}

export async function runCompare(opts: CompareOptions): Promise<CompareResult> {
  const cpu = new CpuShare(() => []);
  const cpuStart = cpu.sample();
  const pair = await loadModelPair(opts.modelDir, opts.threads);
  try {
    const { manifest } = pair;
    const measured = new Map<string, CompareRow>();
    const unique = [...new Set([...LEGACY_PROMPTS, ...opts.prompts])];
    let done = 0;
    const measure = async (prompt: string): Promise<CompareRow | string> => {
      const tokens = encode(prompt);
      if (tokens.length === 0) return 'encodes to no tokens';
      if (tokens.length > manifest.config.n_positions) return `${tokens.length} tokens, longer than the context (${manifest.config.n_positions})`;
      const known = measured.get(prompt);
      if (known) return known;
      const fp32 = await promptLogits(pair.fp32, tokens);
      const int8 = await promptLogits(pair.int8, tokens);
      const [fp32Ms, int8Ms] = await interleaved([() => promptLogits(pair.fp32, tokens), () => promptLogits(pair.int8, tokens)], opts.reps, opts.warmups);
      const pos = comparePosition(fp32, int8);
      const f = summarize(fp32Ms as number[]);
      const i = summarize(int8Ms as number[]);
      const row: CompareRow = {
        prompt,
        prompt_tokens: tokens.length,
        fp32_token: tokenText(argmaxOf(fp32)),
        int8_token: tokenText(argmaxOf(int8)),
        same: pos.same,
        fp32_ms: roundSummary(f),
        int8_ms: roundSummary(i),
        speedup: round(f.median / i.median),
        top5_overlap: pos.top5,
        kl: pos.kl,
      };
      measured.set(prompt, row);
      opts.onProgress?.(++done, unique.length);
      return row;
    };
    const promptSet = async (label: string, prompts: readonly string[]): Promise<PromptSetResult> => {
      const rows: CompareRow[] = [];
      const skipped: { prompt: string; reason: string }[] = [];
      for (const p of prompts) {
        const r = await measure(p);
        if (typeof r === 'string') skipped.push({ prompt: p, reason: r });
        else rows.push(r);
      }
      const fp32Sum = rows.reduce((s, r) => s + r.fp32_ms.median, 0);
      const int8Sum = rows.reduce((s, r) => s + r.int8_ms.median, 0);
      return {
        label,
        rows,
        skipped,
        fp32_ms_median: round(summarize(rows.map((r) => r.fp32_ms.median)).median),
        int8_ms_median: round(summarize(rows.map((r) => r.int8_ms.median)).median),
        speedup: round(fp32Sum / int8Sum),
        agreement: summarizeAgreement(rows.map((r) => ({ same: r.same, top5: r.top5_overlap, kl: r.kl }))),
      };
    };
    const legacy = await promptSet('the five legacy prompts', LEGACY_PROMPTS);
    const set = await promptSet(opts.promptsLabel, opts.prompts);
    const sample = await agreementOverText(pair.fp32, pair.int8, encode(SAMPLE_TEXT));
    const notes = [...opts.notes];
    if (manifest.synthetic) notes.push('This artifact has synthetic (random) weights: its predictions are meaningless and agreement figures say little about a trained model.');
    return {
      kind: 'compare',
      created_at: new Date().toISOString(),
      machine: machineInfo(),
      model: {
        dir: opts.modelDir,
        label: opts.modelLabel,
        source: manifest.source.id,
        synthetic: manifest.synthetic,
        config: { ...manifest.config },
        quantization: { ...manifest.quantization },
        int8_sha256: manifest.files['model.int8.onnx'].sha256,
      },
      threads: opts.threads,
      reps: opts.reps,
      legacy,
      prompt_set: set,
      sample_text: sample,
      sizes: { fp32_bytes: manifest.fp32_bytes, int8_bytes: manifest.int8_bytes, ratio: round(manifest.int8_bytes / manifest.fp32_bytes, 4) },
      others_cores: cpu.othersCores(cpuStart, cpu.sample()),
      notes,
    };
  } finally {
    await releasePair(pair);
  }
}

function argmaxOf(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
  return best;
}

function promptTable(set: PromptSetResult): string {
  const rows = set.rows.map((r) => [
    quoted(r.prompt),
    quoted(r.fp32_token, 24),
    quoted(r.int8_token, 24),
    r.same ? 'yes' : '**no**',
    fixed(r.fp32_ms.median),
    fixed(r.int8_ms.median),
    `${fixed(r.speedup)}×`,
  ]);
  const head = ['prompt', 'FP32 next token', 'INT8 next token', 'same?', 'FP32 ms', 'INT8 ms', 'speedup'];
  const lines = [table(head, rows, ['l', 'l', 'l', 'l', 'r', 'r', 'r'])];
  const same = set.rows.filter((r) => r.same).length;
  lines.push(
    '',
    `${same}/${set.rows.length} same next token · median FP32 ${fixed(set.fp32_ms_median)} ms · median INT8 ${fixed(set.int8_ms_median)} ms · speedup ${fixed(set.speedup)}× (Σ FP32 ÷ Σ INT8)`,
  );
  for (const s of set.skipped) lines.push(`- skipped ${quoted(s.prompt)}: ${cell(s.reason)}`);
  return lines.join('\n');
}

function agreementRow(label: string, a: Agreement): string[] {
  return [label, String(a.positions), pct(a.top1_agreement), pct(a.top5_overlap), a.mean_kl.toExponential(2)];
}

export function compareMarkdown(r: CompareResult): string {
  const m = r.model;
  const out = [
    `# FP32 vs INT8: ${m.label}`,
    '',
    `Artifact \`${m.dir}\` (source ${m.source}; ${m.config.n_layer} layers × ${m.config.n_embd}, ${m.quantization.weights} ${m.quantization.granularity} weights, activations ${m.quantization.activations}).`,
    `Next-token latency: one forward pass of the prompt, ${r.threads} intra-op thread(s), median of ${r.reps} runs per model, FP32 and INT8 interleaved. ${r.machine.cpu}, ${r.machine.cores} cores, load ${r.machine.load.join('/')}${r.others_cores !== null ? `, other processes used ${r.others_cores.toFixed(2)} cores meanwhile` : ''}${r.machine.git ? `; code ${r.machine.git.commit.slice(0, 12)}${r.machine.git.uncommitted.length ? ' + uncommitted changes' : ''}` : ''}.`,
    ...r.notes.map((n) => `\n> **Note:** ${n}`),
    '',
    `## ${r.legacy.label[0]?.toUpperCase()}${r.legacy.label.slice(1)}`,
    '',
    promptTable(r.legacy),
    '',
    `## ${r.prompt_set.label[0]?.toUpperCase()}${r.prompt_set.label.slice(1)} (${r.prompt_set.rows.length})`,
    '',
    promptTable(r.prompt_set),
    '',
    '## Sizes',
    '',
    table(
      ['file', 'bytes', 'size'],
      [
        ['model.fp32.onnx', String(r.sizes.fp32_bytes), mb(r.sizes.fp32_bytes)],
        ['model.int8.onnx + model.int8.onnx.data', String(r.sizes.int8_bytes), mb(r.sizes.int8_bytes)],
        ['INT8 / FP32', fixed(r.sizes.ratio, 3), ''],
      ],
      ['l', 'r', 'r'],
    ),
    '',
    '## Agreement (INT8 against FP32)',
    '',
    table(
      ['text', 'positions', 'top-1 agreement', 'top-5 overlap', 'mean KL (nats)'],
      [
        agreementRow(`${r.legacy.label}, next token`, r.legacy.agreement),
        agreementRow(`${r.prompt_set.label}, next token`, r.prompt_set.agreement),
        agreementRow('SAMPLE_TEXT (real prose), every position', r.sample_text),
      ],
      ['l', 'r', 'r', 'r', 'r'],
    ),
  ];
  return `${out.join('\n')}\n`;
}
