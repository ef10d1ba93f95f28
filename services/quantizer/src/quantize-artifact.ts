import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ARTIFACT_FILES, type Manifest, MANIFEST_FORMAT_VERSION, readManifest } from '@gpt2-int8/contract/manifest';
import { VALIDATION_PROMPTS } from '@gpt2-int8/contract/prompts';
import type { Report } from '@gpt2-int8/contract/report';
import { acquireLock } from './artifact/artifact-lock.js';
import { encodeWithExternalData } from './artifact/external-data.js';
import { removeLeftovers, writeArtifact } from './artifact/write-artifact.js';
import { hashFiles } from './checkpoint/source-hash.js';
import type { LogitsKind } from './gpt2-graph.js';
import { encodeModel } from '@gpt2-int8/runtime/onnx-graph-builder';
import { int4Quantization, int8BlockQuantization, int8Quantization, type QuantizationPlan } from './quantize/quantization.js';
import { quantizeModel } from './quantize/quantize-graph.js';
import type { Granularity } from './quantize/quantize-weights.js';
import { formatOf, type Source, sourceStamp } from './source.js';
import { buildReport, formatReport } from './validate/validation-report.js';
import { TOOL_VERSION } from './version.js';

export interface QuantizeRequest {
  /** The source, or how to get it (a hub download), which then runs under the artifact's lock. */
  source: Source | (() => Promise<Source>);
  outDir: string;
  /** int8 (the default), or 4-bit weight-only blocks of `blockSize`. */
  weights: 'int8' | 'int4';
  /** int8 only: per channel or per tensor (MatMulInteger), or in blocks of `blockSize` (MatMulNBits). int4 is always per block. */
  granularity: Granularity | 'per-block';
  blockSize: number;
  /** int8 per channel or per tensor: the LM head and the token embedding in int8 blocks of this size (0: as the rest). */
  headBlockSize: number;
  /** int8 per channel or per tensor: 2 quantizes the widening linears' activations twice (quantize/quantization.ts). */
  activationPasses: 1 | 2;
  /** Which positions get logits in graphs built from checkpoints. */
  logits: LogitsKind;
  threads: number;
  /** Timed passes over the validation prompts for the report's latency figures. */
  reportRepetitions: number;
  /** Rebuild even when the artifact matches the source and options. */
  force: boolean;
  log: (message: string) => void;
}

/** The quantizer's defaults (the CLI's too): INT8 per channel, last-position logits, one thread. */
export const QUANTIZE_DEFAULTS = {
  weights: 'int8',
  granularity: 'per-channel',
  blockSize: 64,
  headBlockSize: 0,
  activationPasses: 2,
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

/** What this run makes, decided once. */
function planOf(req: QuantizeRequest, source: Source): QuantizationPlan {
  return {
    quantization: req.weights === 'int4' ? int4Quantization(req.blockSize)
      : req.granularity === 'per-block' ? int8BlockQuantization(req.blockSize)
      : int8Quantization(req.granularity, { headBlockSize: req.headBlockSize > 0 ? req.headBlockSize : undefined, activationPasses: req.activationPasses }),
    graph: formatOf(source).graph({ attention: 'past-apart', logits: req.logits }),
  };
}

/** The existing artifact when it was made from this very source with this plan, else undefined. */
async function reusable(req: QuantizeRequest, source: Source, plan: QuantizationPlan, files: string[], stamp: string): Promise<Manifest | undefined> {
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
    const files = await formatOf(source).files(source);
    const stamp = await sourceStamp(files);
    const plan = planOf(req, source);
    const existing = await reusable({ ...req, outDir }, source, plan, files, stamp);
    if (existing) {
      req.log(`${outDir} is up to date (source ${existing.source.sha256.slice(0, 12)}…, ${existing.quantization.weights} ${existing.quantization.granularity}); nothing to do`);
      return { manifest: existing, reused: true };
    }
    await removeLeftovers(outDir);
    const loaded = await formatOf(source).load(source, plan.graph, req.log);
    req.log(`quantizing linear layers and the embedding to ${plan.quantization.weights.toUpperCase()}`);
    const { model, stats } = quantizeModel(loaded.model, plan.quantization);
    req.log(`replaced ${stats.linear} matmuls and ${stats.embedding} embedding lookups`);
    const int8Files = encodeWithExternalData(model, ARTIFACT_FILES.int8Data);
    req.log(`validating FP32 vs INT8 on ${VALIDATION_PROMPTS.length} prompts`);
    let lastPct = -1;
    const report = await buildReport({
      config: loaded.config,
      fp32: loaded.fp32,
      // The INT8 graph in one file, for the report's session.
      int8: encodeModel(model),
      prompts: VALIDATION_PROMPTS,
      synthetic: loaded.synthetic,
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
      fp32: loaded.fp32,
      int8: int8Files.model,
      int8Data: int8Files.data,
      report: new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`),
      manifest: {
        format_version: MANIFEST_FORMAT_VERSION,
        tool_version: TOOL_VERSION,
        source: { kind: source.kind, id: source.id, sha256: loaded.sha256, stamp },
        synthetic: loaded.synthetic,
        config: loaded.config,
        ...plan,
      },
    });
    req.log(`wrote ${join(outDir, ARTIFACT_FILES.int8)} and ${ARTIFACT_FILES.int8Data} (${(manifest.int8_bytes / 1e6).toFixed(1)} MB together, ${(100 * manifest.int8_bytes / manifest.fp32_bytes).toFixed(1)}% of FP32)`);
    return { manifest, reused: false, report };
  } finally {
    await lock.release();
  }
}
