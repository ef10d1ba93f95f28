/**
 * The HTTP API's bodies, as JSON schemas (TypeBox) and the types derived from them. The gateway
 * validates requests and documents the API (OpenAPI at /docs) with these; the worker's job results
 * are these response shapes, so there is one definition of each.
 */
import { type Static, Type } from 'typebox';
import { ManifestSchema } from './manifest-schema.js';
import { ReportSchema } from './report.js';

export const LIMITS = {
  promptChars: 8000,
  topK: { min: 1, max: 50, default: 5 },
  maxNewTokens: { min: 1, max: 256, default: 32 },
  temperature: { min: 0, max: 5, default: 0 },
  stopStrings: 4,
  stopChars: 64,
  /** Alternatives listed with each token's log-probability (OpenAI's chat top_logprobs range). */
  logprobs: { min: 0, max: 20 },
} as const;

/** Non-empty after trimming; the schema cannot say "not only whitespace", so the pattern does. */
const Prompt = Type.String({
  minLength: 1,
  maxLength: LIMITS.promptChars,
  pattern: '\\S',
  description: 'Text to continue; its tokens must fit in the model context.',
});
const TopK = (description: string) => Type.Integer({ minimum: LIMITS.topK.min, maximum: LIMITS.topK.max, description });

export const PredictRequestSchema = Type.Object(
  { prompt: Prompt, top_k: Type.Optional(TopK('How many most likely next tokens to return (default 5).')) },
  { additionalProperties: false },
);
export type PredictRequest = Static<typeof PredictRequestSchema>;

