import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isHubCached, parseHubSource } from './checkpoint/hub-download.js';
import { makeModel } from './checkpoint/make-model.js';

/** The public distilled GPT-2 student: what runs when MODEL_SOURCE says nothing. */
export const DEFAULT_MODEL = 'hf:distilgpt2';
const SYNTHETIC_PRESET = 'distil';

export interface DefaultModelOptions {
  /** MODEL_SOURCE, when set: used as it is. */
  modelSource: string | undefined;
  cacheDir: string;
  endpoint: string;
  /** Where the synthetic fallback checkpoint is written (beside the artifact, in the models volume). */
  syntheticDir: string;
  /** How long to wait for the hub before falling back. */
  probeTimeoutMs: number;
  log: (message: string) => void;
}

async function hubAnswers(endpoint: string, timeoutMs: number): Promise<boolean> {
  try {
    // Any HTTP answer means the hub is reachable; only a network failure or a timeout means it is not.
    await fetch(endpoint, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The model to serve: MODEL_SOURCE if set; else distilgpt2 from the hub (or its cache); else, when
 * the hub cannot be reached, a synthetic distil-sized GPT-2 with random weights, announced loudly
 * (the artifact's manifest says synthetic, and the gateway and page show it).
 */
export async function chooseModel(opts: DefaultModelOptions): Promise<{ model: string; synthetic: boolean }> {
  if (opts.modelSource) return { model: opts.modelSource, synthetic: false };
  if (await isHubCached(opts.cacheDir, parseHubSource(DEFAULT_MODEL))) return { model: DEFAULT_MODEL, synthetic: false };
  if (await hubAnswers(opts.endpoint, opts.probeTimeoutMs)) return { model: DEFAULT_MODEL, synthetic: false };
  opts.log(
    [
      '',
      '*'.repeat(78),
      `WARNING: ${opts.endpoint} did not answer within ${opts.probeTimeoutMs / 1000} s, so ${DEFAULT_MODEL} cannot be downloaded.`,
      `Serving a SYNTHETIC ${SYNTHETIC_PRESET}-sized GPT-2 with RANDOM weights instead: its predictions are meaningless.`,
      'Set MODEL_SOURCE to a checkpoint directory, an .onnx file or hf:<repo> to serve a real model.',
      '*'.repeat(78),
      '',
    ].join('\n'),
  );
  const hasCheckpoint = await stat(join(opts.syntheticDir, 'config.json')).then(() => true, () => false);
  if (!hasCheckpoint) await makeModel({ outDir: opts.syntheticDir, preset: SYNTHETIC_PRESET, seed: 0 });
  return { model: opts.syntheticDir, synthetic: true };
}
