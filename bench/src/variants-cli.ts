#!/usr/bin/env node
/**
 * npm run bench:variants -- [--preset small|distil|tiny] [--reps N] [--cache-dir DIR] [--results-dir DIR]
 *
 * The graph choices docs/performance.md reports, measured side by side: the default artifact
 * (fused attention, logits for the last position, INT8 per channel) against one change at a time —
 * plain-operator attention, logits for every position, per-tensor weights, 4-bit weights — on a
 * synthetic checkpoint (speed and size), and the 4-bit agreement on the trained student-tiny.
 * Every variant's INT8 model runs interleaved with its own FP32 model in one process.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { everyPositionLogits, Gpt2Session, type KvCache, leftPad } from '@gpt2-int8/runtime/gpt2-session';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { SAMPLE_TEXT } from '@gpt2-int8/dev/sample-text';
import { encode, EOS_TOKEN_ID } from '@gpt2-int8/runtime/tokenizer';
import { comparePosition, summarizeAgreement } from '@gpt2-int8/runtime/agreement';
import { runQuantizer } from './artifacts.js';
import { positiveInt, runMain, UsageError } from './cli-args.js';
import { machineInfo, machineMarkdown } from './machine.js';
import { fixed, mb, pct, table } from './markdown.js';
import { artifactPaths } from './model-pair.js';
import { DEFAULT_CACHE_DIR, DEFAULT_RESULTS_DIR, DEFAULT_STUDENT_DIR } from './paths.js';
import { writeResults } from './results.js';
import { interleaved, summarize } from './summary.js';

const VARIANTS: Record<string, string[]> = {
  default: [],
  'attention standard': ['--attention', 'standard'],
  'logits all': ['--logits', 'all'],
  'per-tensor': ['--granularity', 'per-tensor'],
  int4: ['--weights', 'int4'],
};

const log = (line: string) => process.stderr.write(`${line}\n`);
const exists = (p: string) => stat(p).then(() => true, () => false);

async function variantArtifact(checkpoint: string, base: string, name: string): Promise<string> {
  const out = join(base, name.replace(/ /g, '-'));
  await runQuantizer(['quantize', '--model', checkpoint, '--out', out, '--report-reps', '1', ...(VARIANTS[name] ?? [])]);
  return out;
}

interface Row {
  variant: string;
  int8_bytes: number;
  fp32_bytes: number;
  prompt8_ratio: number;
  prompt128_ratio: number;
  decode_ratio: number;
  prompt8_ms: number;
  prompt128_ms: number;
  decode_ms: number;
}

/** A decode step at `context` tokens of cache: the cache from one prompt pass, reused each time. */
async function decodeStep(session: Gpt2Session, context: number): Promise<() => Promise<unknown>> {
  const prompt = encode(SAMPLE_TEXT).slice(0, context);
  const filled = await session.step(leftPad([prompt], EOS_TOKEN_ID), session.emptyCache(1));
  const cache: KvCache = filled.cache;
  return () => session.step({ inputIds: [[prompt[0] as number]], attentionMask: [Array<number>(context + 1).fill(1)] }, cache);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { preset: { type: 'string', default: 'small' }, reps: { type: 'string' }, 'cache-dir': { type: 'string' }, 'results-dir': { type: 'string' } },
    strict: true,
  });
  if (values.preset !== 'small' && values.preset !== 'distil' && values.preset !== 'tiny') throw new UsageError(`--preset must be tiny, distil or small`);
  const reps = positiveInt('reps', values.reps, 15);
  const cache = values['cache-dir'] ?? DEFAULT_CACHE_DIR;
  const started = Date.now();
  const checkpoint = join(cache, `synthetic-${values.preset}-seed1`, 'checkpoint');
  if (!(await exists(join(checkpoint, 'config.json')))) {
    log(`building a synthetic ${values.preset} checkpoint`);
    await runQuantizer(['make-model', '--preset', values.preset, '--seed', '1', '--out', checkpoint]);
  }
  const base = join(cache, `synthetic-${values.preset}-seed1`, 'variants');
  const dirs: Record<string, string> = {};
  for (const name of Object.keys(VARIANTS)) {
    log(`quantizing: ${name}`);
    dirs[name] = await variantArtifact(checkpoint, base, name);
  }

  const config = (await readManifest(dirs.default as string)).config;
  const prose = encode(SAMPLE_TEXT);
  // 128 tokens, or less on a model with a shorter context (the tiny preset, for a quick check).
  const long = Math.min(128, config.n_positions - 1);
  const rows: Row[] = [];
  for (const [name, dir] of Object.entries(dirs)) {
    log(`measuring: ${name}`);
    const manifest = await readManifest(dir);
    // Each variant against its own FP32 graph (attention and logits change both models).
    const fp32 = await Gpt2Session.load(artifactPaths(dir).fp32, config);
    const int8 = await Gpt2Session.load(artifactPaths(dir).int8, config);
    const pass = (s: Gpt2Session, n: number) => () => s.logits(leftPad([prose.slice(0, n)], EOS_TOKEN_ID));
    const [f8, q8] = await interleaved([pass(fp32, 8), pass(int8, 8)], reps, 3);
    const [f128, q128] = await interleaved([pass(fp32, long), pass(int8, long)], Math.max(3, Math.round(reps / 2)), 1);
    const [fd, qd] = await interleaved([await decodeStep(fp32, long), await decodeStep(int8, long)], reps, 3);
    const med = (xs: number[] | undefined) => summarize(xs ?? []).median;
    rows.push({
      variant: name,
      int8_bytes: manifest.int8_bytes,
      fp32_bytes: manifest.fp32_bytes,
      prompt8_ms: med(q8),
      prompt128_ms: med(q128),
      decode_ms: med(qd),
      prompt8_ratio: med(q8) / med(f8),
      prompt128_ratio: med(q128) / med(f128),
      decode_ratio: med(qd) / med(fd),
    });
    await int8.release();
    await fp32.release();
  }

  // 4-bit against INT8 on trained weights: random weights make agreement meaningless.
  const agreement: Record<string, ReturnType<typeof summarizeAgreement>> = {};
  if (await exists(join(DEFAULT_STUDENT_DIR, 'config.json'))) {
    for (const name of ['default', 'int4']) {
      const dir = await variantArtifact(DEFAULT_STUDENT_DIR, join(cache, 'student-tiny', 'variants'), name);
      const studentConfig = (await readManifest(dir)).config;
      const a = await Gpt2Session.load(artifactPaths(dir).fp32, studentConfig);
      const b = await Gpt2Session.load(artifactPaths(dir).int8, studentConfig);
      const tokens = prose.slice(0, studentConfig.n_positions);
      const la = await everyPositionLogits(a, tokens);
      const lb = await everyPositionLogits(b, tokens);
      const V = studentConfig.vocab_size;
      agreement[name] = summarizeAgreement(tokens.map((_, t) => comparePosition(la.subarray(t * V, (t + 1) * V), lb.subarray(t * V, (t + 1) * V))));
      await a.release();
      await b.release();
    }
  } else {
    log(`${DEFAULT_STUDENT_DIR} is absent: no agreement figures`);
  }

  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const md = [
    `# Graph variants, ${values.preset} preset (\`npm run bench:variants -- --preset ${values.preset}\`)`,
    '',
    machineMarkdown(machineInfo()),
    '',
    `Each variant's INT8 model interleaved with its own FP32 model (the same graph options), 1 thread, ${reps} runs (medians); took ${Math.round((Date.now() - started) / 1000)} s.`,
    '',
    table(
      ['variant', 'size / FP32', '8-token prompt ms', '÷ FP32', `${long}-token prompt ms`, '÷ FP32', `decode at ${long} ms`, '÷ FP32'],
      rows.map((r) => [r.variant, fixed(r.int8_bytes / r.fp32_bytes, 3), fixed(r.prompt8_ms), fixed(r.prompt8_ratio, 3), fixed(r.prompt128_ms), fixed(r.prompt128_ratio, 3), fixed(r.decode_ms), fixed(r.decode_ratio, 3)]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `FP32 size: ${mb(rows[0]?.fp32_bytes ?? 0)}.`,
    '',
    ...(Object.keys(agreement).length > 0
      ? [
          '## Agreement with FP32 on trained weights (student-tiny, every position of the sample prose)',
          '',
          table(
            ['variant', 'positions', 'top-1', 'top-5 overlap', 'mean KL (nats)'],
            Object.entries(agreement).map(([n, a]) => [n, String(a.positions), pct(a.top1_agreement), pct(a.top5_overlap), a.mean_kl.toExponential(2)]),
            ['l', 'r', 'r', 'r', 'r'],
          ),
        ]
      : []),
  ].join('\n');
  const resultsDir = values['results-dir'] ?? DEFAULT_RESULTS_DIR;
  const out = join(resultsDir, `variants-${values.preset}-${stamp}`);
  await writeResults(out, { preset: values.preset, reps, long_prompt_tokens: long, rows, agreement }, md);
  process.stdout.write(`${md}\n`);
  log(`wrote ${out}.md and .json`);
}

runMain(main, 'usage: npm run bench:variants -- [--preset tiny|distil|small] [--reps N] [--cache-dir DIR] [--results-dir DIR]');
