/**
 * A whole worker: heartbeat from the start, the model loaded and verified (waiting for the quantizer
 * if need be), then a BullMQ Worker taking jobs; and a graceful close that finishes what is in flight.
 * While serving, it moves to a new artifact written into MODEL_DIR without failing a job
 * (model-swap.ts).
 *
 * When the artifact is wrong (sha256 mismatch, truncated file, config that does not match the graph)
 * the worker does not serve and does not exit: it stays up with heartbeat state 'error' and the
 * reason, so /readyz can say why, and retries by itself when the artifact files change. A restart
 * loop would show the reason only intermittently and hammer the disk with hash checks.
 */
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ModelRef } from '@gpt2-int8/contract/api';
import { cancelChannel, type JobResult } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { ARTIFACT_FILES, ArtifactError, type Manifest, readManifest } from '@gpt2-int8/contract/manifest';
import { createRedis, describeRedis } from '@gpt2-int8/contract/redis';
import { artifactFingerprint, waitForArtifactChange } from './artifact-watch.js';
import type { WorkerConfig } from './config.js';
import type { InferenceEngine } from './engine.js';
import { Heartbeat } from './heartbeat.js';
import { Cancellations } from './cancellations.js';
import { createProcessor, type JobLike } from './job-processor.js';
import { ManifestWaitTimeout, waitForManifest } from './model-loader.js';
import { ModelSlot } from './model-slot.js';
import { sameModel, watchForNewModel } from './model-swap.js';
import { logServing, openModel, type OpenOptions, type ServedModel } from './served-model.js';
import { acquireSwapLock } from './swap-lock.js';

export interface WorkerService {
  /** Resolves once jobs are being taken; rejects when loading gives up (MODEL_WAIT_MAX_MS). */
  readonly ready: Promise<void>;
  readonly heartbeat: Heartbeat;
  /** Set once serving. */
  engine(): InferenceEngine | undefined;
  model(): ModelRef | undefined;
  /** Stops taking jobs, waits for the ones in flight, releases everything. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  heartbeatIntervalMs?: number;
}

export function startWorkerService(config: WorkerConfig, logger: Logger, opts: ServiceOptions = {}): WorkerService {
  const abort = new AbortController();
  const hbRedis = createRedis(config.redis, 'producer');
  hbRedis.on('error', () => {}); // reported by the heartbeat, once per outage
  const heartbeat = new Heartbeat(hbRedis, config.queueName, config.workerId, logger, opts.heartbeatIntervalMs);
  /** The model jobs start on, once loaded. */
  let slot: ModelSlot | undefined;
  /** The watch for a new artifact, once serving. */
  let swapping: Promise<void> | undefined;
  let workers: Worker<unknown, JobResult>[] = [];
  let workerRedis: Redis | undefined;
  /** Listens on cancelChannel for generations nobody waits for any more. */
  let cancelRedis: Redis | undefined;
  const cancellations = new Cancellations();
  let closing: Promise<void> | undefined;
  /** Whether the artifact in MODEL_DIR was refused as a new model (the served one stays). */
  let refusedNew = false;
  const openOptions: OpenOptions = {
    swapPending: async (manifest: Manifest) => {
      if (refusedNew) return false;
      const inDir = await readManifest(config.modelDir).catch(() => undefined);
      return inDir === undefined || !sameModel(inDir, manifest);
    },
  };

  logger.info({ redis: describeRedis(config.redis), queue: config.queueName, model_dir: config.modelDir, threads: config.threads, max_batch: config.maxBatch }, 'worker starting');
  heartbeat.start();

