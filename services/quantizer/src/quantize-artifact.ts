import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Gpt2Config } from '@gpt2-int8/shared/gpt2-config';
import { ARTIFACT_FILES, type Manifest, MANIFEST_FORMAT_VERSION, readManifest } from '@gpt2-int8/shared/manifest';
import { VALIDATION_PROMPTS } from '@gpt2-int8/shared/prompts';
import type { Report } from '@gpt2-int8/shared/report';
import { acquireLock } from './artifact/artifact-lock.js';
import { encodeWithExternalData, type ModelWithExternalData } from './artifact/external-data.js';
import { removeLeftovers, writeArtifact } from './artifact/write-artifact.js';
import { loadHfCheckpoint } from './checkpoint/hf-checkpoint.js';
import { hashFiles } from './checkpoint/source-hash.js';
import { type AttentionKind, buildGpt2Graph, type LogitsKind } from './gpt2-graph.js';
import { encodeModel } from '@gpt2-int8/shared/onnx-graph-builder';
import type { onnx } from '@gpt2-int8/shared/onnx-proto';
import { loadOnnxSource } from './onnx-import.js';
import { int4Quantization, int8Quantization, type QuantizationPlan } from './quantize/quantization.js';
import { quantizeModel } from './quantize/quantize-graph.js';
import type { Granularity } from './quantize/quantize-weights.js';
import { buildReport, formatReport } from './validate/validation-report.js';
import { TOOL_VERSION } from './version.js';

export interface ResolvedSource {
  kind: 'hf-dir' | 'onnx' | 'hub';
  /** A Hugging Face GPT-2 directory, an .onnx file, or the directory a hub download produced. */
  path: string;
  id: string;
}

export interface QuantizeRequest {
  /** The source, or how to get it (a hub download), which then runs under the artifact's lock. */
  source: ResolvedSource | (() => Promise<ResolvedSource>);
  outDir: string;
  /** int8 (the default), or 4-bit weight-only blocks of `blockSize`. */
  weights: 'int8' | 'int4';
  granularity: Granularity;
  blockSize: number;
  /** How attention is expressed in graphs built from checkpoints (imported ONNX graphs keep theirs). */
  attention: AttentionKind;
  /** Which positions get logits in graphs built from checkpoints. */
  logits: LogitsKind;
  threads: number;
  /** Timed passes over the validation prompts for the report's latency figures. */
  reportRepetitions: number;
  /** Rebuild even when the artifact matches the source and options. */
  force: boolean;
  log: (message: string) => void;
}

/** The quantizer's defaults (the CLI's too): INT8 per channel, fused attention, one thread. */
export const QUANTIZE_DEFAULTS = {
  weights: 'int8',
  granularity: 'per-channel',
  blockSize: 64,
  attention: 'fused',
  logits: 'last',
  threads: 1,
  reportRepetitions: 5,
  force: false,
} as const satisfies Partial<QuantizeRequest>;

export interface QuantizeResult {
  manifest: Manifest;
  reused: boolean;
  report?: Report;
}

/**
 * The files that make up a source, in the order the checkpoint loader hashes them (config, then the
 * single weights file, or the index and its shards): what its sha256 and stamp cover.
 */
async function sourceFiles(source: ResolvedSource): Promise<string[]> {
  if (source.kind === 'onnx') {
    const beside = join(dirname(source.path), 'config.json');
    return [source.path, ...((await stat(beside).then(() => true, () => false)) ? [beside] : [])];
  }
  const names = new Set(await readdir(source.path));
  const weights = names.has('model.safetensors')
    ? ['model.safetensors']
    : ['model.safetensors.index.json', ...[...names].filter((n) => n.endsWith('.safetensors')).sort()];
  return ['config.json', ...weights].filter((n) => names.has(n)).map((n) => join(source.path, n));
}

async function sourceStamp(files: string[]): Promise<string> {
  const parts = await Promise.all(files.map(async (f) => {
    const s = await stat(f);
    return `${basename(f)}:${s.size}:${Math.trunc(s.mtimeMs)}`;
  }));
  return parts.join(';');
}

/** What this run makes. The graph is ours as asked; an imported export keeps its own (plain operators, every position). */
function planOf(req: QuantizeRequest, source: ResolvedSource): QuantizationPlan {
  return {
    quantization: req.weights === 'int4' ? int4Quantization(req.blockSize) : int8Quantization(req.granularity),
    graph: source.kind === 'onnx' ? { attention: 'standard', logits: 'all' } : { attention: req.attention, logits: req.logits },
  };
}

/** The existing artifact when it was made from this very source with this plan, else undefined. */
async function reusable(req: QuantizeRequest, source: ResolvedSource, plan: QuantizationPlan, files: string[], stamp: string): Promise<Manifest | undefined> {
  const existing = await readManifest(req.outDir).catch(() => undefined);
  if (!existing || req.force) return undefined;
  const same = existing.tool_version === TOOL_VERSION && existing.source.id === source.id
    && JSON.stringify({ quantization: existing.quantization, graph: existing.graph }) === JSON.stringify(plan);
  if (!same) return undefined;
  // Sizes are checked (cheap); the worker checks sha256 when it loads.
  for (const [file, entry] of Object.entries(existing.files)) {
    const size = await stat(join(req.outDir, file)).then((s) => s.size, () => -1);
    if (size !== entry.bytes) return undefined;
  }
  if (existing.source.stamp === stamp) return existing;
  // Touched but maybe not changed (a copy, a re-download): the content hash decides.
  return existing.source.sha256 === (await hashFiles(files)) ? existing : undefined;
}