export const GenerateRequestSchema = Type.Object(
  {
    prompt: Prompt,
    max_new_tokens: Type.Optional(Type.Integer({ minimum: LIMITS.maxNewTokens.min, maximum: LIMITS.maxNewTokens.max, description: 'Default 32.' })),
    temperature: Type.Optional(
      Type.Number({ minimum: LIMITS.temperature.min, maximum: LIMITS.temperature.max, description: '0 (the default) is greedy decoding.' }),
    ),
    top_k: Type.Optional(TopK('Sample only among the k most likely tokens.')),
    top_p: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Nucleus sampling threshold (default 1).' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Makes sampling reproducible.' })),
    stop: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: LIMITS.stopChars }), { maxItems: LIMITS.stopStrings, description: 'Stop when any of these appears.' }),
    ),
    stream: Type.Optional(Type.Boolean({ description: 'Answer with Server-Sent Events, one per token.' })),
    logprobs: Type.Optional(
      Type.Integer({
        minimum: LIMITS.logprobs.min,
        maximum: LIMITS.logprobs.max,
        description: "Give each generated token its log-probability and this many most likely alternatives, from the model's distribution before temperature, top-k and top-p.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type GenerateRequest = Static<typeof GenerateRequestSchema>;

export const CompareRequestSchema = Type.Object(
  { prompt: Prompt, top_k: Type.Optional(TopK('How many most likely next tokens to return for each model (default 5).')) },
  { additionalProperties: false },
);
export type CompareRequest = Static<typeof CompareRequestSchema>;

export const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});
export type ErrorBody = Static<typeof ErrorSchema>;

const Ms = Type.Number({ minimum: 0 });
export const TimingsSchema = Type.Object({
  /** From enqueue to a worker taking the job. */
  queue: Ms,
  tokenize: Ms,
  /** Model time; for generate, the sum over tokens (each is in per_token); for compare, every run of both models. */
  inference: Ms,
  /**
   * Generate: each token the model produced, in order — including any a stop string then cut from
   * the text, whose time was spent all the same (so it can be longer than `tokens`).
   */
  per_token: Type.Optional(Type.Array(Ms)),
  /**
   * Compare only, on a worker's first compare: the wait for the FP32 model to load, which is not in
   * `inference` (nor in either model's `inference_ms`). Absent when the model was loaded already.
   */
  load: Type.Optional(Ms),
  /** Measured by the gateway, from the request arriving to the answer leaving. */
  total: Ms,
}, { description: 'Milliseconds, to 0.01 ms.' });
export type Timings = Static<typeof TimingsSchema>;

/** A listed token's text (shared/tokenizer.ts tokenText): bytes that are not a whole character on their own read <0xE4>. */
const ListedToken = Type.String({ description: "The token's text; a byte that is part of a character split across tokens is shown as <0xE4>." });
export const TokenProbSchema = Type.Object({ token: ListedToken, token_id: Type.Integer(), prob: Type.Number() });
export type TokenProb = Static<typeof TokenProbSchema>;
export const TokenLogprobSchema = Type.Object({ token: ListedToken, token_id: Type.Integer(), logprob: Type.Number() });
export type TokenLogprob = Static<typeof TokenLogprobSchema>;

export const ModelRefSchema = Type.Object({
  sha256: Type.String(),
  quantization: Type.String({ description: 'e.g. "int8 per-channel, dynamic per-row activations"' }),
  synthetic: Type.Boolean({ description: 'True when the weights are random: predictions mean nothing.' }),
});
export type ModelRef = Static<typeof ModelRefSchema>;

export const PredictionSchema = Type.Object({
  token: ListedToken,
  token_id: Type.Integer(),
  top_k: Type.Array(TokenProbSchema),
});
export type Prediction = Static<typeof PredictionSchema>;

export const PredictResponseSchema = Type.Intersect([
  Type.Object({ prompt: Type.String() }),
  PredictionSchema,
  Type.Object({ timings_ms: TimingsSchema, worker: Type.String(), model: ModelRefSchema }),
]);
export type PredictResponse = Static<typeof PredictResponseSchema>;

export const GeneratedTokenSchema = Type.Object({
  index: Type.Integer(),
  token: Type.String(),
  token_id: Type.Integer(),
  /** With `logprobs`: log P(token) under the model's distribution, before temperature and truncation. */
  logprob: Type.Optional(Type.Number()),
  top_logprobs: Type.Optional(Type.Array(TokenLogprobSchema)),
});
export type GeneratedToken = Static<typeof GeneratedTokenSchema>;

/** A prompt's own tokens scored: each one's log-probability given those before it (the first has none). */
export const ScoredTokenSchema = Type.Object({
  token: ListedToken,
  token_id: Type.Integer(),
  logprob: Type.Union([Type.Number(), Type.Null()]),
  top_logprobs: Type.Union([Type.Array(TokenLogprobSchema), Type.Null()]),
});
export type ScoredToken = Static<typeof ScoredTokenSchema>;
export const ScoreResponseSchema = Type.Object({
  prompt: Type.String(),
  tokens: Type.Array(ScoredTokenSchema),
  timings_ms: TimingsSchema,
  worker: Type.String(),
  model: ModelRefSchema,
});
export type ScoreResponse = Static<typeof ScoreResponseSchema>;

export const GenerateResponseSchema = Type.Object({
  prompt: Type.String(),
  text: Type.String({ description: 'The generated continuation (without the prompt).' }),
  tokens: Type.Array(GeneratedTokenSchema),
  finish_reason: Type.Union([Type.Literal('length'), Type.Literal('eos'), Type.Literal('stop'), Type.Literal('context')]),
  timings_ms: TimingsSchema,
  worker: Type.String(),
  model: ModelRefSchema,
});
export type GenerateResponse = Static<typeof GenerateResponseSchema>;

export const ComparedPredictionSchema = Type.Intersect([
  PredictionSchema,
  Type.Object({ inference_ms: Type.Number({ minimum: 0, description: "The median of the model's `runs` timed runs." }) }),
]);
export const CompareResponseSchema = Type.Object({
  prompt: Type.String(),
  int8: ComparedPredictionSchema,
  fp32: ComparedPredictionSchema,
  same: Type.Boolean(),
  /** FP32 inference time ÷ INT8 inference time for this prompt (medians). */
  speedup: Type.Number({ description: "FP32's median inference time ÷ INT8's: above 1, INT8 is faster." }),
  runs: Type.Integer({ minimum: 1, description: 'How many timed runs of each model, FP32 and INT8 alternating.' }),
  timings_ms: TimingsSchema,
  worker: Type.String(),
  model: ModelRefSchema,
});
export type CompareResponse = Static<typeof CompareResponseSchema>;

/**
 * One streamed token (SSE `event: token`): `token` is the text it adds (the worker holds back
 * partial characters and possible stop strings, so the tokens concatenated are the final text),
 * `text` the whole generated text so far.
 */
export const StreamTokenSchema = Type.Intersect([GeneratedTokenSchema, Type.Object({ text: Type.String({ description: 'The generated text so far.' }) })]);
export type StreamToken = Static<typeof StreamTokenSchema>;

/** What the ready workers serve, against the artifact in MODEL_DIR (they differ during a swap, or when a new artifact was refused). */
export const ServingSchema = Type.Object({
  status: Type.Union([Type.Literal('current'), Type.Literal('swapping'), Type.Literal('refused'), Type.Literal('no_worker')], {
    description:
      'current: every ready worker serves the artifact in MODEL_DIR; swapping: the workers are moving to it (some may still serve the previous model); ' +
      'refused: the workers refused it (see message) and keep serving the previous model; no_worker: no worker is ready (the manifest is the artifact in MODEL_DIR).',
  }),
  message: Type.String(),
  /** Each model the ready workers serve (two during a swap), most served first. */
  models: Type.Array(Type.Object({ sha256: Type.String(), workers: Type.Integer({ minimum: 1 }) })),
  artifact_sha256: Type.Union([Type.String(), Type.Null()], { description: "The INT8 sha256 of the artifact in MODEL_DIR; null when it has none or an invalid one." }),
});
export type Serving = Static<typeof ServingSchema>;

/**
 * GET /api/model: the served model's manifest and validation report without its per-prompt rows
 * (while workers disagree mid-swap, the artifact in MODEL_DIR when some worker serves it already),
 * and what the workers serve.
 */
export const ReportSummarySchema = Type.Omit(ReportSchema, ['rows']);
export type ReportSummary = Static<typeof ReportSummarySchema>;
export const ModelInfoResponseSchema = Type.Object({
  synthetic: Type.Boolean({ description: 'True when the weights are random: predictions mean nothing.' }),
  manifest: ManifestSchema,
  quantization: Type.String({ description: "The manifest's quantization in words, as every answer's model.quantization gives it." }),
  report: Type.Union([ReportSummarySchema, Type.Null()], { description: 'null when report.json is missing or unreadable.' }),
  serving: ServingSchema,
});
export type ModelInfoResponse = Static<typeof ModelInfoResponseSchema>;
