import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from './checkpoint-error.js';
import type { Gpt2Checkpoint } from './gpt2-weights.js';
import { f16ToF32, f32ToBf16, f32ToF16, bf16ToF32 } from './half-float.js';
import { expectedGpt2Shapes, loadHfCheckpoint } from './hf-checkpoint.js';
import { writeSafetensors } from './safetensors.js';
import type { FloatDType, TensorToWrite } from './safetensors.js';
import { syntheticConfigJson } from './synthetic.js';

// A GPT-2 small enough that every variant below is a few kilobytes.
const CFG: Gpt2Config = { n_layer: 2, n_embd: 8, n_head: 2, n_positions: 16, vocab_size: 32, layer_norm_epsilon: 1e-5 };
const TENSOR_NAMES = [...expectedGpt2Shapes(CFG).keys()].filter((n) => n !== 'lm_head.weight');

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hf-checkpoint-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * Every tensor gets values derived from its position in TENSOR_NAMES (value = index + j/1000), so a
 * test can tell from a loaded weight which stored tensor it came from.
 */
function values(name: string, count: number): Float32Array {
  const base = TENSOR_NAMES.indexOf(name) + 1;
  return Float32Array.from({ length: count }, (_, j) => base + (j % 997) / 1000);
}

interface Variant {
  prefix?: boolean;
  dtype?: FloatDType;
  lmHead?: 'absent' | 'same' | 'different';
  legacyBuffers?: boolean;
  drop?: string[];
  reshape?: Record<string, number[]>;
  extra?: TensorToWrite[];
  config?: Record<string, unknown>;
}

function tensorsFor(v: Variant): TensorToWrite[] {
  const prefix = v.prefix === false ? '' : 'transformer.';
  const out: TensorToWrite[] = [];
  const shapes = expectedGpt2Shapes(CFG);
  for (const name of TENSOR_NAMES) {
    if (v.drop?.includes(name)) continue;
    const shape = v.reshape?.[name] ?? shapes.get(name) ?? [];
    out.push({ name: prefix + name, shape, dtype: v.dtype ?? 'F32', data: values(name, shape.reduce((a, b) => a * b, 1)) });
    if (v.legacyBuffers && name.endsWith('attn.c_attn.weight')) {
      const layer = name.split('.')[1];
      const mask = new Float32Array(CFG.n_positions * CFG.n_positions).map((_, i) => (i % CFG.n_positions <= Math.floor(i / CFG.n_positions) ? 1 : 0));
      out.push({ name: `${prefix}h.${layer}.attn.bias`, shape: [1, 1, CFG.n_positions, CFG.n_positions], data: mask });
      out.push({ name: `${prefix}h.${layer}.attn.masked_bias`, shape: [], data: new Float32Array([-1e4]) });
    }
  }
  const wte = values('wte.weight', CFG.vocab_size * CFG.n_embd);
  if (v.lmHead === 'same') out.push({ name: 'lm_head.weight', shape: [CFG.vocab_size, CFG.n_embd], dtype: v.dtype ?? 'F32', data: wte });
  if (v.lmHead === 'different') out.push({ name: 'lm_head.weight', shape: [CFG.vocab_size, CFG.n_embd], dtype: v.dtype ?? 'F32', data: wte.map((x) => -x) });
  return [...out, ...(v.extra ?? [])];
}

async function newDir(): Promise<string> {
  const d = join(root, `ckpt-${++counter}`);
  await mkdir(d);
  return d;
}

async function writeConfig(d: string, v: Variant): Promise<void> {
  await writeFile(join(d, 'config.json'), JSON.stringify(v.config ?? syntheticConfigJson(CFG, 0)));
}

async function singleFile(v: Variant = {}): Promise<string> {
  const d = await newDir();
  await writeConfig(d, v);
  await writeSafetensors(join(d, 'model.safetensors'), tensorsFor(v), { metadata: { format: 'pt' } });
  return d;
}

