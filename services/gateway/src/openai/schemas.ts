/**
 * /v1's request and response bodies (TypeBox), after OpenAI's API reference for the legacy
 * completions, chat completions and models endpoints, narrowed to what this server does. They
 * validate requests and document /v1 at /docs. Parameters OpenAI defines that we do not support are
 * accepted by the schema as anything and refused by name in the handler (unsupported.ts), unless
 * given their no-op value; fields OpenAI does not define are refused as unknown (400).
 */
import { type Static, type TSchema, Type } from 'typebox';
import { LIMITS } from '@gpt2-int8/contract/api';

export const OPENAI_LIMITS = {
  /** Jobs one request may queue: prompts × n (each choice is one job). */
  choices: 16,
  prompts: 16,
  maxTokens: LIMITS.maxNewTokens.max,
  temperature: 2,
  /** Completions' logprobs (OpenAI's legacy range). */
  logprobs: 5,
  /** Chat's top_logprobs (OpenAI's range, as LIMITS.logprobs). */
  topLogprobs: LIMITS.logprobs.max,
} as const;

/** Optional, and null means absent (clients such as LangChain send explicit nulls). */
const Opt = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
const Anything = Type.Optional(Type.Unknown());

const Stop = Type.Union(
  [
    Type.String({ minLength: 1, maxLength: LIMITS.stopChars }),
    Type.Array(Type.String({ minLength: 1, maxLength: LIMITS.stopChars }), { maxItems: LIMITS.stopStrings }),
  ],
  { description: `Up to ${LIMITS.stopStrings} strings (each at most ${LIMITS.stopChars} characters); generation stops before the first one that appears, which is not returned.` },
);

const Sampling = {
  temperature: Opt(Type.Number({ minimum: 0, maximum: OPENAI_LIMITS.temperature, description: 'Default 1; 0 is greedy.' })),
  top_p: Opt(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Default 1 (no nucleus truncation).' })),
  n: Opt(Type.Integer({ minimum: 1, maximum: OPENAI_LIMITS.choices, description: 'Choices per prompt, each one job, sampled with seed, seed+1, … (default 1).' })),
  stop: Opt(Stop),
  seed: Opt(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 - OPENAI_LIMITS.choices, description: 'Same seed, same parameters, same model: same text. Choice i uses seed + i. Random when absent.' })),
  stream: Opt(Type.Boolean({ description: 'Server-sent events: `data: {chunk}` lines, then `data: [DONE]`.' })),
  stream_options: Opt(Type.Object({ include_usage: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  user: Opt(Type.String({ maxLength: 256, description: 'Accepted and ignored (logged by nobody).' })),
  // OpenAI's parameters that this server does not implement: refused by name unless no-ops.
  presence_penalty: Anything,
  frequency_penalty: Anything,
  logit_bias: Anything,
};

const TokenIds = Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 });
const PromptText = Type.String({ minLength: 1, maxLength: LIMITS.promptChars });

export const CompletionRequestSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256, description: 'The id GET /v1/models lists.' }),
    prompt: Type.Union(
      [
        PromptText,
        Type.Array(PromptText, { minItems: 1, maxItems: OPENAI_LIMITS.prompts }),
        TokenIds,
        Type.Array(TokenIds, { minItems: 1, maxItems: OPENAI_LIMITS.prompts }),
      ],
      { description: 'A string, a list of strings, a list of token ids, or a list of such lists. Each prompt plus max_tokens must fit in the model context.' },
    ),
    max_tokens: Opt(Type.Integer({ minimum: 0, maximum: OPENAI_LIMITS.maxTokens, description: 'Default 16; 0 only with echo (scoring the prompt).' })),
    logprobs: Opt(Type.Integer({ minimum: 0, maximum: OPENAI_LIMITS.logprobs, description: 'Log-probabilities of each token and of the `logprobs` most likely alternatives, under the model before temperature and top_p.' })),
    echo: Opt(Type.Boolean({ description: 'Return the prompt before the completion (with logprobs: the prompt tokens scored, the first one null).' })),
    ...Sampling,
    suffix: Anything,
    best_of: Opt(Type.Integer({ minimum: 1, maximum: 20, description: 'Only equal to n (no candidates are discarded); below n is an error, as at OpenAI.' })),
  },
  { additionalProperties: false },
);
export type CompletionRequest = Static<typeof CompletionRequestSchema>;

const TextPart = Type.Object({ type: Type.String(), text: Type.Optional(Type.String()) });
export const ChatMessageSchema = Type.Object(
  {
    role: Type.Union([Type.Literal('system'), Type.Literal('developer'), Type.Literal('user'), Type.Literal('assistant')]),
    content: Opt(
      Type.Union([Type.String({ maxLength: LIMITS.promptChars }), Type.Array(TextPart, { maxItems: 64 })], {
        description: 'Text, or text parts. Required except on assistant messages, where null or absent counts as empty text (as OpenAI allows).',
      }),
    ),
    name: Type.Optional(Type.String({ maxLength: 64 })),
    // What OpenAI's assistant messages carry besides text, this server's answers included
    // (refusal: null): accepted empty (null, []), so a reply can be sent back as it came.
    refusal: Anything,
    tool_calls: Anything,
    function_call: Anything,
    audio: Anything,
  },
  {
    additionalProperties: false,
    description: 'An assistant message may be sent back as it was answered: refusal, tool_calls, function_call and audio are accepted null or empty, and refused (400 unsupported_parameter) otherwise.',
  },
);
export type ChatMessage = Static<typeof ChatMessageSchema>;

