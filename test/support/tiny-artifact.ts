import { inject } from 'vitest';

/** The directory of a tiny synthetic INT8 artifact built once per test run (see global-setup.ts). */
export function tinyArtifact(): string {
  return inject('tinyArtifactDir');
}

/** The tiny synthetic checkpoint (Hugging Face layout) that artifact was made from. */
export function tinyCheckpoint(): string {
  return inject('tinyCheckpointDir');
}
