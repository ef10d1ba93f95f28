#!/usr/bin/env node
/**
 * The quantizer's command line:
 *   quantize   --model <dir | file.onnx | hf:repo[@revision]> --out <dir> [options]
 *   make-model --preset tiny|distil|small --seed N --out <dir>
 *   ort-standard --in <model.fp32.onnx> --out <file.onnx>
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EnvReader } from '@gpt2-int8/contract/config';
import { decodeModel, encodeModel } from '@gpt2-int8/runtime/onnx-graph-builder';
import { createProgressPrinter } from './checkpoint/progress-printer.js';
import { makeModel } from './checkpoint/make-model.js';
import { isPresetName, PRESETS } from './checkpoint/synthetic.js';
import { chooseModel } from './default-model.js';
import { resolveSource } from './source.js';
import { QUANTIZE_DEFAULTS, quantizeArtifact } from './quantize-artifact.js';
import { quantizeOrtStandard } from './quantize/ort-standard.js';

const USAGE = `usage:
  ensure --out <dir>   the quantizer job at start-up: quantize MODEL_SOURCE, or by default hf:distilgpt2
                       (a synthetic distil GPT-2 when the hub is unreachable)
  quantize --model <dir | file.onnx | hf:repo[@revision]> --out <dir>
           [--weights int8|int4] [--granularity per-channel|per-tensor|per-block (int8)]
           [--block-size 64 (int4, and int8 per-block)]
           [--head-block-size N (int8 per-channel/per-tensor: the LM head and embedding in int8 blocks; 0 = not)]
           [--activation-passes 2|1 (int8 per-channel/per-tensor: the MLP's and LM head's activations
                                     quantized twice, the row and its rounding error, or once)]
           [--logits last|all]
           [--threads N] [--report-reps N] [--force]
           [--cache-dir DIR]   (hub downloads; default <out>/../.hub-cache)
  make-model --preset ${Object.keys(PRESETS).join('|')} --seed N --out <dir>
  ort-standard --in <model.fp32.onnx> --out <file.onnx>
                       the peer the bench compares with: the FP32 graph quantized as onnxruntime's
                       quantize_dynamic does by default (per-tensor, DynamicQuantizeLinear)

Environment: MODEL_SOURCE (ensure), HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (gated or private repos).`;

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new UsageError(`--${name} must be a positive whole number, got "${value}"`);
  return n;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be ${allowed.join(' or ')}, got "${value}"`);
  return value as T;
}

const QUANTIZE_OPTIONS = {
  out: { type: 'string' },
  weights: { type: 'string', default: QUANTIZE_DEFAULTS.weights },
  'block-size': { type: 'string' },
  'head-block-size': { type: 'string' },
  'activation-passes': { type: 'string' },
  granularity: { type: 'string', default: QUANTIZE_DEFAULTS.granularity },
  logits: { type: 'string', default: QUANTIZE_DEFAULTS.logits },
  threads: { type: 'string' },
  'report-reps': { type: 'string' },
  'cache-dir': { type: 'string' },
  force: { type: 'boolean', default: false },
} as const;

/** `quantize`, and `ensure` (the same with the model chosen from MODEL_SOURCE and the defaults). */
async function quantizeCommand(args: string[], ensure: boolean): Promise<void> {
  const { values } = parseArgs({ args, options: { ...QUANTIZE_OPTIONS, ...(ensure ? {} : { model: { type: 'string' } }) }, strict: true });
  const explicit = (values as { model?: string }).model;
  if (!values.out || (!ensure && !explicit)) throw new UsageError(ensure ? 'ensure needs --out' : 'quantize needs --model and --out');
  const granularity = oneOf('granularity', values.granularity, ['per-channel', 'per-tensor', 'per-block'] as const);
  const weights = oneOf('weights', values.weights, ['int8', 'int4'] as const);
  const blockSize = positiveInt('block-size', values['block-size'], QUANTIZE_DEFAULTS.blockSize);
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new UsageError(`--block-size must be a power of two of at least 16, got ${blockSize}`);
  const headBlockSize = values['head-block-size'] === '0' ? 0 : positiveInt('head-block-size', values['head-block-size'], QUANTIZE_DEFAULTS.headBlockSize);
  if (headBlockSize !== 0 && (headBlockSize < 16 || (headBlockSize & (headBlockSize - 1)) !== 0 || headBlockSize > 256)) throw new UsageError(`--head-block-size must be 0 or a power of two from 16 to 256, got ${headBlockSize}`);
  const activationPasses = values['activation-passes'] === undefined ? QUANTIZE_DEFAULTS.activationPasses : Number(oneOf('activation-passes', values['activation-passes'], ['1', '2'] as const)) as 1 | 2;
  // Both shape the per-row form only; int4 and int8 blocks quantize activations per block of a row.
  for (const option of ['activation-passes', 'head-block-size'] as const) {
    if (values[option] !== undefined && values[option] !== '0' && (weights === 'int4' || granularity === 'per-block')) throw new UsageError(`--${option} applies to int8 per-channel or per-tensor weights, not to --weights int4 or --granularity per-block`);
  }
  const logits = oneOf('logits', values.logits, ['last', 'all'] as const);
  const env = new EnvReader();
  const outDir = resolve(values.out);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const hub = {
    cacheDir: values['cache-dir'] ? resolve(values['cache-dir']) : resolve(outDir, '..', '.hub-cache'),
    endpoint: env.url('HF_ENDPOINT', 'https://huggingface.co', ['http:', 'https:']),
    token: env.optionalString('HF_TOKEN'),
    onProgress: createProgressPrinter(process.stderr),
    log,
  };
  const model = explicit ?? (await chooseModel({
    modelSource: env.optionalString('MODEL_SOURCE'),
    cacheDir: hub.cacheDir,
    endpoint: hub.endpoint,
    syntheticDir: resolve(outDir, '..', 'synthetic-distil'),
    probeTimeoutMs: env.int('HUB_PROBE_TIMEOUT_MS', 5000, { min: 100 }),
    log,
  })).model;
  const result = await quantizeArtifact({
    // Resolved under the artifact's lock, so two quantizers never download into one cache at once.
    source: () => resolveSource(model, { ...hub, setBy: explicit === undefined ? 'MODEL_SOURCE' : '--model' }),
    outDir,
    weights,
    granularity,
    blockSize,
    headBlockSize,
    activationPasses,
    logits,
    threads: positiveInt('threads', values.threads, QUANTIZE_DEFAULTS.threads),
    reportRepetitions: positiveInt('report-reps', values['report-reps'], QUANTIZE_DEFAULTS.reportRepetitions),
    force: values.force ?? false,
    log,
  });
  if (result.manifest.synthetic) log('NOTE: this artifact has synthetic (random) weights; its predictions are meaningless.');
  process.stdout.write(`${JSON.stringify({ out: outDir, reused: result.reused, synthetic: result.manifest.synthetic, int8_bytes: result.manifest.int8_bytes, fp32_bytes: result.manifest.fp32_bytes })}\n`);
}

