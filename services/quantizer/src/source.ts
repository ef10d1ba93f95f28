import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import type { Manifest } from '@gpt2-int8/contract/manifest';
import { encodeModel } from '@gpt2-int8/runtime/onnx-graph-builder';
import type { onnx } from '@gpt2-int8/runtime/onnx-proto';
import { CheckpointError } from './checkpoint/checkpoint-error.js';
import { checkpointFiles, checkpointLayout, loadHfCheckpoint } from './checkpoint/hf-checkpoint.js';
import { downloadHubCheckpoint, type HubDownloadOptions, hubSourceId, parseHubSource } from './checkpoint/hub-download.js';
import { isPickledFileName, pickledCheckpointMessage } from './checkpoint/pickled.js';
import { hashFiles } from './checkpoint/source-hash.js';
import { buildGpt2Graph } from './gpt2-graph.js';
import { withoutDeclaredShapes } from './quantize/declared-rows.js';
import { configBeside, loadOnnxSource } from './onnx-import.js';

/** The kinds of source, as the manifest records them (shared/contract/src/manifest-schema.ts). */
export type SourceKind = Manifest['source']['kind'];

export interface Source {
  kind: SourceKind;
  /** A Hugging Face GPT-2 directory, an .onnx file, or the directory a hub download produced. */
  path: string;
  /** What the manifest names it by: the path, or the hub repo with its revision. */
  id: string;
}

/** A source read: its FP32 graph, as a model and as the bytes the artifact stores, and its files' sha256. */
export interface LoadedSource {
  config: Gpt2Config;
  model: onnx.ModelProto;
  fp32: Uint8Array;
  synthetic: boolean;
  sha256: string;
}

/** What a kind of source is: its files, the graph it gives, and its loader. */
export interface SourceFormat {
  /** The files it is made of, in the order its sha256 covers them (source-hash.ts hashFiles). */
  files(source: Source): Promise<string[]>;
  /** The graph it gives when `asked` is requested: ours as asked, or an export's own. */
  graph(asked: Manifest['graph']): Manifest['graph'];
  load(source: Source, graph: Manifest['graph'], log: (message: string) => void): Promise<LoadedSource>;
}

/** A Hugging Face GPT-2 checkpoint, local or downloaded: its weights in the graph gpt2-graph.ts builds, as asked. */
const CHECKPOINT: SourceFormat = {
  files: async (source) => checkpointFiles(await checkpointLayout(source.path)),
  graph: (asked) => asked,
  async load(source, graph, log) {
    log(`loading ${source.path}`);
    const c = await loadHfCheckpoint(source.path, { source });
    log(`building the FP32 graph (${c.config.n_layer} layers × ${c.config.n_embd}, vocabulary ${c.config.vocab_size})`);
    const model = buildGpt2Graph(c.config, c.weights, graph);
    return { config: c.config, model, fp32: encodeModel(withoutDeclaredShapes(model)), synthetic: c.synthetic, sha256: c.source.sha256 };
  },
};

/** An FP32 GPT-2 export (onnx-import.ts), kept as it was exported: plain operators, logits at every position. */
const ONNX_EXPORT: SourceFormat = {
  async files(source) {
    const beside = configBeside(source.path);
    return [source.path, ...((await stat(beside).then(() => true, () => false)) ? [beside] : [])];
  },
  graph: () => ({ attention: 'exported', logits: 'all' }),
  async load(source, _graph, log) {
    const src = await loadOnnxSource(source.path);
    if (!src.hasKvCache) log(`warning: ${source.path} has no KV-cache inputs (optimum's decoder layout); workers need them to serve it`);
    log(`loaded ${source.path} (${src.config.n_layer} layers × ${src.config.n_embd})`);
    return { config: src.config, model: src.model, fp32: src.bytes, synthetic: false, sha256: await hashFiles(await ONNX_EXPORT.files(source)) };
  },
};

const FORMATS: Readonly<Record<SourceKind, SourceFormat>> = { 'hf-dir': CHECKPOINT, hub: CHECKPOINT, onnx: ONNX_EXPORT };

export const formatOf = (source: Source): SourceFormat => FORMATS[source.kind];

/** Sizes and mtimes of the source's files: when they match the manifest's, its sha256 need not be computed again. */
export async function sourceStamp(files: string[]): Promise<string> {
  const parts = await Promise.all(files.map(async (f) => {
    const s = await stat(f);
    return `${basename(f)}:${s.size}:${Math.trunc(s.mtimeMs)}`;
  }));
  return parts.join(';');
}

/**
 * What `--model` names: `hf:repo[@rev]` (downloaded into the cache first), an `.onnx` export, or a
 * Hugging Face GPT-2 directory. Pickled checkpoints are refused before anything reads them.
 */
export async function resolveSource(model: string, options: HubDownloadOptions & { log: (message: string) => void; setBy?: string }): Promise<Source> {
  // What the user set, for the messages: --model, or MODEL_SOURCE (ensure).
  const setBy = options.setBy ?? '--model';
  if (model.startsWith('hf:')) {
    const hub = parseHubSource(model);
    options.log(`fetching ${hubSourceId(hub)} from ${options.endpoint ?? 'the hub'} (cache ${options.cacheDir})`);
    const dir = await downloadHubCheckpoint(hub, options);
    return { kind: 'hub', path: dir, id: hubSourceId(hub) };
  }
  const path = resolve(model);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CheckpointError(`${path}: no such file or directory; ${setBy} takes a GPT-2 directory, an .onnx file or hf:<repo_id>`);
  if (info.isDirectory()) return { kind: 'hf-dir', path, id: path };
  if (isPickledFileName(path)) throw new CheckpointError(pickledCheckpointMessage(path, [path]));
  if (path.endsWith('.onnx')) return { kind: 'onnx', path, id: path };
  throw new CheckpointError(`${path}: not a directory or an .onnx file; ${setBy} takes a GPT-2 directory (config.json + model.safetensors), an .onnx file or hf:<repo_id>`);
}
