import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeModel } from '../../services/quantizer/src/checkpoint/make-model.js';
import { QUANTIZE_DEFAULTS, quantizeArtifact } from '../../services/quantizer/src/quantize-artifact.js';

/**
 * A tiny synthetic checkpoint (`<root>/checkpoint`) and its artifact (`<root>/models/current`),
 * through the real quantizer code; another seed gives another model (another sha256).
 */
export async function buildTinyArtifact(root: string, seed: number): Promise<{ checkpoint: string; artifact: string }> {
  const checkpoint = join(root, 'checkpoint');
  const artifact = join(root, 'models', 'current');
  await makeModel({ outDir: checkpoint, preset: 'tiny', seed });
  await quantizeArtifact({
    ...QUANTIZE_DEFAULTS,
    source: { kind: 'hf-dir', path: checkpoint, id: checkpoint },
    outDir: artifact,
    reportRepetitions: 1,
    log: () => undefined,
  });
  return { checkpoint, artifact };
}

/**
 * Puts the artifact directory `staged` in place of `dir` the way the quantizer's writer does
 * (services/quantizer/src/artifact/write-artifact.ts): the old one renamed away, the new one renamed
 * in, the old one removed. Use it for artifacts the quantizer would never write (damaged ones).
 */
export function replaceArtifact(staged: string, dir: string): void {
  const old = `${dir}.old-test-${process.pid}`;
  renameSync(dir, old);
  renameSync(staged, dir);
  rmSync(old, { recursive: true, force: true });
}
