/**
 * One job, start to finish: check the data, tokenize, run the engine, and shape the JobResult with
 * its timings. Client errors become BullMQ UnrecoverableErrors carrying "CODE: message", so they are
 * not retried and the gateway can answer with the right status. A job that needs a file of a model
 * being swapped away (served-model.ts ModelMoved) goes back to the queue, for the new model.
 */
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { ModelRef } from '@gpt2-int8/contract/api';
import { checkJobData, encodeJobError, type JobData, type JobReply, type JobResult, type StreamProgress } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { encode } from '@gpt2-int8/runtime/tokenizer';
import type { Cancellations } from './cancellations.js';
import { ClientError } from './client-error.js';
import { GenerationCancelled } from './generate.js';
import type { InferenceEngine } from './engine.js';
import { ModelMoved } from './served-model.js';

/** How long a job waits in the queue for the new model when it needs a file of the old one that is gone. */
const MOVED_RETRY_MS = 250;

/** The model a job runs on, from its start to its end; its result names that model. */
export interface JobModel {
  engine: InferenceEngine;
  ref: ModelRef;
}

export interface ProcessorDeps {
  /** Publishes on a job's reply channel (shared/contract/src/job.ts JobReply); without it, BullMQ carries every reply. */
  publish?: (channel: string, message: string) => Promise<unknown>;
  workerId: string;
  logger: Logger;
  now?: () => number;
  /** Generations that a gateway may cancel (cancellations.ts); without it, none can be. */
  cancellations?: Cancellations;
}

/** The part of a BullMQ job the processor uses (so tests can pass a plain object). */
export type JobLike = Pick<Job<unknown, JobResult>, 'id' | 'data' | 'name' | 'moveToDelayed'> & { updateProgress(p: StreamProgress): Promise<void> };

