/**
 * make-model: writes a synthetic GPT-2 checkpoint in the Hugging Face layout (config.json +
 * model.safetensors with `transformer.`-prefixed keys and no lm_head, i.e. tied, as GPT-2 itself
 * ships), so it goes through exactly the loader a real checkpoint does.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGpt2Config } from '@gpt2-int8/contract/gpt2-config';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { CheckpointError } from './checkpoint-error.js';
import type { ByteProgress } from './progress-printer.js';
import { writeSafetensors } from './safetensors.js';
import { PRESETS, syntheticConfigJson, syntheticTensors } from './synthetic.js';
import type { PresetName } from './synthetic.js';

export interface MakeModelOptions {
  outDir: string;
  /** Non-negative integer; the same seed and shape always give byte-identical files. */
  seed: number;
  /** One of the presets, or `config` for a custom shape (tests use tiny custom shapes). */
  preset?: PresetName;
  config?: Gpt2Config;
  /** Called as model.safetensors is written (label "model.safetensors"). */
  onProgress?: (p: ByteProgress) => void;
}

export interface MakeModelResult {
  dir: string;
  config: Gpt2Config;
  /** Size and sha256 of model.safetensors, computed while writing it. */
  weightsBytes: number;
  weightsSha256: string;
}

export async function makeModel(options: MakeModelOptions): Promise<MakeModelResult> {
  const { outDir, seed, preset } = options;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new CheckpointError(`make-model: --seed must be a non-negative integer, got ${seed}`);
  if ((preset === undefined) === (options.config === undefined)) throw new CheckpointError('make-model: give exactly one of a preset or a config');
  const base = preset !== undefined ? PRESETS[preset] : options.config;
  if (base === undefined) throw new CheckpointError(`make-model: unknown preset "${String(preset)}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const configJson = syntheticConfigJson(base, seed, preset);
  // Round-trip through the same validator the loader uses: make-model must never write a checkpoint
  // that the quantizer would then refuse.
  const config = parseGpt2Config(configJson, 'make-model config');

  await mkdir(outDir, { recursive: true });
  const configPath = join(outDir, 'config.json');
  const weightsPath = join(outDir, 'model.safetensors');
  const configTmp = `${configPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(configTmp, `${JSON.stringify(configJson, null, 2)}\n`, { flag: 'wx' });
  try {
    // Replacing an existing model: take the old config away first, so that between the two renames
    // the directory is visibly incomplete (no config.json) rather than a new-weights/old-config mix.
    await unlink(configPath).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    const hash = createHash('sha256');
    const tensors = syntheticTensors(config, seed).map((t) => ({ name: `transformer.${t.name}`, shape: t.shape, data: t.chunks }));
    const weightsBytes = await writeSafetensors(weightsPath, tensors, {
      metadata: { format: 'pt', synthetic: 'true' },
      onBytes: (chunk) => hash.update(chunk),
      onProgress: options.onProgress
        ? (done, total) => options.onProgress?.({ label: 'model.safetensors', bytesDone: done, bytesTotal: total, done: done === total })
        : undefined,
    });
    await rename(configTmp, configPath);
    return { dir: outDir, config, weightsBytes, weightsSha256: hash.digest('hex') };
  } catch (e) {
    await unlink(configTmp).catch(() => undefined);
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new CheckpointError(`make-model: disk full while writing ${outDir}; free some space or choose another --out`, { cause: e });
    }
    throw e;
  }
}
