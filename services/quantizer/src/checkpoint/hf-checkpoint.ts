/**
 * Loads a Hugging Face GPT-2 directory: config.json plus model.safetensors, or a sharded
 * model.safetensors.index.json with its shards.
 *
 * Real checkpoints vary in ways that don't change the model: keys with or without the
 * `transformer.` prefix (GPT2Model vs GPT2LMHeadModel), lm_head.weight stored or left tied,
 * causal-mask buffers saved by old transformers versions, F16/BF16 storage. All of those are
 * accepted. Anything that would change the model (a missing, extra or mis-shaped tensor) is refused
 * before the weights are read, with the tensor and the expected shape named.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { parseGpt2Config } from '@gpt2-int8/contract/gpt2-config';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { CheckpointError } from './checkpoint-error.js';
import type { Source } from '../source.js';
import type { CheckpointSource, FloatTensor, Gpt2Block, Gpt2Checkpoint, LayerNormWeights, LinearWeights } from './gpt2-weights.js';
import { isPickledFileName, pickledCheckpointMessage } from './pickled.js';
import { SourceHasher } from './source-hash.js';
import { isFloatDType, readSafetensorsHeader, readSafetensorsTensors } from './safetensors.js';
import type { SafetensorsEntry, SafetensorsHeader } from './safetensors.js';

export const CONFIG_FILE = 'config.json';
export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

const PREFIX = 'transformer.';
const LM_HEAD = 'lm_head.weight';
/** Causal-mask buffers older transformers versions saved with the weights; they hold no parameters. */
const LEGACY_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

export interface LoadHfOptions {
  /** How the result names its source; default `{ kind: 'hf-dir', id: <absolute directory> }`. */
  source?: Pick<Source, 'kind' | 'id'>;
}