async function sharded(v: Variant = {}, shards = 3): Promise<string> {
  const d = await newDir();
  await writeConfig(d, v);
  const tensors = tensorsFor(v);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-0000${s + 1}-of-0000${shards}.safetensors`;
    const mine = tensors.filter((_, i) => i % shards === s);
    for (const t of mine) weightMap[t.name] = file;
    await writeSafetensors(join(d, file), mine);
  }
  await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return d;
}

async function loadError(d: string): Promise<CheckpointError> {
  const e = await loadHfCheckpoint(d).catch((err: unknown) => err);
  expect(e).toBeInstanceOf(CheckpointError);
  return e as CheckpointError;
}

/** The weights, flattened back to HF names, for comparing two loads. */
function byName(c: Gpt2Checkpoint): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>([
    ['wte.weight', c.weights.wte.data],
    ['wpe.weight', c.weights.wpe.data],
    ['ln_f.weight', c.weights.lnF.weight.data],
    ['ln_f.bias', c.weights.lnF.bias.data],
  ]);
  c.weights.blocks.forEach((b, i) => {
    const p = `h.${i}.`;
    m.set(`${p}ln_1.weight`, b.ln1.weight.data).set(`${p}ln_1.bias`, b.ln1.bias.data);
    m.set(`${p}attn.c_attn.weight`, b.attn.qkv.weight.data).set(`${p}attn.c_attn.bias`, b.attn.qkv.bias.data);
    m.set(`${p}attn.c_proj.weight`, b.attn.proj.weight.data).set(`${p}attn.c_proj.bias`, b.attn.proj.bias.data);
    m.set(`${p}ln_2.weight`, b.ln2.weight.data).set(`${p}ln_2.bias`, b.ln2.bias.data);
    m.set(`${p}mlp.c_fc.weight`, b.mlp.fc.weight.data).set(`${p}mlp.c_fc.bias`, b.mlp.fc.bias.data);
    m.set(`${p}mlp.c_proj.weight`, b.mlp.proj.weight.data).set(`${p}mlp.c_proj.bias`, b.mlp.proj.bias.data);
  });
  return m;
}

function expectExactWeights(c: Gpt2Checkpoint, widen: (x: number) => number = (x) => x): void {
  const shapes = expectedGpt2Shapes(CFG);
  const got = byName(c);
  expect([...got.keys()].sort()).toEqual([...TENSOR_NAMES].sort());
  for (const [name, data] of got) {
    const count = (shapes.get(name) ?? []).reduce((a, b) => a * b, 1);
    expect(data, name).toEqual(values(name, count).map(widen));
  }
  expect(c.weights.wte.dims).toEqual([CFG.vocab_size, CFG.n_embd]);
  expect(c.weights.blocks[1]?.mlp.fc.weight.dims).toEqual([CFG.n_embd, 4 * CFG.n_embd]);
}

describe('loadHfCheckpoint: accepted variants', () => {
  it('loads transformer.-prefixed keys into the right fields, tied head, config and hash', async () => {
    const d = await singleFile();
    const c = await loadHfCheckpoint(d);
    expect(c.config).toEqual(CFG);
    expect(c.synthetic).toBe(true);
    expect(c.weights.lmHead).toBeUndefined();
    expectExactWeights(c);
    // The source hash is defined as: for config.json then each weight file, "name\0size\0" + bytes.
    const h = createHash('sha256');
    for (const f of ['config.json', 'model.safetensors']) {
      const bytes = await readFile(join(d, f));
      h.update(`${f}\0${bytes.length}\0`).update(bytes);
    }
    expect(c.source).toEqual({ kind: 'hf-dir', id: d, sha256: h.digest('hex') });
  });

  it('loads keys without the prefix to the same weights', async () => {
    expectExactWeights(await loadHfCheckpoint(await singleFile({ prefix: false })));
  });

  it('treats an lm_head.weight equal to wte as tied, and a different one as untied', async () => {
    const same = await loadHfCheckpoint(await singleFile({ lmHead: 'same' }));
    expect(same.weights.lmHead).toBeUndefined();
    const diff = await loadHfCheckpoint(await singleFile({ lmHead: 'different', config: { ...syntheticConfigJson(CFG, 0), tie_word_embeddings: false } }));
    expect(diff.weights.lmHead?.dims).toEqual([CFG.vocab_size, CFG.n_embd]);
    expect(diff.weights.lmHead?.data).toEqual(values('wte.weight', CFG.vocab_size * CFG.n_embd).map((x) => -x));
    expectExactWeights(diff);
  });

  it('ignores legacy attn.bias / attn.masked_bias buffers, in F32 and as BOOL', async () => {
    expectExactWeights(await loadHfCheckpoint(await singleFile({ legacyBuffers: true })));
    const boolMask: TensorToWrite = { name: 'h.0.attn.bias', shape: [1, 1, 2, 2], dtype: 'BOOL', raw: new Uint8Array([1, 0, 1, 1]) };
    expectExactWeights(await loadHfCheckpoint(await singleFile({ prefix: false, extra: [boolMask] })));
  });

  it('widens F16 and BF16 checkpoints exactly', async () => {
    expectExactWeights(await loadHfCheckpoint(await singleFile({ dtype: 'F16' })), (x) => f16ToF32(f32ToF16(x)));
    const bf = await loadHfCheckpoint(await singleFile({ dtype: 'BF16', lmHead: 'same' }));
    expectExactWeights(bf, (x) => bf16ToF32(f32ToBf16(x)));
    expect(bf.weights.lmHead).toBeUndefined();
  });

  it('loads a sharded checkpoint through its index, hashing the index and shards in name order', async () => {
    const d = await sharded({ lmHead: 'different', config: { ...syntheticConfigJson(CFG, 0), tie_word_embeddings: false } });
    const c = await loadHfCheckpoint(d);
    expectExactWeights(c);
    expect(c.weights.lmHead).toBeDefined();
    const h = createHash('sha256');
    for (const f of ['config.json', 'model.safetensors.index.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']) {
      const bytes = await readFile(join(d, f));
      h.update(`${f}\0${bytes.length}\0`).update(bytes);
    }
    expect(c.source.sha256).toBe(h.digest('hex'));
  });

  it('labels a hub source as asked and reads synthetic: false from a real-looking config', async () => {
    const config = { ...syntheticConfigJson(CFG, 0) };
    delete config.synthetic;
    const d = await singleFile({ config });
    const c = await loadHfCheckpoint(d, { source: { kind: 'hub', id: 'org/model@main' } });
    expect(c.synthetic).toBe(false);
    expect(c.source.kind).toBe('hub');
    expect(c.source.id).toBe('org/model@main');
  });

  const student = join(import.meta.dirname, '../../../../../shared/models/student-tiny');
  const hasStudent = existsSync(student);
  if (!hasStudent) console.warn(`student-tiny checkpoint not found at ${student}: skipping the test that loads real trained weights`);
  it.skipIf(!hasStudent)('loads the trained student-tiny checkpoint beside the repository (needs ../shared/models/student-tiny)', async () => {
    const c = await loadHfCheckpoint(student);
    expect(c.config).toMatchObject({ n_layer: 4, n_embd: 128, n_head: 4, n_positions: 256, vocab_size: 50257 });
    expect(c.synthetic).toBe(false);
    expect(c.weights.lmHead).toBeUndefined();
    expect(c.weights.blocks).toHaveLength(4);
    expect(c.source.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('loadHfCheckpoint: refused input', () => {
  it('refuses a config that is not GPT-2, naming config.json', async () => {
    const e = await loadError(await singleFile({ config: { ...syntheticConfigJson(CFG, 0), model_type: 'llama' } }));
    expect(e.message).toMatch(/config\.json: model_type is "llama", only "gpt2"/);
    const e2 = await loadError(await singleFile({ config: { ...syntheticConfigJson(CFG, 0), activation_function: 'relu' } }));
    expect(e2.message).toMatch(/config\.json: activation_function "relu" is not supported/);
  });

  it('refuses a config.json that is not JSON, or absent', async () => {
    const d = await singleFile();
    await writeFile(join(d, 'config.json'), '{ not json');
    expect((await loadError(d)).message).toMatch(/config\.json: the model config is not valid JSON/);
    await rm(join(d, 'config.json'));
    expect((await loadError(d)).message).toMatch(/no config\.json/);
  });

  it('names a missing tensor', async () => {
    const e = await loadError(await singleFile({ drop: ['h.1.mlp.c_fc.bias'] }));
    expect(e.message).toMatch(/missing tensor\(s\) "h\.1\.mlp\.c_fc\.bias"/);
  });

  it('names a mis-shaped tensor with the expected and actual shape', async () => {
    const e = await loadError(await singleFile({ reshape: { 'h.0.attn.c_attn.weight': [24, 8] } }));
    expect(e.message).toMatch(/model\.safetensors: tensor "transformer\.h\.0\.attn\.c_attn\.weight" has shape \[24, 8\] but config\.json .* implies \[8, 24\]/);
  });

  it('refuses weights for more layers than the config has', async () => {
    const extra: TensorToWrite = { name: 'transformer.h.2.ln_1.weight', shape: [8], data: new Float32Array(8) };
    const e = await loadError(await singleFile({ extra: [extra] }));
    expect(e.message).toMatch(/unexpected tensor\(s\) "transformer\.h\.2\.ln_1\.weight", not part of a GPT-2 with n_layer=2/);
  });

  it('refuses the same tensor stored with and without the prefix', async () => {
    const dup: TensorToWrite = { name: 'wpe.weight', shape: [16, 8], data: new Float32Array(128) };
    const e = await loadError(await singleFile({ extra: [dup] }));
    expect(e.message).toMatch(/tensor "wpe\.weight" is also stored as "transformer\.wpe\.weight"/);
  });

  it('refuses tie_word_embeddings: false without an lm_head', async () => {
    const e = await loadError(await singleFile({ config: { ...syntheticConfigJson(CFG, 0), tie_word_embeddings: false } }));
    expect(e.message).toMatch(/tie_word_embeddings: false but there is no "lm_head\.weight"/);
  });

  it('refuses an integer weight tensor, naming it', async () => {
    const d = await newDir();
    await writeConfig(d, {});
    const tensors = tensorsFor({}).map((t): TensorToWrite => (t.name === 'transformer.wpe.weight' ? { name: t.name, shape: t.shape, dtype: 'I32', raw: new Uint8Array(16 * 8 * 4) } : t));
    await writeSafetensors(join(d, 'model.safetensors'), tensors);
    expect((await loadError(d)).message).toMatch(/tensor "transformer\.wpe\.weight" has dtype I32; only F32, F16 and BF16/);
  });

  it('names the file and tensor of a truncated checkpoint', async () => {
    const d = await singleFile();
    const file = join(d, 'model.safetensors');
    const size = (await readFile(file)).length;
    await truncate(file, size - 4); // the last 4 bytes belong to the last tensor, ln_f.bias
    const e = await loadError(d);
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/truncated: tensor "transformer\.ln_f\.bias" needs bytes \[\d+, \d+\) of the data section/);
    expect(e.message).toMatch(/fetch the file again/);
  });

  it('refuses a pickled-only directory, explaining why and how to convert', async () => {
    const d = await newDir();
    await writeConfig(d, {});
    await writeFile(join(d, 'pytorch_model.bin'), 'not really a pickle');
    const e = await loadError(d);
    expect(e.message).toMatch(/only a pickled PyTorch checkpoint \(pytorch_model\.bin\)/);
    expect(e.message).toMatch(/execute arbitrary code/);
    expect(e.message).toMatch(/safe_serialization=True/);
  });

  it('refuses a directory without weights, a missing directory and a file', async () => {
    const d = await newDir();
    await writeConfig(d, {});
    expect((await loadError(d)).message).toMatch(/no model\.safetensors or model\.safetensors\.index\.json/);
    expect((await loadError(join(root, 'nowhere'))).message).toMatch(/nowhere: no such directory/);
    expect((await loadError(join(d, 'config.json'))).message).toMatch(/config\.json: not a directory/);
  });

  it('refuses a sharded index that names a missing shard or a path outside the directory', async () => {
    const d = await sharded();
    await rm(join(d, 'model-00002-of-00003.safetensors'));
    expect((await loadError(d)).message).toMatch(/shard "model-00002-of-00003\.safetensors" is listed in weight_map but missing/);
    const d2 = await sharded();
    const index = JSON.parse(await readFile(join(d2, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    index.weight_map['transformer.wte.weight'] = '../outside.safetensors';
    await writeFile(join(d2, 'model.safetensors.index.json'), JSON.stringify(index));
    expect((await loadError(d2)).message).toMatch(/"transformer\.wte\.weight" maps to "\.\.\/outside\.safetensors", which is not a plain/);
  });

  it('refuses an index whose weight_map disagrees with the shards', async () => {
    const d = await sharded();
    const indexPath = join(d, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map: Record<string, string> };
    const wrong = index.weight_map['transformer.wte.weight'] === 'model-00001-of-00003.safetensors' ? 'model-00002-of-00003.safetensors' : 'model-00001-of-00003.safetensors';
    index.weight_map['transformer.wte.weight'] = wrong;
    await writeFile(indexPath, JSON.stringify(index));
    expect((await loadError(d)).message).toMatch(new RegExp(`weight_map puts "transformer\\.wte\\.weight" in ${wrong.replaceAll('.', '\\.')}, but it is in`));
  });
});
