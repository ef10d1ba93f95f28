/** An artifact's two models loaded side by side, and the one forward pass everything here times. */
import { join } from 'node:path';
import { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { ARTIFACT_FILES, type Manifest, readManifest, verifyModelFiles } from '@gpt2-int8/contract/manifest';

export interface ModelPair {
  dir: string;
  manifest: Manifest;
  fp32: Gpt2Session;
  int8: Gpt2Session;
}

export function artifactPaths(dir: string): { fp32: string; int8: string } {
  return { fp32: join(dir, ARTIFACT_FILES.fp32), int8: join(dir, ARTIFACT_FILES.int8) };
}

/** Reads and checks the manifest (sizes and sha256 of both models' files), then loads both sessions. */
export async function loadModelPair(dir: string, threads: number): Promise<ModelPair> {
  const manifest = await readManifest(dir);
  const fp32Path = await verifyModelFiles(dir, manifest, ARTIFACT_FILES.fp32);
  const int8Path = await verifyModelFiles(dir, manifest, ARTIFACT_FILES.int8);
  const fp32 = await Gpt2Session.load(fp32Path, manifest.config, { threads });
  const int8 = await Gpt2Session.load(int8Path, manifest.config, { threads });
  return { dir, manifest, fp32, int8 };
}

export async function releasePair(pair: ModelPair): Promise<void> {
  await pair.fp32.release();
  await pair.int8.release();
}