/** For log lines. Results carry what was measured: the gateway rounds them once, for the client. */
const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** The processor: a job, the model it runs on, and BullMQ's lock token for the job (to put it back in the queue). */
export function createProcessor(deps: ProcessorDeps): (job: JobLike, on: JobModel, token?: string) => Promise<JobResult> {
  const now = deps.now ?? Date.now;
  return async (job, { engine, ref: model }, token) => {
    const startedAt = now();
    const t0 = performance.now();
    const problem = await checkJobData(job.data);
    if (problem !== undefined) {
      deps.logger.warn({ job_id: job.id, problem }, 'invalid job data');
      throw new UnrecoverableError(encodeJobError('INVALID_JOB', `invalid job data: ${problem}`));
    }
    const data = job.data as JobData;
    const log = deps.logger.child({ request_id: data.request_id, job_id: job.id, kind: data.kind });
    const watch = data.kind === 'generate' && job.id !== undefined ? deps.cancellations?.watch(job.id) : undefined;
    const queueMs = Math.max(0, startedAt - data.enqueued_at);
    const { reply_to: replyTo } = data;
    const publish = deps.publish;
    // A reply that cannot be published is not lost: BullMQ's completion event still carries it.
    const reply =
      replyTo !== undefined && publish !== undefined && job.id !== undefined
        ? (r: JobReply) => publish(replyTo, JSON.stringify(r)).then(() => undefined, (err: unknown) => log.debug({ err }, 'could not publish a reply'))
        : undefined;
    try {
      const t1 = performance.now();
      const tokens = 'prompt_token_ids' in data && data.prompt_token_ids !== undefined ? data.prompt_token_ids : encode(data.prompt);
      const tokenizeMs = performance.now() - t1;
      const common = { worker: deps.workerId, model };
      const timings = (inference: number, extra: { per_token?: number[]; load?: number | undefined } = {}) => ({
        queue: queueMs,
        tokenize: tokenizeMs,
        inference,
        ...(extra.per_token ? { per_token: extra.per_token } : {}),
        ...(extra.load !== undefined ? { load: extra.load } : {}),
        total: queueMs + (performance.now() - t0),
      });

      let result: JobResult;
      // Logged once the reply is on its way: the log line is not part of the client's wait.
      let logLine: () => void;
      if (data.kind === 'predict') {
        const r = await engine.predict(tokens, data.top_k);
        result = { kind: 'predict', prompt: data.prompt, ...r.prediction, timings_ms: timings(r.inferenceMs), ...common };
        logLine = () => log.info({ prompt_tokens: tokens.length, token_id: r.prediction.token_id, batch: r.batch, inference_ms: round(r.inferenceMs) }, 'predicted');
      } else if (data.kind === 'compare') {
        const r = await engine.compare(tokens, data.top_k);
        result = {
          kind: 'compare',
          prompt: data.prompt,
          int8: r.int8,
          fp32: r.fp32,
          same: r.same,
          speedup: r.speedup,
          runs: r.runs,
          // All the runs' model time, and the FP32 load on its own: neither is left for the client
          // to book as network and gateway time.
          timings_ms: timings(r.modelMs, { load: r.loadMs }),
          ...common,
        };
        logLine = () =>
          log.info({ prompt_tokens: tokens.length, same: r.same, speedup: round(r.speedup), runs: r.runs, batch: r.batch, ...(r.loadMs !== undefined ? { fp32_load_ms: round(r.loadMs) } : {}) }, 'compared');
      } else if (data.kind === 'score') {
        const r = await engine.score(tokens, data.top_logprobs);
        result = { kind: 'score', prompt: data.prompt, tokens: r.tokens, timings_ms: timings(r.inferenceMs), ...common };
        logLine = () => log.info({ prompt_tokens: tokens.length, inference_ms: round(r.inferenceMs) }, 'scored');
      } else {
        // Progress updates go out in order on one connection; all are sent before the result.
        const sends: Promise<void>[] = [];
        const send = (e: StreamProgress): Promise<void> =>
          reply ? reply({ id: job.id as string, progress: e }) : job.updateProgress(e).catch((err: unknown) => log.warn({ err }, 'could not send a streamed token'));
        const g = await engine.generate(
          tokens,
          { maxNewTokens: data.max_new_tokens, temperature: data.temperature, topK: data.top_k, topP: data.top_p, seed: data.seed, stop: data.stop, logprobs: data.logprobs },
          data.stream ? (e) => sends.push(send(e)) : undefined,
          watch?.signal,
        );
        await Promise.all(sends);
        const inference = g.perTokenMs.reduce((a, b) => a + b, 0);
        result = {
          kind: 'generate',
          prompt: data.prompt,
          text: g.text,
          tokens: g.tokens,
          finish_reason: g.finishReason,
          timings_ms: timings(inference, { per_token: g.perTokenMs }),
          ...common,
        };
        logLine = () => log.info({ prompt_tokens: tokens.length, new_tokens: g.perTokenMs.length, finish_reason: g.finishReason, inference_ms: round(inference) }, 'generated');
      }
      // Awaited: Redis has delivered the reply before BullMQ's completed event exists, so the
      // gateway sees streamed tokens and the result in order whichever path it reads first.
      await reply?.({ id: job.id as string, result });
      logLine();
      return result;
    } catch (err) {
      if (err instanceof GenerationCancelled) {
        // Nobody waits for a reply: the job ends, not retried.
        log.info({ new_tokens: err.tokens, queue_ms: round(queueMs) }, 'cancelled');
        throw new UnrecoverableError(encodeJobError('CANCELLED', err.message));
      }
      if (err instanceof ClientError) {
        const reason = encodeJobError(err.code, err.message);
        await reply?.({ id: job.id as string, failed: reason });
        log.info({ code: err.code, reason: err.message }, 'refused');
        throw new UnrecoverableError(reason);
      }
      if (err instanceof ModelMoved && token !== undefined) {
        log.info({ reason: err.message }, 'back to the queue until this worker serves the new model');
        await job.moveToDelayed(Date.now() + MOVED_RETRY_MS, token);
        throw new DelayedError();
      }
      log.error({ err }, 'job failed');
      throw err;
    } finally {
      watch?.close();
    }
  };
}
