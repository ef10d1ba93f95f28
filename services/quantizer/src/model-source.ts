import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CheckpointError } from './checkpoint/checkpoint-error.js';
import { isHubSpec } from './checkpoint/hub-checkpoint.js';
import { downloadHubCheckpoint, type HubDownloadOptions, hubSourceId, parseHubSource } from './checkpoint/hub-download.js';
import { isPickledFileName, pickledCheckpointMessage } from './checkpoint/pickled.js';
import type { ResolvedSource } from './quantize-artifact.js';

export interface SourceOptions extends HubDownloadOptions {
  log: (message: string) => void;
}

/**
 * What `--model` names: `hf:repo[@rev]` (downloaded into the cache first), an `.onnx` export, or a
 * Hugging Face GPT-2 directory. Pickled checkpoints are refused before anything reads them.
 */
export async function resolveSource(model: string, options: SourceOptions): Promise<ResolvedSource> {
  if (isHubSpec(model)) {
    const hub = parseHubSource(model);
    options.log(`fetching ${hubSourceId(hub)} from ${options.endpoint ?? 'the hub'} (cache ${options.cacheDir})`);
    const dir = await downloadHubCheckpoint(hub, options);
    return { kind: 'hub', path: dir, id: hubSourceId(hub) };
  }
  const path = resolve(model);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CheckpointError(`${path}: no such file or directory; --model takes a GPT-2 directory, an .onnx file or hf:<repo_id>`);
  if (info.isDirectory()) return { kind: 'hf-dir', path, id: path };
  if (isPickledFileName(path)) throw new CheckpointError(pickledCheckpointMessage(path, [path]));
  if (path.endsWith('.onnx')) return { kind: 'onnx', path, id: path };
  throw new CheckpointError(`${path}: not a directory or an .onnx file; --model takes a GPT-2 directory (config.json + model.safetensors), an .onnx file or hf:<repo_id>`);
}
