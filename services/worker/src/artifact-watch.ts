/**
 * The artifact directory's fingerprint, polled: while a worker cannot serve its artifact, a change
 * makes it try again by itself instead of needing a restart; while it serves, a change is a new
 * artifact to swap to (model-swap.ts).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ARTIFACT_FILES, modelFiles } from '@gpt2-int8/contract/manifest';

/** Size, mtime and inode of the manifest and the models' files: changes when any of them is rewritten. */
export async function artifactFingerprint(dir: string): Promise<string> {
  const parts = await Promise.all(
    [ARTIFACT_FILES.manifest, ...modelFiles(ARTIFACT_FILES.int8), ...modelFiles(ARTIFACT_FILES.fp32)].map(async (f) => {
      try {
        const s = await stat(join(dir, f));
        return `${f}:${s.size}:${s.mtimeMs}:${s.ino}`;
      } catch {
        return `${f}:absent`;
      }
    }),
  );
  return parts.join('|');
}

/** Resolves when the artifact's fingerprint differs from `since`, polling every `pollMs`. */
export async function waitForArtifactChange(dir: string, since: string, opts: { pollMs: number; signal?: AbortSignal }): Promise<void> {
  for (;;) {
    await sleep(opts.pollMs, undefined, opts.signal ? { signal: opts.signal } : {});
    if ((await artifactFingerprint(dir)) !== since) return;
  }
}