/** Every GPT-2 parameter name (without prefix) and the shape the config implies for it. */
export function expectedGpt2Shapes(config: Gpt2Config): Map<string, number[]> {
  const E = config.n_embd;
  const m = new Map<string, number[]>([
    ['wte.weight', [config.vocab_size, E]],
    ['wpe.weight', [config.n_positions, E]],
  ]);
  for (let i = 0; i < config.n_layer; i++) {
    const p = `h.${i}.`;
    m.set(`${p}ln_1.weight`, [E]).set(`${p}ln_1.bias`, [E]);
    m.set(`${p}attn.c_attn.weight`, [E, 3 * E]).set(`${p}attn.c_attn.bias`, [3 * E]);
    m.set(`${p}attn.c_proj.weight`, [E, E]).set(`${p}attn.c_proj.bias`, [E]);
    m.set(`${p}ln_2.weight`, [E]).set(`${p}ln_2.bias`, [E]);
    m.set(`${p}mlp.c_fc.weight`, [E, 4 * E]).set(`${p}mlp.c_fc.bias`, [4 * E]);
    m.set(`${p}mlp.c_proj.weight`, [4 * E, E]).set(`${p}mlp.c_proj.bias`, [E]);
  }
  m.set('ln_f.weight', [E]).set('ln_f.bias', [E]);
  m.set(LM_HEAD, [config.vocab_size, E]);
  return m;
}

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function listSome(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

async function readJson(file: string, what: string): Promise<{ bytes: Buffer; value: unknown }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  try {
    return { bytes, value: JSON.parse(bytes.toString('utf8')) };
  } catch (e) {
    throw new CheckpointError(`${file}: ${what} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** A shard name from an index must be a plain file in the same directory: never a path out of it. */
export function isPlainSafetensorsName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*\.safetensors$/.test(name) && !name.includes('..') && !isAbsolute(name);
}

/** Shard file names from an index's weight_map, validated; also the map itself for cross-checks. */
export function parseSafetensorsIndex(value: unknown, where: string): { files: string[]; weightMap: Map<string, string> } {
  const wm = (value as { weight_map?: unknown } | null)?.weight_map;
  if (value === null || typeof value !== 'object' || wm === null || typeof wm !== 'object' || Array.isArray(wm)) {
    throw new CheckpointError(`${where}: no "weight_map" object; a sharded checkpoint's index maps each tensor name to its shard file`);
  }
  const weightMap = new Map<string, string>();
  for (const [tensor, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== 'string' || !isPlainSafetensorsName(file)) {
      throw new CheckpointError(`${where}: tensor "${tensor}" maps to ${JSON.stringify(file)}, which is not a plain *.safetensors file name in the same directory`);
    }
    weightMap.set(tensor, file);
  }
  if (weightMap.size === 0) throw new CheckpointError(`${where}: "weight_map" is empty`);
  return { files: [...new Set(weightMap.values())].sort(), weightMap };
}

/** Which files a Hugging Face GPT-2 directory keeps its weights in: one file, or an index and its shards. */
export type CheckpointLayout = { root: string; weightFiles: string[]; index?: { bytes: Buffer; weightMap: Map<string, string> } };

/** The files a checkpoint's sha256 covers, in the order it covers them: config, the index if any, the weights. */
export function checkpointFiles(layout: CheckpointLayout): string[] {
  return [CONFIG_FILE, ...(layout.index ? [INDEX_FILE] : []), ...layout.weightFiles].map((f) => join(layout.root, f));
}

/** The layout of `dir`, refusing a directory that is not a safetensors GPT-2 checkpoint before any weight is read. */
export async function checkpointLayout(dir: string): Promise<CheckpointLayout> {
  const root = resolve(dir);
  const expectation = 'expected a Hugging Face GPT-2 directory (config.json + model.safetensors)';
  const st = await stat(root).catch(() => undefined);
  if (st === undefined) throw new CheckpointError(`${root}: no such directory; ${expectation}`);
  if (!st.isDirectory()) throw new CheckpointError(`${root}: not a directory; ${expectation}`);
  const names = new Set(await readdir(root));
  let layout: CheckpointLayout;
  if (names.has(SINGLE_WEIGHTS_FILE)) {
    // The single file first, as transformers itself prefers it.
    layout = { root, weightFiles: [SINGLE_WEIGHTS_FILE] };
  } else if (names.has(INDEX_FILE)) {
    const indexPath = join(root, INDEX_FILE);
    const { bytes, value } = await readJson(indexPath, 'the shard index');
    const parsed = parseSafetensorsIndex(value, indexPath);
    for (const f of parsed.files) {
      if (!names.has(f)) throw new CheckpointError(`${indexPath}: shard "${f}" is listed in weight_map but missing from ${root}; copy or download it again`);
    }
    layout = { root, weightFiles: parsed.files, index: { bytes, weightMap: parsed.weightMap } };
  } else {
    const pickled = [...names].filter(isPickledFileName).sort();
    if (pickled.length > 0) throw new CheckpointError(pickledCheckpointMessage(root, pickled));
    throw new CheckpointError(`${root}: no ${SINGLE_WEIGHTS_FILE} or ${INDEX_FILE}; ${expectation}`);
  }
  if (!names.has(CONFIG_FILE)) throw new CheckpointError(`${root}: no ${CONFIG_FILE}; the model's hyper-parameters come from it (copy it from where the weights came from)`);
  return layout;
}

interface Located {
  file: string;
  header: SafetensorsHeader;
  entry: SafetensorsEntry;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export async function loadHfCheckpoint(dir: string, options: LoadHfOptions = {}): Promise<Gpt2Checkpoint> {
  const { root, weightFiles, index } = await checkpointLayout(dir);
  const configPath = join(root, CONFIG_FILE);
  const { bytes: configBytes, value: rawConfig } = await readJson(configPath, 'the model config');
  let config: Gpt2Config;
  try {
    config = parseGpt2Config(rawConfig, configPath);
  } catch (e) {
    // Its messages already name the file and the offending key; re-typed so callers catch one class.
    throw new CheckpointError((e as Error).message, { cause: e });
  }
  const rawObj = rawConfig as Record<string, unknown>;
  const synthetic = rawObj.synthetic === true;

  // Headers first: every name, shape and dtype is checked before gigabytes of data are read.
  const headers = new Map<string, SafetensorsHeader>();
  for (const f of weightFiles) headers.set(f, await readSafetensorsHeader(join(root, f)));

  const found = new Map<string, Located>();
  const unexpected: string[] = [];
  const expected = expectedGpt2Shapes(config);
  for (const [file, header] of headers) {
    for (const entry of header.entries) {
      const name = entry.name.startsWith(PREFIX) ? entry.name.slice(PREFIX.length) : entry.name;
      const previous = found.get(name);
      if (previous) {
        throw new CheckpointError(
          `${join(root, file)}: tensor "${entry.name}" is also stored as "${previous.entry.name}" in ${previous.file}; a checkpoint must hold each tensor once`,
        );
      }
      if (LEGACY_BUFFER.test(name)) continue;
      if (!expected.has(name)) {
        unexpected.push(entry.name);
        continue;
      }
      found.set(name, { file, header, entry });
    }
  }
  if (index) {
    for (const [tensor, file] of index.weightMap) {
      const bare = tensor.startsWith(PREFIX) ? tensor.slice(PREFIX.length) : tensor;
      const at = found.get(bare);
      if (!LEGACY_BUFFER.test(bare) && expected.has(bare) && at?.file !== file) {
        throw new CheckpointError(`${join(root, INDEX_FILE)}: weight_map puts "${tensor}" in ${file}, but ${at ? `it is in ${at.file}` : 'no shard holds it'}; the index and the shards do not belong together`);
      }
    }
  }
  if (unexpected.length > 0) {
    throw new CheckpointError(
      `${root}: unexpected tensor(s) ${listSome(unexpected)}, not part of a GPT-2 with n_layer=${config.n_layer} ` +
        `(does ${CONFIG_FILE} belong to these weights? only plain GPT-2 LM checkpoints are supported)`,
    );
  }
  const missing = [...expected.keys()].filter((n) => n !== LM_HEAD && !found.has(n));
  if (missing.length > 0) {
    throw new CheckpointError(
      `${root}: missing tensor(s) ${listSome(missing)} (with or without the "${PREFIX}" prefix) in ${weightFiles.join(', ')}; ` +
        `${CONFIG_FILE} says n_layer=${config.n_layer}: the weights are incomplete or belong to another config`,
    );
  }
  if (!found.has(LM_HEAD) && rawObj.tie_word_embeddings === false) {
    throw new CheckpointError(`${root}: ${CONFIG_FILE} sets tie_word_embeddings: false but there is no "${LM_HEAD}" tensor; the output layer is missing`);
  }
  for (const [name, at] of found) {
    const want = expected.get(name) ?? [];
    const got = at.entry.shape;
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
      throw new CheckpointError(
        `${join(root, at.file)}: tensor "${at.entry.name}" has shape ${shapeText(got)} but ${CONFIG_FILE} ` +
          `(n_embd=${config.n_embd}, n_positions=${config.n_positions}, vocab_size=${config.vocab_size}) implies ${shapeText(want)}; ` +
          'the config and the weights do not belong together',
      );
    }
    if (!isFloatDType(at.entry.dtype)) {
      throw new CheckpointError(`${join(root, at.file)}: tensor "${at.entry.name}" has dtype ${at.entry.dtype}; only F32, F16 and BF16 weights are supported`);
    }
  }

  // One pass over every file: the hash and the weights come from the same read.
  const hasher = new SourceHasher();
  hasher.begin(CONFIG_FILE, configBytes.length);
  hasher.update(configBytes);
  if (index) {
    hasher.begin(INDEX_FILE, index.bytes.length);
    hasher.update(index.bytes);
  }
  const tensors = new Map<string, FloatTensor>();
  const wanted = new Set([...found.values()].map((l) => l.entry.name));
  for (const file of weightFiles) {
    const header = headers.get(file);
    if (header === undefined) continue;
    hasher.begin(file, header.fileBytes);
    const read = await readSafetensorsTensors(header, { select: (e) => wanted.has(e.name), onBytes: (c) => hasher.update(c) });
    for (const [name, t] of read) tensors.set(name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name, t);
  }

  const get = (name: string): FloatTensor => {
    const t = tensors.get(name);
    if (t === undefined) throw new CheckpointError(`${root}: tensor "${name}" vanished while reading (was a file replaced during loading?)`);
    return t;
  };
  // A LayerNorm's parameters and a linear layer's alike: its weight and its bias.
  const params = (p: string): LayerNormWeights & LinearWeights => ({ weight: get(`${p}.weight`), bias: get(`${p}.bias`) });
  const blocks: Gpt2Block[] = [];
  for (let i = 0; i < config.n_layer; i++) {
    blocks.push({
      ln1: params(`h.${i}.ln_1`),
      attn: { qkv: params(`h.${i}.attn.c_attn`), proj: params(`h.${i}.attn.c_proj`) },
      ln2: params(`h.${i}.ln_2`),
      mlp: { fc: params(`h.${i}.mlp.c_fc`), proj: params(`h.${i}.mlp.c_proj`) },
    });
  }
  const wte = get('wte.weight');
  // A stored head that equals wte bit for bit is the tied head saved explicitly: report it as tied
  // so the graph shares one table instead of storing 150 MB twice.
  const storedHead = tensors.get(LM_HEAD);
  const lmHead = storedHead && !sameBits(storedHead.data, wte.data) ? storedHead : undefined;

  const source: CheckpointSource = { kind: options.source?.kind ?? 'hf-dir', id: options.source?.id ?? root, sha256: hasher.hex() };
  return { config, weights: { wte, wpe: get('wpe.weight'), blocks, lnF: params('ln_f'), ...(lmHead ? { lmHead } : {}) }, source, synthetic };
}
