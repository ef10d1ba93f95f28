/**
 * The job data's JSON schemas (TypeBox). Only what derives checkers and types imports this: the
 * worker checks jobs with the standalone checker generated from it (checks/job-data.generated.ts),
 * so TypeBox's builder stays out of every worker process.
 */
import { type Static, Type } from 'typebox';

const Base = {
  request_id: Type.String({ minLength: 1, maxLength: 128 }),
  prompt: Type.String({ minLength: 1 }),
  /** Epoch milliseconds when the gateway enqueued the job; queue time is measured from it. */
  enqueued_at: Type.Number(),
  /** The gateway's reply channel (job.ts replyChannel); absent, replies go through BullMQ only. */
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
  /** Alternatives listed with each token's log-probability; absent: no log-probabilities. */
  logprobs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** The prompt as token ids (a client that sent ids); `prompt` is then their text, for logs. */
  prompt_token_ids: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))),
});
/** The prompt's own tokens scored (OpenAI's echo with max_tokens 0). */
export const ScoreJobSchema = Type.Object({
  kind: Type.Literal('score'),
  ...Base,
  top_logprobs: Type.Integer({ minimum: 0 }),
  prompt_token_ids: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))),
});
export const JobDataSchema = Type.Union([PredictJobSchema, CompareJobSchema, GenerateJobSchema, ScoreJobSchema]);
export type PredictJob = Static<typeof PredictJobSchema>;
export type CompareJob = Static<typeof CompareJobSchema>;
export type GenerateJob = Static<typeof GenerateJobSchema>;
export type ScoreJob = Static<typeof ScoreJobSchema>;
export type JobData = Static<typeof JobDataSchema>;
export type JobKind = JobData['kind'];