export const ChatCompletionRequestSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256 }),
    messages: Type.Array(ChatMessageSchema, { minItems: 1, maxItems: 256, description: 'Formatted as a plain-text transcript (see /docs and the README: GPT-2 is not a chat model).' }),
    max_tokens: Opt(Type.Integer({ minimum: 1, maximum: OPENAI_LIMITS.maxTokens, description: 'Deprecated by OpenAI in favour of max_completion_tokens; either works. Default: 16.' })),
    max_completion_tokens: Opt(Type.Integer({ minimum: 1, maximum: OPENAI_LIMITS.maxTokens })),
    logprobs: Opt(Type.Boolean()),
    top_logprobs: Opt(Type.Integer({ minimum: 0, maximum: OPENAI_LIMITS.topLogprobs, description: 'With logprobs: true, the alternatives listed with each token.' })),
    ...Sampling,
    response_format: Anything,
    tools: Anything,
    tool_choice: Anything,
    functions: Anything,
    function_call: Anything,
    parallel_tool_calls: Anything,
    store: Anything,
    metadata: Anything,
    modalities: Anything,
    audio: Anything,
    prediction: Anything,
    reasoning_effort: Anything,
    verbosity: Anything,
    service_tier: Anything,
    web_search_options: Anything,
    // Identifiers OpenAI uses for caching and abuse detection, as `user`: nothing to do with them here.
    prompt_cache_key: Opt(Type.String({ maxLength: 256, description: 'Accepted and ignored.' })),
    safety_identifier: Opt(Type.String({ maxLength: 256, description: 'Accepted and ignored.' })),
  },
  { additionalProperties: false },
);
export type ChatCompletionRequest = Static<typeof ChatCompletionRequestSchema>;

// ---- responses (documentation and serialization) ----

const Usage = Type.Object({ prompt_tokens: Type.Integer(), completion_tokens: Type.Integer(), total_tokens: Type.Integer() });
const FinishReason = Type.Union([Type.Literal('stop'), Type.Literal('length')]);

export const CompletionLogprobsSchema = Type.Object({
  tokens: Type.Array(Type.String()),
  token_logprobs: Type.Array(Type.Union([Type.Number(), Type.Null()])),
  top_logprobs: Type.Array(Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()])),
  text_offset: Type.Array(Type.Integer()),
});
export type CompletionLogprobs = Static<typeof CompletionLogprobsSchema>;

export const CompletionSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('text_completion'),
  created: Type.Integer(),
  model: Type.String(),
  system_fingerprint: Type.String({ description: "The first 16 hex digits of the INT8 model's sha256." }),
  choices: Type.Array(
    Type.Object({ text: Type.String(), index: Type.Integer(), logprobs: Type.Union([CompletionLogprobsSchema, Type.Null()]), finish_reason: FinishReason }),
  ),
  usage: Usage,
});
export type Completion = Static<typeof CompletionSchema>;

const ChatTopLogprob = Type.Object({ token: Type.String(), logprob: Type.Number(), bytes: Type.Array(Type.Integer()) });
export const ChatTokenLogprobSchema = Type.Object({
  token: Type.String(),
  logprob: Type.Number(),
  bytes: Type.Array(Type.Integer()),
  top_logprobs: Type.Array(ChatTopLogprob),
});
export type ChatTokenLogprob = Static<typeof ChatTokenLogprobSchema>;
const ChatLogprobs = Type.Union([Type.Object({ content: Type.Array(ChatTokenLogprobSchema), refusal: Type.Null() }), Type.Null()]);

export const ChatCompletionSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('chat.completion'),
  created: Type.Integer(),
  model: Type.String(),
  system_fingerprint: Type.String(),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      message: Type.Object({ role: Type.Literal('assistant'), content: Type.String(), refusal: Type.Null() }),
      logprobs: ChatLogprobs,
      finish_reason: FinishReason,
    }),
  ),
  usage: Usage,
});
export type ChatCompletion = Static<typeof ChatCompletionSchema>;

export const ModelSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('model'),
  created: Type.Integer({ description: 'When the artifact was quantized (epoch seconds).' }),
  owned_by: Type.String(),
  meta: Type.Object(
    {
      description: Type.String(),
      chat_template: Type.String(),
      context_length: Type.Integer(),
      quantization: Type.String(),
      synthetic: Type.Boolean({ description: 'True when the weights are random: the text means nothing.' }),
      sha256: Type.String({ description: 'The INT8 model file.' }),
    },
    { description: 'Not part of OpenAI\'s model object (clients ignore it): what this model is, as llama-server\'s "meta".' },
  ),
});
export type Model = Static<typeof ModelSchema>;
export const ModelListSchema = Type.Object({ object: Type.Literal('list'), data: Type.Array(ModelSchema) });

export const OpenAIErrorSchema = Type.Object({
  error: Type.Object({
    message: Type.String(),
    type: Type.String(),
    param: Type.Union([Type.String(), Type.Null()]),
    code: Type.Union([Type.String(), Type.Null()]),
  }),
});
