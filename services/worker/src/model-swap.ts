/**
 * Hot model swap: while serving, the worker polls the artifact's fingerprint; when the quantizer
 * has written a different model into MODEL_DIR, the worker takes the fleet's swap lock
 * (swap-lock.ts), verifies and loads the new model, and hands it to `switchTo` (which starts no
 * more jobs on the old model, lets the ones in flight finish on it, and serves the new one).
 *
 * The new model is loaded BEFORE the old one is given up, while the worker keeps serving: the pause
 * in starting jobs then lasts only as long as the jobs in flight, not a verify-and-load (seconds for
 * a real model), and a damaged artifact is refused without the worker ever stopping. The price is
 * a second session in memory for the length of the load; the lock bounds that to one worker of the
 * fleet at a time.
 *
 * A new artifact that cannot be served (sha256 mismatch, truncated, invalid manifest, graph not
 * matching) is refused: the old model keeps serving, the log and the heartbeat's `swap` say why,
 * and the worker tries again when the files change again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelSwap } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { ARTIFACT_FILES, ArtifactError, type Manifest, readManifest } from '@gpt2-int8/contract/manifest';
import { artifactFingerprint } from './artifact-watch.js';
import { ArtifactReplaced, manifestExists } from './model-loader.js';
import type { ServedModel } from './served-model.js';
import type { HeldSwapLock } from './swap-lock.js';

export interface SwapDeps {
  modelDir: string;
  pollMs: number;
  /** Ends the watch (the worker is closing). */
  signal: AbortSignal;
  logger: Logger;
  /** The fingerprint of the artifact the model being served was loaded from. */
  since: string;
  /** The manifest of the model being served. */
  current(): Manifest;
  /** Publishes the swap's progress or refusal in the heartbeat (undefined: nothing to say). */
  note(swap: ModelSwap | undefined): Promise<void>;
  lock(onWait: (holder: string) => void): Promise<HeldSwapLock>;
  open(manifest: Manifest): Promise<ServedModel>;
  /** Starts no more jobs on the old model, waits for those in flight, serves `next`, releases the old model. */
  switchTo(next: ServedModel): Promise<void>;
}

/** Same model files and config: a rewrite of the artifact being served (e.g. the same source quantized again). */
export function sameModel(a: Manifest, b: Manifest): boolean {
  return JSON.stringify([a.files, a.config]) === JSON.stringify([b.files, b.config]);
}

const int8Sha = (m: Manifest) => m.files[ARTIFACT_FILES.int8].sha256;

/** Runs until `signal` aborts; resolves then. */
export async function watchForNewModel(deps: SwapDeps): Promise<void> {
  const { logger, signal } = deps;
  let seen = deps.since;
  /** What the heartbeat says about a swap now. */
  let said: ModelSwap | undefined;
  const say = async (swap: ModelSwap | undefined) => {
    if (swap === undefined && said === undefined) return;
    said = swap;
    await deps.note(swap);
  };
  /** Drops a note about a swap that did not happen; a refusal stays until the files change. */
  const settle = () => (said !== undefined && said.state !== 'refused' ? say(undefined) : Promise.resolve());

  const refuse = async (fingerprint: string, reason: string, sha256?: string) => {
    logger.error({ model_dir: deps.modelDir, new_sha256: sha256, serving: int8Sha(deps.current()) }, `refusing the new artifact, still serving the current model: ${reason}`);
    await say({ state: 'refused', reason, ...(sha256 ? { sha256 } : {}) });
    return fingerprint;
  };
  const unchanged = async (fingerprint: string) => {
    await say(undefined);
    return fingerprint;
  };

  /** Under the lock: load what MODEL_DIR holds now and switch to it. Returns the fingerprint dealt with. */
  const swap = async (): Promise<string> => {
    const fingerprint = await artifactFingerprint(deps.modelDir);
    let manifest: Manifest;
    try {
      manifest = await readManifest(deps.modelDir);
    } catch (err) {
      // The quantizer renames the old artifact away and the new one into place: for a moment there
      // is none. Not a refusal; look again at the next poll.
      if (!(await manifestExists(deps.modelDir))) return seen;
      return refuse(fingerprint, (err as Error).message);
    }
    if (sameModel(manifest, deps.current())) return unchanged(fingerprint);
    const sha256 = int8Sha(manifest);
    logger.info({ new_sha256: sha256, serving: int8Sha(deps.current()) }, 'a new artifact in MODEL_DIR: verifying and loading it while still serving');
    await say({ state: 'loading', sha256 });
    let next: ServedModel;
    try {
      next = await deps.open(manifest);
    } catch (err) {
      if (signal.aborted) throw err;
      // Replaced again while loading: the next poll sees the newer one.
      if (err instanceof ArtifactReplaced) return seen;
      return refuse(fingerprint, err instanceof ArtifactError ? err.message : `could not load the model: ${(err as Error).message}`, sha256);
    }
    if (signal.aborted) {
      await next.engine.release();
      return seen;
    }
    await say({ state: 'draining', sha256 });
    await deps.switchTo(next);
    // The switch published the new model's heartbeat, without a swap note.
    said = undefined;
    return fingerprint;
  };

  for (;;) {
    try {
      await sleep(deps.pollMs, undefined, { signal });
      const fingerprint = await artifactFingerprint(deps.modelDir);
      if (fingerprint === seen) continue;
      // A rewrite of the model being served needs no lock and no load.
      const peek = await readManifest(deps.modelDir).catch(() => undefined);
      if (peek !== undefined && sameModel(peek, deps.current())) {
        seen = await unchanged(fingerprint);
        continue;
      }
      const lock = await deps.lock((holder) => {
        logger.info({ holder }, 'a new artifact in MODEL_DIR: waiting for another worker to finish its swap');
        void say({ state: 'waiting', ...(peek ? { sha256: int8Sha(peek) } : {}) });
      });
      try {
        seen = await swap();
      } finally {
        await lock.release();
      }
      await settle();
    } catch (err) {
      if (signal.aborted) return;
      // Redis away (the lock) or a file system error: still serving; try again at the next poll.
      logger.warn({ err: (err as Error).message }, 'could not check for a new artifact; trying again');
      await settle().catch(() => undefined);
    }
  }
}