interface BuiltModel {
  config: Gpt2Config;
  fp32: Uint8Array;
  /** The INT8 graph in one file, for the validation report's session. */
  int8: Uint8Array;
  /** The same graph as the artifact stores it. */
  int8Files: ModelWithExternalData;
  synthetic: boolean;
  /** sha256 of the source files (SourceHasher framing). */
  sha256: string;
}

async function buildModels(req: QuantizeRequest, source: ResolvedSource, plan: QuantizationPlan): Promise<BuiltModel> {
  if (source.kind === 'onnx') {
    const src = await loadOnnxSource(source.path);
    if (!src.hasKvCache) req.log(`warning: ${source.path} has no KV-cache inputs (optimum's decoder layout); workers need them to serve it`);
    req.log(`quantizing ${source.path} (${src.config.n_layer} layers × ${src.config.n_embd})`);
    const { model, stats } = quantizeModel(src.model, plan.quantization);
    req.log(`replaced ${stats.linear} matmuls and ${stats.embedding} embedding lookups`);
    return { config: src.config, fp32: src.bytes, ...int8Encodings(model), synthetic: false, sha256: await hashFiles(await sourceFiles(source)) };
  }
  req.log(`loading ${source.path}`);
  const checkpoint = await loadHfCheckpoint(source.path, { source: { kind: source.kind, id: source.id } });
  req.log(`building the FP32 graph (${checkpoint.config.n_layer} layers × ${checkpoint.config.n_embd}, vocabulary ${checkpoint.config.vocab_size})`);
  const graph = buildGpt2Graph(checkpoint.config, checkpoint.weights, plan.graph);
  req.log(`quantizing linear layers and the embedding to ${plan.quantization.weights.toUpperCase()}`);
  const { model, stats } = quantizeModel(graph, plan.quantization);
  req.log(`replaced ${stats.linear} matmuls and ${stats.embedding} embedding lookups`);
  return { config: checkpoint.config, fp32: encodeModel(graph), ...int8Encodings(model), synthetic: checkpoint.synthetic, sha256: checkpoint.source.sha256 };
}

function int8Encodings(model: onnx.ModelProto): Pick<BuiltModel, 'int8' | 'int8Files'> {
  return { int8: encodeModel(model), int8Files: encodeWithExternalData(model, ARTIFACT_FILES.int8Data) };
}

/**
 * The quantizer job: source → FP32 graph → INT8 graph → validation report → artifact, under a lock,
 * and a no-op when the artifact already matches the source and options.
 */
export async function quantizeArtifact(req: QuantizeRequest): Promise<QuantizeResult> {
  const outDir = resolve(req.outDir);
  await mkdir(dirname(outDir), { recursive: true });
  const lock = await acquireLock(join(dirname(outDir), `.${basename(outDir)}.lock`), (holder) =>
    req.log(`another quantizer is writing ${outDir} (${holder}); waiting for it`),
  );
  try {
    const source = typeof req.source === 'function' ? await req.source() : req.source;
    const files = await sourceFiles(source);
    const stamp = await sourceStamp(files);
    const plan = planOf(req, source);
    const existing = await reusable({ ...req, outDir }, source, plan, files, stamp);
    if (existing) {
      req.log(`${outDir} is up to date (source ${existing.source.sha256.slice(0, 12)}…, ${existing.quantization.weights} ${existing.quantization.granularity}); nothing to do`);
      return { manifest: existing, reused: true };
    }
    await removeLeftovers(outDir);
    const built = await buildModels(req, source, plan);
    req.log(`validating FP32 vs INT8 on ${VALIDATION_PROMPTS.length} prompts`);
    let lastPct = -1;
    const report = await buildReport({
      config: built.config,
      fp32: built.fp32,
      int8: built.int8,
      prompts: VALIDATION_PROMPTS,
      synthetic: built.synthetic,
      repetitions: req.reportRepetitions,
      threads: req.threads,
      onProgress: (done, total) => {
        const pct = Math.floor((100 * done) / total / 10) * 10;
        if (pct !== lastPct) req.log(`  validation ${pct}%`);
        lastPct = pct;
      },
    });
    req.log(`\n${formatReport(report)}\n`);
    const manifest = await writeArtifact(outDir, {
      fp32: built.fp32,
      int8: built.int8Files.model,
      int8Data: built.int8Files.data,
      report: new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`),
      manifest: {
        format_version: MANIFEST_FORMAT_VERSION,
        tool_version: TOOL_VERSION,
        source: { kind: source.kind, id: source.id, sha256: built.sha256, stamp },
        synthetic: built.synthetic,
        config: built.config,
        ...plan,
      },
    });
    req.log(`wrote ${join(outDir, ARTIFACT_FILES.int8)} and ${ARTIFACT_FILES.int8Data} (${(manifest.int8_bytes / 1e6).toFixed(1)} MB together, ${(100 * manifest.int8_bytes / manifest.fp32_bytes).toFixed(1)}% of FP32)`);
    return { manifest, reused: false, report };
  } finally {
    await lock.release();
  }
}
