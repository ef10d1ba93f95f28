import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from './checkpoint-error.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from './safetensors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A safetensors file assembled by hand, so the reader is not only checked against our own writer. */
async function handMade(name: string, header: unknown, data: Uint8Array, headerLength?: number): Promise<string> {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  const file = join(dir, name);
  await writeFile(file, Buffer.concat([len, json, data]));
  return file;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

describe('readSafetensors', () => {
  it('reads a hand-made file: F32, F16 and BF16 widened, other dtypes only when not selected', async () => {
    const data = Buffer.concat([
      f32Bytes([1, 2, 3, 4, 5, 6]), // a: F32 [2, 3]
      Buffer.from([0x00, 0x3c, 0x00, 0xc0]), // b: F16 [2] = [1, -2]
      Buffer.from([0x49, 0x40]), // c: BF16 [] = 3.140625
      Buffer.from([1, 0, 1]), // d: BOOL [3]
    ]);
    const file = await handMade(
      'mixed.safetensors',
      {
        __metadata__: { format: 'pt' },
        c: { dtype: 'BF16', shape: [], data_offsets: [28, 30] },
        a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
        d: { dtype: 'BOOL', shape: [3], data_offsets: [30, 33] },
        b: { dtype: 'F16', shape: [2], data_offsets: [24, 28] },
      },
      data,
    );
    const chunks: Uint8Array[] = [];
    const { header, tensors } = await readSafetensors(file, { select: (e) => e.name !== 'd', onBytes: (c) => chunks.push(Uint8Array.from(c)) });
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.entries.map((e) => e.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(tensors.get('a')).toEqual({ dims: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    expect(tensors.get('b')).toEqual({ dims: [2], data: new Float32Array([1, -2]) });
    expect(tensors.get('c')).toEqual({ dims: [], data: new Float32Array([3.140625]) });
    expect(tensors.has('d')).toBe(false);
    // onBytes saw the whole file exactly once, in order.
    expect(Buffer.concat(chunks).equals(await readFile(file))).toBe(true);
  });

  it('refuses to decode a selected non-float tensor, naming it', async () => {
    const file = await handMade('int.safetensors', { ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    await expect(readSafetensors(file)).rejects.toThrow(/tensor "ids" has dtype I64; only F32, F16 and BF16/);
  });

  const bad: Array<[string, unknown, Uint8Array, RegExp, number?]> = [
    ['unknown dtype', { w: { dtype: 'F12', shape: [1], data_offsets: [0, 4] } }, f32Bytes([1]), /tensor "w": unknown dtype "F12"/],
    ['size mismatch', { w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f32Bytes([1]), /tensor "w": shape \[2\] of F32 needs 8 bytes but data_offsets \[0, 4\] hold 4/],
    ['bad shape', { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32Bytes([1]), /tensor "w": shape \[-1\] is not a list of non-negative integers/],
    ['bad offsets', { w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32Bytes([1]), /tensor "w": data_offsets \[4,0\]/],
    [
      'a gap',
      { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } },
      f32Bytes([1, 2, 3]),
      /tensor "b" starts at data offset 8 but the previous tensor ends at 4/,
    ],
    [
      'an overlap',
      { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } },
      f32Bytes([1, 2]),
      /tensor "b" starts at data offset 4 but the previous tensor ends at 8/,
    ],
    ['trailing bytes', { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32Bytes([1, 2]), /4 unexpected bytes after the last tensor/],
    ['an offset past the end', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32Bytes([1]), /truncated: tensor "a" needs bytes \[0, 8\) of the data section but the file holds only 4/],
    ['a non-object header', [1, 2], new Uint8Array(0), /header is not a JSON object/],
    ['metadata that is not strings', { __metadata__: { n: 1 } }, new Uint8Array(0), /"__metadata__" must be an object of strings/],
    ['a header length past the end', {}, new Uint8Array(0), /truncated: the header claims 1000 bytes but only 2 follow/, 1000],
  ];
  it.each(bad)('rejects %s with a message naming the file', async (label, header, data, message, headerLength) => {
    const file = await handMade(`${label.replaceAll(' ', '-')}.safetensors`, header, data, headerLength);
    const err = await readSafetensorsHeader(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(message);
  });

  it('rejects a file too short for a header, and one whose header is not JSON', async () => {
    const short = join(dir, 'short.safetensors');
    await writeFile(short, Buffer.from([1, 2, 3]));
    await expect(readSafetensorsHeader(short)).rejects.toThrow(/short\.safetensors: the file is truncated: 3 bytes/);
    const notJson = await handMade('notjson.safetensors', {}, new Uint8Array(0));
    const bytes = await readFile(notJson);
    bytes[8] = 0x78; // 'x' instead of '{'
    await writeFile(notJson, bytes);
    await expect(readSafetensorsHeader(notJson)).rejects.toThrow(/notjson\.safetensors: the safetensors header is not valid JSON/);
  });

  it('names the first tensor cut off when a written file is truncated', async () => {
    const file = join(dir, 'cut.safetensors');
    const size = await writeSafetensors(file, [
      { name: 'first', shape: [4], data: new Float32Array(4) },
      { name: 'second', shape: [4], data: new Float32Array(4) },
      { name: 'third', shape: [4], data: new Float32Array(4) },
    ]);
    await truncate(file, size - 20); // cuts into "second"
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/cut\.safetensors: the file is truncated: tensor "second" needs bytes \[16, 32\)/);
  });

  it('reports a missing file as a CheckpointError', async () => {
    await expect(readSafetensorsHeader(join(dir, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors: cannot open \(ENOENT\)/);
  });
});

describe('writeSafetensors', () => {
  it('round-trips F32, F16 and BF16 with metadata, chunked sources and an 8-byte aligned data section', async () => {
    const file = join(dir, 'roundtrip.safetensors');
    const values = new Float32Array([0.1, -1.5, 3.25, 1e-3, 65504, -0]);
    const written: Uint8Array[] = [];
    const progress: number[] = [];
    const size = await writeSafetensors(
      file,
      [
        { name: 'f32', shape: [2, 3], data: values },
        { name: 'f16', shape: [6], dtype: 'F16', data: () => [values.subarray(0, 4), values.subarray(4)] },
        { name: 'bf16', shape: [3, 2], dtype: 'BF16', data: values },
        { name: 'mask', shape: [2], dtype: 'BOOL', raw: new Uint8Array([1, 0]) },
      ],
      { metadata: { format: 'pt', note: 'x' }, onBytes: (c) => written.push(Uint8Array.from(c)), onProgress: (done) => progress.push(done) },
    );
    const bytes = await readFile(file);
    expect(bytes.length).toBe(size);
    expect(Buffer.concat(written).equals(bytes)).toBe(true);
    expect(progress.at(-1)).toBe(size);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const { header, tensors } = await readSafetensors(file, { select: (e) => e.name !== 'mask' });
    expect(header.metadata).toEqual({ format: 'pt', note: 'x' });
    expect(header.entries.map((e) => [e.name, e.dtype])).toEqual([
      ['f32', 'F32'],
      ['f16', 'F16'],
      ['bf16', 'BF16'],
      ['mask', 'BOOL'],
    ]);
    expect(tensors.get('f32')?.data).toEqual(values);
    expect(tensors.get('f16')?.dims).toEqual([6]);
    expect([...(tensors.get('f16')?.data ?? [])]).toEqual([0.0999755859375, -1.5, 3.25, 0.0010004043579101562, 65504, -0]);
    expect([...(tensors.get('bf16')?.data ?? [])]).toEqual([0.10009765625, -1.5, 3.25, 0.00099945068359375, 65536, -0]);
  });

  it('leaves nothing behind when a source supplies the wrong number of values', async () => {
    const sub = await mkdtemp(join(dir, 'fail-'));
    const file = join(sub, 'bad.safetensors');
    await expect(writeSafetensors(file, [{ name: 'w', shape: [3], data: new Float32Array(2) }])).rejects.toThrow(/supplied 2 values, shape \[3\] needs 3/);
    expect(await readdir(sub)).toEqual([]);
  });

  it('replaces an existing file only once the new one is complete', async () => {
    const file = join(dir, 'replace.safetensors');
    await writeSafetensors(file, [{ name: 'old', shape: [1], data: new Float32Array([1]) }]);
    const before = createHash('sha256').update(await readFile(file)).digest('hex');
    await expect(
      writeSafetensors(file, [
        {
          name: 'new',
          shape: [2],
          data: function* () {
            yield new Float32Array([1]);
            throw new Error('generator failed midway');
          },
        },
      ]),
    ).rejects.toThrow('generator failed midway');
    expect(createHash('sha256').update(await readFile(file)).digest('hex')).toBe(before);
  });
});
