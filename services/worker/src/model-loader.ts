/**
 * Getting from an artifact directory to a session that is safe to serve: wait for the manifest
 * (written last by the quantizer), check the model's files' sizes and sha256 against the manifest, load
 * it, make sure the artifact did not change meanwhile, and check the graph against the config.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Tensor } from 'onnxruntime-node';
import { Gpt2Session, leftPad } from '@gpt2-int8/runtime/gpt2-session';
import { ARTIFACT_FILES, type ArtifactFile, ArtifactError, type Manifest, type ModelFile, modelFiles, readManifest, verifyModelFiles } from '@gpt2-int8/contract/manifest';
import { EOS_TOKEN_ID } from '@gpt2-int8/runtime/tokenizer';
import { checkGraph, checkProbe, checkTokenizerFits } from './graph-check.js';

export interface LoadedModel {
  file: ModelFile;
  session: Gpt2Session;
  manifest: Manifest;
  sha256: string;
  /** Read + verify + session creation + probe, in ms. */
  loadMs: number;
}

/** The artifact was replaced between its verification and its load: the newer one is to be loaded. */
export class ArtifactReplaced extends ArtifactError {
  override name = 'ArtifactReplaced';
}

/** Waiting for the manifest took longer than MODEL_WAIT_MAX_MS. */
export class ManifestWaitTimeout extends ArtifactError {
  override name = 'ManifestWaitTimeout';
}

export async function manifestExists(dir: string): Promise<boolean> {
  try {
    await access(join(dir, ARTIFACT_FILES.manifest));
    return true;
  } catch {
    return false;
  }
}

/** 250 ms, doubling, at most 5 s: quick when the quantizer is about to finish, quiet when it is not. */
export function backoffDelay(attempt: number): number {
  return Math.min(250 * 2 ** attempt, 5000);
}

export interface WaitOptions {
  /** Give up after this long (0: never). */
  maxWaitMs: number;
  /** Called before each wait with how long it will be and how long it has waited so far. */
  onWait?: (info: { attempt: number; delayMs: number; waitedMs: number; path: string }) => void;
  signal?: AbortSignal;
}

/**
 * Resolves with the manifest once manifest.json exists. A manifest that exists but is invalid is an
 * error at once (the quantizer writes it last and atomically, so it is not half-written).
 */
export async function waitForManifest(dir: string, opts: WaitOptions): Promise<Manifest> {
  const started = Date.now();
  const path = join(dir, ARTIFACT_FILES.manifest);
  for (let attempt = 0; ; attempt++) {
    opts.signal?.throwIfAborted();
    if (await manifestExists(dir)) return readManifest(dir);
    const waitedMs = Date.now() - started;
    if (opts.maxWaitMs > 0 && waitedMs >= opts.maxWaitMs) {
      throw new ManifestWaitTimeout(`gave up after ${Math.round(waitedMs / 1000)} s (MODEL_WAIT_MAX_MS=${opts.maxWaitMs}): ${path} still does not exist; has the quantizer run?`);
    }
    const delayMs = opts.maxWaitMs > 0 ? Math.min(backoffDelay(attempt), Math.max(1, opts.maxWaitMs - waitedMs)) : backoffDelay(attempt);
    opts.onWait?.({ attempt, delayMs, waitedMs, path });
    await sleep(delayMs, undefined, opts.signal ? { signal: opts.signal } : {});
  }
}

/** Loads, checks and warms one of the artifact's models. Throws ArtifactError with the reason. */
export async function loadModel(dir: string, manifest: Manifest, file: ModelFile, opts: { threads: number }): Promise<LoadedModel> {
  const started = performance.now();
  const config = manifest.config;
  const fits = checkTokenizerFits(config);
  if (fits.length > 0) throw new ArtifactError(`${join(dir, ARTIFACT_FILES.manifest)}: ${fits.join('; ')}`);
  // Verified by streaming, then loaded by path: holding the file in a Buffer for ONNX Runtime keeps
  // its size in the worker's memory until a garbage collection that may never come.
  const path = await verifyModelFiles(dir, manifest, file);
  let session: Gpt2Session;
  try {
    session = await Gpt2Session.load(path, config, { threads: opts.threads });
  } catch (err) {
    throw new ArtifactError(`${join(dir, file)} could not be loaded by ONNX Runtime: ${(err as Error).message}`);
  }
  // The quantizer replaces an artifact by renaming its directory: one swapped in between the check
  // and the load shows as a different manifest, and the load starts over from it.
  const after = await readManifest(dir).catch(() => undefined);
  const changed = (f: ArtifactFile) => after?.files[f].sha256 !== manifest.files[f].sha256;
  if (after?.created_at !== manifest.created_at || modelFiles(file).some(changed)) {
    await session.release();
    throw new ArtifactReplaced(`${join(dir, file)} was replaced while it was loading; loading the new artifact`);
  }
  try {
    const ort = session.session;
    const shapes = new Map<string, ReadonlyArray<number | string>>();
    for (const m of [...ort.inputMetadata, ...ort.outputMetadata]) if (m.isTensor) shapes.set(m.name, m.shape);
    const problems = checkGraph({ inputNames: ort.inputNames, outputNames: ort.outputNames, shapes }, config);
    if (problems.length === 0) problems.push(...(await probe(session)));
    if (problems.length > 0) throw new ArtifactError(`${join(dir, file)} does not match its manifest: ${problems.join('; ')}`);
  } catch (err) {
    await session.release();
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(`${join(dir, file)} failed a probe step: ${(err as Error).message}`);
  }
  return { file, session, manifest, sha256: manifest.files[file].sha256, loadMs: performance.now() - started };
}

/** One two-token step: checks the output shapes and warms the session up. */
async function probe(session: Gpt2Session): Promise<string[]> {
  const out = await session.step(leftPad([[EOS_TOKEN_ID, EOS_TOKEN_ID]], EOS_TOKEN_ID), session.emptyCache(1));
  const presentDims = out.cache.keys.flatMap((k, l) => [k, out.cache.values[l] as Tensor]).map((t) => t.dims);
  return checkProbe({ logitsLength: out.logits.length, batch: out.batch, seq: out.seq, positions: out.positions, presentDims }, session.config);
}
