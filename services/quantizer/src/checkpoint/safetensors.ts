/**
 * The safetensors format: 8-byte little-endian header length N, N bytes of JSON describing each
 * tensor (dtype, shape, [begin, end) offsets into the data section), then the data section.
 *
 * This is one of only two formats this project parses (the other is ONNX), because neither can
 * execute code when read. The reader trusts nothing in the header: a header that points outside the
 * file, overlapping or gapped tensors, or a size that does not match shape × dtype would otherwise
 * surface much later as garbage weights or an out-of-bounds read.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { CheckpointError } from './checkpoint-error.js';
import type { FloatTensor } from './gpt2-weights.js';
import { decodeBf16, decodeF16, encodeHalf } from './half-float.js';

/** Bytes per element of every dtype the format defines; a dtype not listed here is rejected. */
export const SAFETENSORS_DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_BYTES;

/** The dtypes the reader widens to Float32Array. */
export type FloatDType = 'F32' | 'F16' | 'BF16';
const FLOAT_DTYPES: ReadonlySet<string> = new Set<FloatDType>(['F32', 'F16', 'BF16']);

export function isFloatDType(d: SafetensorsDType): d is FloatDType {
  return FLOAT_DTYPES.has(d);
}

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  fileBytes: number;
  /** The first 8 + N bytes of the file, kept so a caller can hash the file while reading it once. */
  prefix: Uint8Array;
  /** Absolute file offset of the data section (8 + N). */
  dataOffset: number;
  metadata: Record<string, string>;
  /** Tensors in data-section order. */
  entries: SafetensorsEntry[];
}

// The reference implementation refuses headers above 100 MB; so do we, before allocating them.
const MAX_HEADER_BYTES = 100_000_000;
// Large enough to keep syscalls few, small enough that F16 staging buffers stay modest.
const READ_CHUNK_BYTES = 16 * 1024 * 1024;

function fail(file: string, what: string): never {
  throw new CheckpointError(`${file}: ${what}`);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

async function readExactly(fh: FileHandle, target: Uint8Array, position: number, file: string, what: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await fh.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) {
      fail(file, `file ended while reading ${what} (it is truncated or changed while being read); download or copy it again`);
    }
    done += bytesRead;
  }
}