  /** The model to serve first, and the fingerprint of the artifact it came from. */
  const load = async (): Promise<{ model: ServedModel; fingerprint: string }> => {
    for (;;) {
      try {
        const manifest = await waitForManifest(config.modelDir, {
          maxWaitMs: config.modelWaitMaxMs,
          signal: abort.signal,
          onWait: ({ delayMs, waitedMs, path }) => {
            const reason = `waiting for the quantizer: ${path} does not exist yet`;
            logger.info({ retry_in_ms: delayMs, waited_ms: waitedMs }, reason);
            void heartbeat.set({ state: 'loading', reason });
          },
        });
        const fingerprint = await artifactFingerprint(config.modelDir);
        try {
          await heartbeat.set({ state: 'loading', reason: `verifying and loading ${ARTIFACT_FILES.int8}` });
          return { model: await openModel(config, manifest, logger, openOptions), fingerprint };
        } catch (err) {
          if (abort.signal.aborted || err instanceof ManifestWaitTimeout) throw err;
          const reason = `refusing to serve: ${err instanceof ArtifactError ? err.message : `could not load the model: ${(err as Error).message}`}`;
          logger.error({ model_dir: config.modelDir }, reason);
          await heartbeat.set({ state: 'error', reason });
          await waitForArtifactChange(config.modelDir, fingerprint, { pollMs: config.artifactPollMs, signal: abort.signal });
          logger.info('the artifact changed; trying again');
        }
      } catch (err) {
        if (err instanceof ManifestWaitTimeout) await heartbeat.set({ state: 'error', reason: err.message });
        if (abort.signal.aborted || err instanceof ManifestWaitTimeout) throw err;
        // An invalid manifest: report it and wait for the quantizer to write another.
        const reason = `refusing to serve: ${err instanceof ArtifactError ? err.message : String(err)}`;
        logger.error({ model_dir: config.modelDir }, reason);
        await heartbeat.set({ state: 'error', reason });
        const fingerprint = await artifactFingerprint(config.modelDir);
        await waitForArtifactChange(config.modelDir, fingerprint, { pollMs: config.artifactPollMs, signal: abort.signal });
        logger.info('the artifact changed; trying again');
      }
    }
  };

