import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildTinyArtifact } from './build-artifact.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A tiny synthetic GPT-2 checkpoint (HF layout) and its INT8 artifact, built once per run. */
    tinyCheckpointDir: string;
    tinyArtifactDir: string;
  }
}

/**
 * Builds one tiny synthetic model and its artifact for the whole test run, through the real
 * quantizer code, so service tests have a real ONNX model without each building its own.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const root = mkdtempSync(join(tmpdir(), 'gpt2-int8-tests-'));
  const { checkpoint, artifact } = await buildTinyArtifact(root, 1);
  project.provide('tinyCheckpointDir', checkpoint);
  project.provide('tinyArtifactDir', artifact);
  return () => rmSync(root, { recursive: true, force: true });
}
