/**
 * The job contract between the gateway (producer) and the workers (consumers) on the BullMQ queue.
 * Job data is a validated API request with every default filled in, so the worker never guesses.
 */
import type { CompareResponse, GenerateResponse, GeneratedToken, PredictResponse, ScoreResponse } from './api.js';
import { Check as isJobData } from './checks/job-data.generated.js';
import type { JobKind } from './job-schema.js';
import type { Manifest } from './manifest-schema.js';

export type { CompareJob, GenerateJob, JobData, JobKind, PredictJob, ScoreJob } from './job-schema.js';

/** What the worker returns; the gateway replaces timings_ms.total with the time it measured. */
export type JobResult =
  | ({ kind: 'predict' } & PredictResponse)
  | ({ kind: 'generate' } & GenerateResponse)
  | ({ kind: 'compare' } & CompareResponse)
  | ({ kind: 'score' } & ScoreResponse);

/** A streamed generate token: on the reply channel, or as a BullMQ progress event without one. */
export type StreamProgress = GeneratedToken;

/**
 * Replies go straight to the waiting gateway on a Redis pub/sub channel of its own, named in the
 * job's `reply_to`: the worker publishes streamed tokens, then the result (or a client error)
 * before BullMQ records the job's end. That saves BullMQ's completion script and its event-stream
 * read on every request. Pub/sub delivers only to a connected subscriber, so BullMQ's completed
 * and failed events stay the fallback (a reply lost across a reconnect still arrives that way), and
 * failures other than client errors (retried, or final) arrive only that way.
 */
export type JobReply =
  | { id: string; progress: StreamProgress }
  | { id: string; result: JobResult }
  /** The failure reason, encodeJobError's "CODE: message". */
  | { id: string; failed: string };

export const replyChannel = (queueName: string, gatewayId: string) => `${queueName}:replies:${gatewayId}`;

/**
 * Where a gateway publishes the id of a job a worker holds but nobody waits for any more (its client
 * disconnected, or its request timed out); the worker holding it stops it at its next step. A job
 * still in the queue is removed instead.
 */
export const cancelChannel = (queueName: string) => `${queueName}:cancel`;

/** Parses a message from a reply channel; undefined when it is not a JobReply. */
export function parseJobReply(message: string): JobReply | undefined {
  let r: unknown;
  try {
    r = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (r === null || typeof r !== 'object' || typeof (r as { id?: unknown }).id !== 'string') return undefined;
  const o = r as Record<string, unknown>;
  if (typeof o.failed === 'string') return r as JobReply;
  if ((o.result !== null && typeof o.result === 'object') || (o.progress !== null && typeof o.progress === 'object')) return r as JobReply;
  return undefined;
}

/** Names of the BullMQ job kinds, which are also the BullMQ job names. */
export const JOB_KINDS: readonly JobKind[] = ['predict', 'generate', 'compare', 'score'];

/**
 * Errors the worker reports for a bad request (not a fault): the job fails without retries and the
 * gateway answers with the HTTP status given here. Encoded in the failure reason as "CODE: message".
 */
export const CLIENT_ERRORS = {
  PROMPT_TOO_LONG: 413,
  INVALID_JOB: 400,
  COMPARE_DISABLED: 409,
  /** The generation was stopped because nobody waits for it any more (cancelChannel). */
  CANCELLED: 499,
} as const;
export type ClientErrorCode = keyof typeof CLIENT_ERRORS;

export function encodeJobError(code: ClientErrorCode, message: string): string {
  return `${code}: ${message}`;
}

export function decodeJobError(reason: string | undefined): { code: ClientErrorCode; status: number; message: string } | undefined {
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(reason ?? '');
  if (!m || !(m[1] as string in CLIENT_ERRORS)) return undefined;
  const code = m[1] as ClientErrorCode;
  return { code, status: CLIENT_ERRORS[code], message: m[2] as string };
}

/**
 * Checks job data read from Redis; resolves to an error message, or undefined when it is valid.
 * Every job goes through the generated checker; only a bad one loads TypeBox to say what is wrong.
 */
export async function checkJobData(data: unknown): Promise<string | undefined> {
  if (isJobData(data)) return undefined;
  const [{ JobDataSchema }, { describeSchemaErrors }] = await Promise.all([import('./job-schema.js'), import('./checks/schema-errors.js')]);
  return describeSchemaErrors(JobDataSchema, data);
}

/** Redis keys beside the queue: worker heartbeats, read by the gateway's /readyz and /metrics. */
export const workerHeartbeatKey = (queueName: string, workerId: string) => `${queueName}:workers:${workerId}`;
export const workerHeartbeatPattern = (queueName: string) => `${queueName}:workers:*`;

export interface WorkerHeartbeat {
  id: string;
  /** 'loading' until the model is ready, 'ready' while serving, 'error' when it cannot serve. */
  state: 'loading' | 'ready' | 'error';
  /** Why the worker cannot serve (state 'error'), or what it waits for (state 'loading'). */
  reason?: string;
  model?: { sha256: string; quantization: string; synthetic: boolean };
  /**
   * While serving: a new artifact in MODEL_DIR that the worker is moving to, or has refused (and
   * why). The worker stays 'ready' on its current model throughout.
   */
  swap?: ModelSwap;
  /** While serving with continuous batching: the scheduler's figures (the gateway's /metrics sums them). */
  generation?: GenerationStats;
  pid: number;
  host: string;
  at: number;
}

export interface GenerationStats {
  /** Sequences decoding now, and generations waiting for a row. */
  active: number;
  queued: number;
  /** Decode steps since the previous heartbeat, and their mean rows (0 without steps). */
  steps: number;
  rows_per_step: number;
  /** Generations cancelled since the worker started. */
  cancelled: number;
}

export interface ModelSwap {
  /** waiting: for another worker's swap to end; loading: verifying and loading it; draining: finishing jobs on the old one; refused: it cannot be served. */
  state: 'waiting' | 'loading' | 'draining' | 'refused';
  /** The new artifact's INT8 sha256, when its manifest could be read. */
  sha256?: string;
  reason?: string;
}
/** Heartbeats are refreshed every second and expire after this many, so a dead worker disappears. */
export const HEARTBEAT_TTL_SECONDS = 5;

/**
 * Held by the one worker of a queue that is swapping models, so the others keep serving meanwhile.
 * It has a TTL, refreshed by its holder: a worker that dies mid-swap blocks the others only briefly.
 */
export const modelSwapLockKey = (queueName: string) => `${queueName}:model-swap`;

/**
 * What a worker serves, for the gateway's GET /api/model: the manifest and the validation report
 * (without its rows) of the model with that INT8 sha256. Refreshed with the heartbeat and expiring
 * like it, so it is there while some worker serves that model, even after MODEL_DIR has moved on.
 */
export const modelCardKey = (queueName: string, sha256: string) => `${queueName}:models:${sha256}`;
export interface ModelCard {
  manifest: Manifest;
  /** report.json without its rows; null when it is missing or unreadable. */
  report: unknown;
}
