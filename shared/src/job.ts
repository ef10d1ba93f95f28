/**
 * The job contract between the gateway (producer) and the workers (consumers) on the BullMQ queue.
 * Job data is a validated API request with every default filled in, so the worker never guesses.
 */
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import type { CompareResponse, GenerateResponse, GeneratedToken, PredictResponse } from './api.js';

const Base = {
  request_id: Type.String({ minLength: 1, maxLength: 128 }),
  prompt: Type.String({ minLength: 1 }),
  /** Epoch milliseconds when the gateway enqueued the job; queue time is measured from it. */
  enqueued_at: Type.Number(),
  /** The gateway's reply channel (replyChannel below); absent, replies go through BullMQ only. */
  reply_to: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
};

export const PredictJobSchema = Type.Object({ kind: Type.Literal('predict'), ...Base, top_k: Type.Integer({ minimum: 1 }) });
export const CompareJobSchema = Type.Object({ kind: Type.Literal('compare'), ...Base, top_k: Type.Integer({ minimum: 1 }) });
export const GenerateJobSchema = Type.Object({
  kind: Type.Literal('generate'),
  ...Base,
  max_new_tokens: Type.Integer({ minimum: 1 }),
  temperature: Type.Number({ minimum: 0 }),
  /** 0 means no top-k filter. */
  top_k: Type.Integer({ minimum: 0 }),
  top_p: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
  seed: Type.Integer({ minimum: 0 }),
  stop: Type.Array(Type.String({ minLength: 1 })),
  stream: Type.Boolean(),
});
export const JobDataSchema = Type.Union([PredictJobSchema, CompareJobSchema, GenerateJobSchema]);
export type PredictJob = Static<typeof PredictJobSchema>;
export type CompareJob = Static<typeof CompareJobSchema>;
export type GenerateJob = Static<typeof GenerateJobSchema>;
export type JobData = Static<typeof JobDataSchema>;
export type JobKind = JobData['kind'];

/** What the worker returns; the gateway replaces timings_ms.total with the time it measured. */
export type JobResult =
  | ({ kind: 'predict' } & PredictResponse)
  | ({ kind: 'generate' } & GenerateResponse)
  | ({ kind: 'compare' } & CompareResponse);

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
export const JOB_KINDS: readonly JobKind[] = ['predict', 'generate', 'compare'];

/**
 * Errors the worker reports for a bad request (not a fault): the job fails without retries and the
 * gateway answers with the HTTP status given here. Encoded in the failure reason as "CODE: message".
 */
export const CLIENT_ERRORS = {
  PROMPT_TOO_LONG: 413,
  INVALID_JOB: 400,
  COMPARE_DISABLED: 409,
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

// Compiled once: every job is checked, and the interpreted check costs ~70 µs a job.
const jobDataValidator = Compile(JobDataSchema);

/** Checks job data read from Redis; returns an error message or undefined. */
export function checkJobData(data: unknown): string | undefined {
  if (jobDataValidator.Check(data)) return undefined;
  return [...jobDataValidator.Errors(data)].slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
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
  pid: number;
  host: string;
  at: number;
}
/** Heartbeats are refreshed every second and expire after this many, so a dead worker disappears. */
export const HEARTBEAT_TTL_SECONDS = 5;
