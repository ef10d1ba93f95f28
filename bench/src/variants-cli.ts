#!/usr/bin/env node
/**
 * npm run bench:variants -- [--preset small|distil|tiny] [--reps N] [--agreement-windows N] [--cache-dir DIR] [--results-dir DIR]
 *
 * The quantization and graph choices docs/performance.md reports, measured side by side: the
 * default artifact against one change at a time on a synthetic checkpoint (speed and size, each
 * variant's INT8 interleaved with its own FP32 model and with the ORT-standard peer built from that
 * FP32 model), and every quantization variant's agreement with FP32 on the trained student-tiny
 * (agreement-bench.ts: every position of 64-token windows of the reference text).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { type AgreementRow, measureAgreement } from './agreement-bench.js';
import { ensureOrtStandard, runQuantizer } from './artifacts.js';
import { positiveInt, runMain, UsageError } from './cli-args.js';
import { machineInfo, machineMarkdown } from './machine.js';
import { fixed, mb, table } from './markdown.js';
import { artifactPaths } from './model-pair.js';
import { decodeStep, proseTokens } from './model-bench.js';
import { DEFAULT_CACHE_DIR, DEFAULT_RESULTS_DIR, DEFAULT_STUDENT_DIR } from './paths.js';
import { referenceTokens } from './reference-text.js';
import { writeResults } from './results.js';
import { promptLogits } from '@gpt2-int8/runtime/next-token-logits';
import { interleaved, summarize } from './summary.js';

/** The quantizer options of each variant; the first is the default artifact. */
const VARIANTS: Record<string, string[]> = {
  default: [],
  'logits all': ['--logits', 'all'],
  'per-tensor': ['--granularity', 'per-tensor'],
  'one activation pass': ['--activation-passes', '1'],
  'head blocks 16': ['--head-block-size', '16'],
  'head blocks 32': ['--head-block-size', '32'],
  'int8 blocks 32': ['--granularity', 'per-block', '--block-size', '32'],
  'int8 blocks 128': ['--granularity', 'per-block', '--block-size', '128'],
  int4: ['--weights', 'int4'],
};
/** Variants whose graph options differ from the default's (agreement is measured on `--logits all` graphs, so this one is the default there). */
const GRAPH_ONLY = new Set(['logits all']);

const log = (line: string) => process.stderr.write(`${line}\n`);
const exists = (p: string) => stat(p).then(() => true, () => false);

async function variantArtifact(checkpoint: string, base: string, name: string, extra: readonly string[] = []): Promise<string> {
  const out = join(base, name.replace(/ /g, '-'));
  await runQuantizer(['quantize', '--model', checkpoint, '--out', out, '--report-reps', '1', ...(VARIANTS[name] ?? []), ...extra]);
  return out;
}

/** One call's medians: INT8 ms, and INT8 ÷ FP32 and ÷ the peer (ratios of medians). */
interface Timing {
  ms: number;
  vs_fp32: number;
  vs_peer: number;
}

interface Row {
  variant: string;
  int8_bytes: number;
  fp32_bytes: number;
  /** prompt lengths and 'decode' → timing */
  timings: Record<string, Timing>;
}

/** The block sizes a variant's options name: a model narrower than one of them cannot take the variant. */
function blockSizes(options: readonly string[]): number[] {
  return options.flatMap((o, i) => (o === '--block-size' || o === '--head-block-size' ? [Number(options[i + 1])] : []));
}

