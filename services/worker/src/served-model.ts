/**
 * A model ready to serve: its engine (the verified INT8 session, the FP32 one loaded on the first
 * compare), what results say about it (ModelRef) and its card for the gateway. The worker opens one
 * at start-up and another for each new artifact it swaps to.
 */
import type { ModelRef } from '@gpt2-int8/contract/api';
import type { ModelCard } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { ARTIFACT_FILES, type Manifest } from '@gpt2-int8/contract/manifest';
import type { WorkerConfig } from './config.js';
import { InferenceEngine } from './engine.js';
import { readModelCard } from './model-card.js';
import { loadModel } from './model-loader.js';
import { modelRef } from './model-ref.js';

export interface ServedModel {
  engine: InferenceEngine;
  ref: ModelRef;
  manifest: Manifest;
  card: ModelCard;
  /** Read + verify + session creation + probe, in ms. */
  loadMs: number;
}

/**
 * A model's FP32 file is needed (the first compare) after a new artifact replaced it in MODEL_DIR,
 * and this worker is about to swap to that artifact: the job is for the new model.
 */
export class ModelMoved extends Error {
  override name = 'ModelMoved';
}

export interface OpenOptions {
  /** Whether the worker is moving away from the model with this manifest (MODEL_DIR holds another it has not refused). */
  swapPending(manifest: Manifest): Promise<boolean>;
}

/** Verifies and loads the artifact in MODEL_DIR that `manifest` describes. Throws ArtifactError with the reason. */
export async function openModel(config: WorkerConfig, manifest: Manifest, logger: Logger, opts: OpenOptions): Promise<ServedModel> {
  // Read before the model: the loader's check that the artifact was not replaced meanwhile covers it too.
  const card = await readModelCard(config.modelDir, manifest, logger);
  const model = await loadModel(config.modelDir, manifest, ARTIFACT_FILES.int8, { threads: config.threads });
  const engine = new InferenceEngine(model.session, {
    maxBatch: config.maxBatch,
    batchWindowMs: config.batchWindowMs,
    maxBatchTokens: config.maxBatchTokens,
    continuousBatching: config.continuousBatching ? { maxActive: config.maxActiveSequences, maxStepTokens: config.maxStepTokens } : undefined,
    ...(config.compareFp32
      ? {
          loadFp32: async () => {
            // The FP32 file is loaded lazily: once the quantizer has replaced the artifact, this
            // model's is gone (checking the new one against this manifest would only fail).
            if (await opts.swapPending(manifest)) throw new ModelMoved(`${ARTIFACT_FILES.fp32} of the model being served was replaced by a new artifact`);
            logger.info(`loading ${ARTIFACT_FILES.fp32} for the first compare`);
            const fp32 = await loadModel(config.modelDir, manifest, ARTIFACT_FILES.fp32, { threads: config.threads });
            logger.info({ load_ms: Math.round(fp32.loadMs) }, `${ARTIFACT_FILES.fp32} loaded`);
            return fp32.session;
          },
        }
      : {}),
  });
  return { engine, ref: modelRef(manifest), manifest, card, loadMs: model.loadMs };
}

/** The log line for a model that starts serving. */
export function logServing(logger: Logger, served: ServedModel, what = 'model loaded', extra: Record<string, unknown> = {}): void {
  const { ref } = served;
  logger.info(
    { sha256: ref.sha256, quantization: ref.quantization, synthetic: ref.synthetic, config: served.manifest.config, load_ms: Math.round(served.loadMs), ...extra },
    ref.synthetic ? `${what} (SYNTHETIC random weights: predictions are meaningless)` : what,
  );
}
