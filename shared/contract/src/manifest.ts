import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Check as isManifest } from './checks/manifest.generated.js';
import type { Manifest } from './manifest-schema.js';

/** The artifact's files. The manifest is written last, so its presence means the rest is complete. */
export const ARTIFACT_FILES = {
  int8: 'model.int8.onnx',
  /** The INT8 graph's lookup tables as ONNX external data (see MODEL_DATA_FILES). */
  int8Data: 'model.int8.onnx.data',
  fp32: 'model.fp32.onnx',
  manifest: 'manifest.json',
  report: 'report.json',
} as const;

export const MANIFEST_FORMAT_VERSION = 2;

export type { Manifest, Quantization } from './manifest-schema.js';
export type ArtifactFile = keyof Manifest['files'];
/** The files ONNX Runtime loads a session from. */
export type ModelFile = typeof ARTIFACT_FILES.int8 | typeof ARTIFACT_FILES.fp32;

/**
 * The external data file a model file references, if any. The INT8 graph keeps its lookup tables
 * (token and position embeddings) there because ONNX Runtime memory-maps external data and a Gather
 * reads it in place: only the rows actually looked up become resident, and workers on one host share
 * the pages, where a table inside the .onnx file is copied into every worker's own memory.
 */
const MODEL_DATA_FILES: Readonly<Record<ModelFile, ArtifactFile | undefined>> = {
  [ARTIFACT_FILES.int8]: ARTIFACT_FILES.int8Data,
  [ARTIFACT_FILES.fp32]: undefined,
};

export class ArtifactError extends Error {
  override name = 'ArtifactError';
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads and validates `<dir>/manifest.json`. Throws ArtifactError (with the reason) when absent or invalid. */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, ARTIFACT_FILES.manifest);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ArtifactError(code === 'ENOENT' ? `${path} does not exist yet (has the quantizer run?)` : `${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ArtifactError(`${path} is not valid JSON; re-run the quantizer`);
  }
  if (isManifest(raw)) return raw as Manifest;
  // Only a bad manifest loads TypeBox, to say what is wrong with it.
  const [{ ManifestSchema }, { describeSchemaErrors }] = await Promise.all([import('./manifest-schema.js'), import('./checks/schema-errors.js')]);
  throw new ArtifactError(`${path} does not match manifest format ${MANIFEST_FORMAT_VERSION}: ${describeSchemaErrors(ManifestSchema, raw)}; re-run the quantizer`);
}

/**
 * Checks one artifact file against the manifest (size, then sha256) and returns its path. A reader
 * trusts nothing it has not checked: a truncated or replaced file is refused with the reason.
 */
export async function verifyArtifactFile(dir: string, manifest: Manifest, file: ArtifactFile): Promise<string> {
  const path = join(dir, file);
  const expected = manifest.files[file];
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new ArtifactError(`${path} is missing; re-run the quantizer`);
  }
  if (size !== expected.bytes) throw new ArtifactError(`${path} is ${size} bytes, the manifest says ${expected.bytes} (truncated or replaced); re-run the quantizer`);
  const actual = await sha256File(path);
  if (actual !== expected.sha256) throw new ArtifactError(`${path} has sha256 ${actual}, the manifest says ${expected.sha256} (replaced or corrupted); re-run the quantizer`);
  return path;
}

/** A model file and the external data file it references, if any: what a session is loaded from. */
export function modelFiles(model: ModelFile): ArtifactFile[] {
  const data = MODEL_DATA_FILES[model];
  return data === undefined ? [model] : [model, data];
}

/** Checks a model's files against the manifest; returns the model file's path. */
export async function verifyModelFiles(dir: string, manifest: Manifest, model: ModelFile): Promise<string> {
  for (const file of modelFiles(model)) await verifyArtifactFile(dir, manifest, file);
  return join(dir, model);
}