const USAGE = `usage: npm run bench:variants -- [--preset tiny|distil|small] [--reps N] [--agreement-windows N] [--cache-dir DIR] [--results-dir DIR]

  --preset P               synthetic checkpoint the speed and size are measured on (default small)
  --reps N                 interleaved runs per prompt length (default 15; half at the long prompt)
  --agreement-windows N    64-token windows of the reference text scored on student-tiny (default: all of them)
  --cache-dir DIR          where models are built and kept (default bench/.cache)
  --results-dir DIR        where the .md and .json results go (default bench/results)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { preset: { type: 'string', default: 'small' }, reps: { type: 'string' }, 'agreement-windows': { type: 'string' }, 'cache-dir': { type: 'string' }, 'results-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.preset !== 'small' && values.preset !== 'distil' && values.preset !== 'tiny') throw new UsageError(`--preset must be tiny, distil or small`);
  const reps = positiveInt('reps', values.reps, 15);
  const agreementWindows = values['agreement-windows'] === undefined ? undefined : positiveInt('agreement-windows', values['agreement-windows'], 1);
  const cache = values['cache-dir'] ?? DEFAULT_CACHE_DIR;
  const started = Date.now();
  const checkpoint = join(cache, `synthetic-${values.preset}-seed1`, 'checkpoint');
  if (!(await exists(join(checkpoint, 'config.json')))) {
    log(`building a synthetic ${values.preset} checkpoint`);
    await runQuantizer(['make-model', '--preset', values.preset, '--seed', '1', '--out', checkpoint]);
  }
  const base = join(cache, `synthetic-${values.preset}-seed1`, 'variants');
  const width = (JSON.parse(await readFile(join(checkpoint, 'config.json'), 'utf8')) as { n_embd: number }).n_embd;
  const names = Object.keys(VARIANTS).filter((n) => blockSizes(VARIANTS[n] ?? []).every((b) => width % b === 0));
  const skipped = Object.keys(VARIANTS).filter((n) => !names.includes(n));
  const dirs: Record<string, string> = {};
  for (const name of names) {
    log(`quantizing: ${name}`);
    dirs[name] = await variantArtifact(checkpoint, base, name);
  }

  const config = (await readManifest(dirs.default as string)).config;
  // 128 tokens, or less on a model with a shorter context (the tiny preset, for a quick check).
  const long = Math.min(128, config.n_positions - 1);
  const lengths = [1, 8, long];
  const rows: Row[] = [];
  for (const [name, dir] of Object.entries(dirs)) {
    log(`measuring: ${name}`);
    const manifest = await readManifest(dir);
    // Each variant against its own FP32 graph (attention and logits change both models), and the peer built from it.
    const fp32 = await Gpt2Session.load(artifactPaths(dir).fp32, config);
    const int8 = await Gpt2Session.load(artifactPaths(dir).int8, config);
    const peer = await Gpt2Session.load(await ensureOrtStandard(dir, { cacheDir: cache, log }), config);
    const timings: Record<string, Timing> = {};
    const record = (key: string, [f, q, p]: number[][]) => {
      const med = (xs: number[] | undefined) => summarize(xs ?? []).median;
      timings[key] = { ms: med(q), vs_fp32: med(q) / med(f), vs_peer: med(q) / med(p) };
    };
    for (const n of lengths) {
      const call = (s: Gpt2Session) => () => promptLogits(s, proseTokens(n));
      record(String(n), await interleaved([call(fp32), call(int8), call(peer)], n >= 64 ? Math.max(3, Math.round(reps / 2)) : reps, n >= 64 ? 1 : 3));
    }
    record('decode', await interleaved([await decodeStep(fp32, long), await decodeStep(int8, long), await decodeStep(peer, long)], reps, 3));
    rows.push({ variant: name, int8_bytes: manifest.int8_bytes, fp32_bytes: manifest.fp32_bytes, timings });
    await peer.release();
    await int8.release();
    await fp32.release();
  }

  // Agreement on trained weights (random weights make it meaningless): every quantization variant, and the peer.
  let agreement: AgreementRow[] = [];
  if (await exists(join(DEFAULT_STUDENT_DIR, 'config.json'))) {
    const text = await referenceTokens();
    const studentVariants = Object.keys(VARIANTS).filter((n) => !GRAPH_ONLY.has(n) && blockSizes(VARIANTS[n] ?? []).every((b) => 128 % b === 0));
    agreement = await measureAgreement(
      DEFAULT_STUDENT_DIR,
      [...studentVariants.map((n) => ({ name: n, options: VARIANTS[n] ?? [] })), { name: 'ORT-standard', options: 'ort-standard' as const }],
      text.tokens,
      { cacheDir: cache, log, say: log, maxWindows: agreementWindows },
    );
  } else {
    log(`${DEFAULT_STUDENT_DIR} is absent: no agreement figures`);
  }

  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const keys = [...lengths.map(String), 'decode'];
  const label = (k: string) => (k === 'decode' ? `decode at ${long}` : `${k} token${k === '1' ? '' : 's'}`);
  const first = agreement[0];
  const md = [
    `# Quantization and graph variants, ${values.preset} preset (\`npm run bench:variants -- --preset ${values.preset}\`)`,
    '',
    machineMarkdown(machineInfo()),
    '',
    `Each variant's INT8 model interleaved (ABBA) with its own FP32 model and with the ORT-standard peer built from that FP32 model, 1 thread, ${reps} runs (medians; ${Math.max(3, Math.round(reps / 2))} at ${long} tokens); took ${Math.round((Date.now() - started) / 1000)} s. ` +
      'The options of each variant are in bench/src/variants-cli.ts.',
    ...(skipped.length > 0 ? ['', `Not run (a block wider than the model's ${width} channels): ${skipped.join(', ')}.`] : []),
    '',
    table(
      ['variant', 'size / FP32', ...keys.flatMap((k) => [`${label(k)} ms`, '÷ FP32', '÷ peer'])],
      rows.map((r) => [r.variant, fixed(r.int8_bytes / r.fp32_bytes, 3), ...keys.flatMap((k) => {
        const t = r.timings[k] as Timing;
        return [fixed(t.ms), fixed(t.vs_fp32, 3), fixed(t.vs_peer, 3)];
      })]),
      ['l', 'r', ...keys.flatMap(() => ['r', 'r', 'r'] as const)],
    ),
    '',
    `FP32 size: ${mb(rows[0]?.fp32_bytes ?? 0)}.`,
    '',
    ...(first
      ? [
          `## Agreement with FP32 on trained weights (student-tiny)`,
          '',
          `Every position of ${first.windows} consecutive ${first.window}-token windows of Debian's license texts (bench/src/reference-text.ts), ${first.positions} positions; graphs with logits for every position (so 'logits all' is the default here).`,
          '',
          table(
            ['variant', 'positions', 'top-1', 'top-5 overlap', 'mean KL (nats)', 'INT8 MB'],
            agreement.map((a) => [a.variant, String(a.positions), `${(100 * a.top1_agreement).toFixed(2)}%`, `${(100 * a.top5_overlap).toFixed(2)}%`, a.mean_kl.toExponential(2), mb(a.int8_bytes)]),
            ['l', 'r', 'r', 'r', 'r', 'r'],
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

runMain(main, USAGE);