async function makeModelCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { preset: { type: 'string' }, seed: { type: 'string', default: '0' }, out: { type: 'string' } }, strict: true });
  if (!values.preset || !values.out) throw new UsageError('make-model needs --preset and --out');
  if (!isPresetName(values.preset)) throw new UsageError(`unknown preset "${values.preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const seed = Number(values.seed);
  if (!/^\d+$/.test(values.seed ?? '') || !Number.isSafeInteger(seed)) throw new UsageError(`--seed must be a non-negative whole number, got "${values.seed}"`);
  const result = await makeModel({ outDir: resolve(values.out), preset: values.preset, seed, onProgress: createProgressPrinter(process.stderr) });
  process.stderr.write(`wrote a synthetic ${values.preset} GPT-2 (random weights, seed ${seed}) to ${result.dir}\n`);
}

async function ortStandardCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { in: { type: 'string' }, out: { type: 'string' } }, strict: true });
  if (!values.in || !values.out) throw new UsageError('ort-standard needs --in and --out');
  const { model, stats } = quantizeOrtStandard(decodeModel(await readFile(resolve(values.in))));
  const out = resolve(values.out);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(`${out}.tmp`, encodeModel(model));
  await rename(`${out}.tmp`, out);
  process.stdout.write(`${JSON.stringify({ out, ...stats })}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // `npm run quantize -- --help` arrives as "quantize --help": help for any command, not an unknown option.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === 'quantize') return quantizeCommand(rest, false);
  if (command === 'ensure') return quantizeCommand(rest, true);
  if (command === 'make-model') return makeModelCommand(rest);
  if (command === 'ort-standard') return ortStandardCommand(rest);
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  throw new UsageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as Error & { code?: string };
  // parseArgs reports unknown or malformed options with ERR_PARSE_ARGS_* codes: a usage error too.
  if (err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`error: ${e.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`error: ${e.message}\n`);
  if (process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