  const serve = async () => {
    const { model, fingerprint } = await load();
    const served = new ModelSlot(model);
    slot = served;
    logServing(logger, model);
    if (abort.signal.aborted) return;
    // Replies go out on the heartbeat's connection: a producer's, which fails fast while Redis is
    // away (BullMQ then still delivers the result once it is back).
    const processor = createProcessor({ workerId: config.workerId, logger, publish: (channel, message) => hbRedis.publish(channel, message), cancellations });
    const cancels = createRedis(config.redis, 'blocking');
    cancelRedis = cancels;
    cancels.on('error', () => {}); // the Workers' connection reports an outage
    cancels.on('message', (_channel: string, jobId: string) => {
      if (cancellations.cancel(jobId)) logger.info({ job_id: jobId }, 'cancel requested: stopping the generation at its next step');
    });
    // ioredis subscribes again by itself after a reconnect.
    await cancels.subscribe(cancelChannel(config.queueName));
    const connection = createRedis(config.redis, 'blocking');
    workerRedis = connection;
    connection.on('error', () => {}); // the Workers' own 'error' events report it
    // MAX_BATCH BullMQ Workers of concurrency 1 rather than one of concurrency MAX_BATCH: above 1,
    // BullMQ's loop, holding a job, first awaits one more fetch (an empty round trip to Redis when
    // the queue is idle) before it starts the job, which made a lone request slower with batching
    // on. Each of these starts its job at once and fetches its next one as it finishes; the engine's
    // batcher groups the jobs they hold. One stalled-job check per process is enough. With
    // continuous batching, enough of them to hold MAX_ACTIVE_SEQUENCES generations: beyond that,
    // jobs stay in the queue, where another worker can take them.
    const holders = config.continuousBatching ? Math.max(config.maxBatch, config.maxActiveSequences) : config.maxBatch;
    workers = Array.from({ length: holders }, (_, i) =>
      new Worker<unknown, JobResult>(config.queueName, (job, token) => served.run((on) => processor(job as JobLike, on, token)), {
        connection,
        concurrency: 1,
        lockDuration: config.lockDurationMs,
        stalledInterval: config.stalledIntervalMs,
        skipStalledCheck: i > 0,
        name: config.workerId,
      }),
    );
    let redisDown = false;
    connection.on('ready', () => {
      if (redisDown) logger.info('queue connection back');
      redisDown = false;
    });
    for (const worker of workers) {
      worker.on('error', (err) => {
        if (!redisDown) logger.warn({ err: err.message }, 'queue connection error; reconnecting by itself');
        redisDown = true;
      });
      worker.on('failed', (job, err) => {
        if (job === undefined) return;
        const data = job.data as { request_id?: string };
        logger.debug({ request_id: data.request_id, job_id: job.id, reason: err.message, attempts: job.attemptsMade }, 'job failed');
      });
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    if (abort.signal.aborted) return;
    // Continuous batching's figures ride on the heartbeat: steps and rows since the previous beat.
    let steps = 0;
    let rows = 0;
    let hooked: InferenceEngine | undefined;
    heartbeat.stats = () => {
      const engine = served.current.engine;
      if (engine.scheduler === undefined) return undefined;
      if (hooked !== engine) {
        hooked = engine;
        engine.onStep = (s) => {
          steps++;
          rows += s.rows;
        };
      }
      const stats = { active: engine.scheduler.active, queued: engine.scheduler.queued, steps, rows_per_step: steps > 0 ? rows / steps : 0, cancelled: cancellations.cancelled };
      steps = 0;
      rows = 0;
      return stats;
    };
    await heartbeat.set({ state: 'ready', model: model.ref }, model.card);
    logger.info({ queue: config.queueName, concurrency: holders, continuous_batching: model.engine.scheduler !== undefined }, 'ready: taking jobs');
    swapping = watchForNewModel({
      modelDir: config.modelDir,
      pollMs: config.artifactPollMs,
      signal: abort.signal,
      logger,
      since: fingerprint,
      current: () => served.current.manifest,
      note: (swap) => {
        refusedNew = swap?.state === 'refused';
        return heartbeat.update({ swap });
      },
      lock: (onWait) => acquireSwapLock(hbRedis, config.queueName, config.workerId, { pollMs: 250, signal: abort.signal, onWait }),
      open: (manifest) => openModel(config, manifest, logger, openOptions),
      switchTo: async (next) => {
        logger.info({ new_sha256: next.ref.sha256, jobs: served.running }, 'swapping models: finishing the jobs in flight on the old one; jobs taken meanwhile wait for the new one');
        const { old, heldMs } = await served.switchTo(next);
        await heartbeat.set({ state: 'ready', model: next.ref }, next.card);
        logServing(logger, next, 'swapped models: serving the new one', { held_ms: Math.round(heldMs) });
        await old.engine.release();
      },
    });
  };

  /**
   * BullMQ's close waits for Redis: to store the results of jobs in flight (retrying while it is
   * away) and to end its connections cleanly. With Redis unreachable (down, or the wrong password)
   * a worker would wait out SHUTDOWN_TIMEOUT_MS and exit 1 even with nothing running. Once no job
   * is being processed and Redis does not answer, there is nothing left to finish: stop.
   */
  const closeWorkers = async (ws: Worker<unknown, JobResult>[]): Promise<void> => {
    let closed = false;
    const done = Promise.all(ws.map((w) => w.close())).finally(() => (closed = true));
    for (;;) {
      const redisAway = workerRedis?.status !== 'ready';
      if (closed) return;
      if ((slot?.running ?? 0) === 0 && redisAway) {
        logger.warn('Redis unreachable and no job running: stopping without waiting for it');
        void done.catch(() => {});
        return;
      }
      await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
    }
  };

  const ready = serve();
  ready.catch(() => {}); // the owner handles it through `ready`

  return {
    ready,
    heartbeat,
    engine: () => slot?.current.engine,
    model: () => slot?.current.ref,
    close: () => {
      closing ??= (async () => {
        abort.abort();
        // Loading stops at its next await; a worker that exists is closed even if still connecting.
        if (workers.length === 0) await ready.catch(() => {});
        // A swap under way ends first (a new model it loaded is released, or the switch completes).
        await swapping;
        if (workers.length > 0) {
          logger.info('draining: finishing jobs in flight');
          await closeWorkers(workers);
        }
        await heartbeat.stop();
        await slot?.current.engine.release();
        hbRedis.disconnect();
        workerRedis?.disconnect();
        cancelRedis?.disconnect();
        logger.info('worker stopped');
      })();
      return closing;
    },
  };
}