/** Validates the JSON header against the file's size; every check names the tensor it is about. */
function parseHeaderJson(file: string, fileBytes: number, n: number, json: Uint8Array): Omit<SafetensorsHeader, 'prefix'> {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    fail(file, `the safetensors header is not valid JSON (${(e as Error).message}); the file is corrupt or not a safetensors file`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(file, 'the safetensors header is not a JSON object; the file is corrupt or not a safetensors file');
  }
  const dataBytes = fileBytes - 8 - n;
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
        fail(file, '"__metadata__" must be an object of strings');
      }
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    const where = `tensor "${key}"`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(file, `${where}: header entry is not an object`);
    const v = value as Record<string, unknown>;
    if (typeof v.dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, v.dtype)) {
      fail(file, `${where}: unknown dtype ${JSON.stringify(v.dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`);
    }
    const dtype = v.dtype as SafetensorsDType;
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      fail(file, `${where}: shape ${JSON.stringify(v.shape)} is not a list of non-negative integers`);
    }
    const shape = v.shape as number[];
    const offs = v.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) || (offs[0] as number) > (offs[1] as number)) {
      fail(file, `${where}: data_offsets ${JSON.stringify(offs)} is not a pair [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offs as [number, number];
    const expected = elementCount(shape) * SAFETENSORS_DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      fail(file, `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}; the file is corrupt`);
    }
    entries.push({ name: key, dtype, shape, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  // Contiguity, not just bounds: overlapping tensors would alias each other's bytes, and a gap would
  // leave bytes that no hash-while-reading pass accounts for.
  let expectedBegin = 0;
  for (const e of entries) {
    if (e.begin !== expectedBegin) {
      fail(file, `tensor "${e.name}" starts at data offset ${e.begin} but the previous tensor ends at ${expectedBegin} (tensors must be contiguous, without gaps or overlaps); the file is corrupt`);
    }
    if (e.end > dataBytes) {
      fail(file, `the file is truncated: tensor "${e.name}" needs bytes [${e.begin}, ${e.end}) of the data section but the file holds only ${Math.max(0, dataBytes)}; the download or copy was interrupted, fetch the file again`);
    }
    expectedBegin = e.end;
  }
  if (expectedBegin !== dataBytes) {
    fail(file, `${dataBytes - expectedBegin} unexpected bytes after the last tensor; the file is corrupt or was appended to`);
  }
  return { file, fileBytes, dataOffset: 8 + n, metadata, entries };
}

/** Reads and validates a safetensors header without touching the data section. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new CheckpointError(`${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  try {
    const fileBytes = (await fh.stat()).size;
    if (fileBytes < 8) fail(file, `the file is truncated: ${fileBytes} bytes is too short for a safetensors header; fetch the file again`);
    const lenBytes = new Uint8Array(8);
    await readExactly(fh, lenBytes, 0, file, 'the header length');
    const n64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (n64 > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${n64} is implausibly large (limit ${MAX_HEADER_BYTES}); this is not a safetensors file`);
    const n = Number(n64);
    if (n < 2) fail(file, `header length ${n} is too small for a JSON object; this is not a safetensors file`);
    if (8 + n > fileBytes) {
      fail(file, `the file is truncated: the header claims ${n} bytes but only ${fileBytes - 8} follow; fetch the file again (or it is not a safetensors file)`);
    }
    const prefix = new Uint8Array(8 + n);
    prefix.set(lenBytes, 0);
    await readExactly(fh, prefix.subarray(8), 8, file, 'the header');
    return { ...parseHeaderJson(file, fileBytes, n, prefix.subarray(8)), prefix };
  } finally {
    await fh.close();
  }
}

export interface ReadTensorsOptions {
  /** Which tensors to decode; the others are read past (and hashed) but not kept. Default: all. */
  select?: (entry: SafetensorsEntry) => boolean;
  /**
   * Receives every byte of the file exactly once, in file order (header included), so the caller
   * can hash the checkpoint in the same pass that loads it.
   */
  onBytes?: (chunk: Uint8Array) => void;
}

/**
 * Reads the tensors a header describes, widening F32/F16/BF16 to Float32Array. Each tensor is read
 * straight into its own array: no whole-file buffer, so peak memory is the weights plus one chunk.
 */
export async function readSafetensorsTensors(header: SafetensorsHeader, options: ReadTensorsOptions = {}): Promise<Map<string, FloatTensor>> {
  if (endianness() !== 'LE') throw new CheckpointError('safetensors data is little-endian and this host is big-endian, which is not supported');
  const { file } = header;
  const select = options.select ?? (() => true);
  const onBytes = options.onBytes;
  for (const e of header.entries) {
    if (select(e) && !isFloatDType(e.dtype)) {
      fail(file, `tensor "${e.name}" has dtype ${e.dtype}; only F32, F16 and BF16 weights are supported (convert the checkpoint, e.g. model.float().save_pretrained(...))`);
    }
  }
  onBytes?.(header.prefix);
  const tensors = new Map<string, FloatTensor>();
  const fh = await open(file, 'r');
  try {
    let staging: Uint8Array | undefined;
    for (const e of header.entries) {
      const pos = header.dataOffset + e.begin;
      const bytes = e.end - e.begin;
      const what = `tensor "${e.name}"`;
      if (!select(e)) {
        if (onBytes) {
          for (let off = 0; off < bytes; off += READ_CHUNK_BYTES) {
            staging ??= new Uint8Array(READ_CHUNK_BYTES);
            const chunk = staging.subarray(0, Math.min(READ_CHUNK_BYTES, bytes - off));
            await readExactly(fh, chunk, pos + off, file, what);
            onBytes(chunk);
          }
        }
        continue;
      }
      const data = new Float32Array(elementCount(e.shape));
      if (e.dtype === 'F32') {
        const target = new Uint8Array(data.buffer);
        for (let off = 0; off < bytes; off += READ_CHUNK_BYTES) {
          const chunk = target.subarray(off, Math.min(bytes, off + READ_CHUNK_BYTES));
          await readExactly(fh, chunk, pos + off, file, what);
          onBytes?.(chunk);
        }
      } else {
        const decode = e.dtype === 'F16' ? decodeF16 : decodeBf16;
        for (let off = 0; off < bytes; off += READ_CHUNK_BYTES) {
          staging ??= new Uint8Array(READ_CHUNK_BYTES);
          const chunk = staging.subarray(0, Math.min(READ_CHUNK_BYTES, bytes - off));
          await readExactly(fh, chunk, pos + off, file, what);
          onBytes?.(chunk);
          decode(chunk, data, off / 2);
        }
      }
      tensors.set(e.name, { dims: [...e.shape], data });
    }
  } finally {
    await fh.close();
  }
  return tensors;
}

/** Header and tensors in one call. */
export async function readSafetensors(file: string, options: ReadTensorsOptions = {}): Promise<{ header: SafetensorsHeader; tensors: Map<string, FloatTensor> }> {
  const header = await readSafetensorsHeader(file);
  return { header, tensors: await readSafetensorsTensors(header, options) };
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Float data, given whole or as consecutive chunks (so a 150 MB embedding can be generated in pieces). */
export type FloatSource = Float32Array | (() => Iterable<Float32Array>);

export interface FloatTensorToWrite {
  name: string;
  shape: readonly number[];
  /** Stored dtype; the values are narrowed with round-to-nearest-even. Default F32. */
  dtype?: FloatDType;
  data: FloatSource;
}

/** Pre-encoded bytes of any dtype: lets tests write the odd buffers real checkpoints carry. */
export interface RawTensorToWrite {
  name: string;
  shape: readonly number[];
  dtype: SafetensorsDType;
  raw: Uint8Array;
}

export type TensorToWrite = FloatTensorToWrite | RawTensorToWrite;

export interface WriteSafetensorsOptions {
  /** Written as "__metadata__" (string values only, per the format). */
  metadata?: Record<string, string>;
  onProgress?: (bytesWritten: number, totalBytes: number, tensor: string) => void;
  /** Receives every byte written, in order (for hashing without re-reading). */
  onBytes?: (chunk: Uint8Array) => void;
}

function storedDType(t: TensorToWrite): SafetensorsDType {
  return 'raw' in t ? t.dtype : (t.dtype ?? 'F32');
}

function* floatChunks(data: FloatSource): Iterable<Float32Array> {
  if (data instanceof Float32Array) yield data;
  else yield* data();
}

/**
 * Writes a safetensors file atomically (a temporary file beside it, fsync, rename), so a reader
 * never sees a half-written file under the final name and an interrupted write leaves the previous
 * file intact. Tensors are streamed one chunk at a time. Returns the file's size in bytes.
 */
export async function writeSafetensors(file: string, tensors: readonly TensorToWrite[], options: WriteSafetensorsOptions = {}): Promise<number> {
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = { ...options.metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.hasOwn(header, t.name)) throw new Error(`writeSafetensors: duplicate or reserved tensor name "${t.name}"`);
    const dtype = storedDType(t);
    const bytes = elementCount(t.shape) * SAFETENSORS_DTYPE_BYTES[dtype];
    if ('raw' in t && t.raw.length !== bytes) {
      throw new Error(`writeSafetensors: tensor "${t.name}" has ${t.raw.length} raw bytes, shape × ${dtype} needs ${bytes}`);
    }
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  // Pad the header with spaces to a multiple of 8 (as the reference writer does) so the data section
  // is aligned for readers that map the file and view it in place.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = new Uint8Array(8 + headerBytes.length);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  prefix.set(headerBytes, 8);
  const totalBytes = prefix.length + offset;

  if (endianness() !== 'LE') throw new Error('writeSafetensors: big-endian hosts are not supported');
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx');
  let closed = false;
  try {
    let written = 0;
    const write = async (chunk: Uint8Array, tensor: string) => {
      await fh.write(chunk);
      options.onBytes?.(chunk);
      written += chunk.length;
      options.onProgress?.(written, totalBytes, tensor);
    };
    await write(prefix, '');
    for (const t of tensors) {
      if ('raw' in t) {
        await write(t.raw, t.name);
        continue;
      }
      const dtype = t.dtype ?? 'F32';
      let count = 0;
      for (const chunk of floatChunks(t.data)) {
        count += chunk.length;
        if (count > elementCount(t.shape)) break;
        await write(dtype === 'F32' ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) : encodeHalf(dtype, chunk), t.name);
      }
      if (count !== elementCount(t.shape)) {
        throw new Error(`writeSafetensors: tensor "${t.name}" supplied ${count} values, shape [${t.shape.join(', ')}] needs ${elementCount(t.shape)}`);
      }
    }
    await fh.sync();
    await fh.close();
    closed = true;
    await rename(tmp, file);
    return totalBytes;
  } catch (e) {
    if (!closed) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
