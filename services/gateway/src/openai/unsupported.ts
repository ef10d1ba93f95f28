/**
 * OpenAI's parameters that this server does not implement. The schemas (schemas.ts) accept them
 * as anything, so that a client sending one hears that it is unsupported rather than unknown;
 * here each is refused by name (400 unsupported_parameter) unless it is absent, null or its no-op
 * value, which clients such as LangChain send by default.
 */
import { invalidRequest } from './openai-error.js';

interface Rule {
  /** True for the value that asks for nothing (the parameter's default, or an empty list). */
  noop: (v: unknown, body: Record<string, unknown>) => boolean;
  /** Why it is refused, ending "Unsupported parameter: 'x' is not supported by this server: …". */
  why: string;
}

const never = () => false;
const always = () => true;
const emptyList = (v: unknown) => Array.isArray(v) && v.length === 0;
const emptyObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0;
const NO_PENALTIES = 'penalties are not implemented (only 0 is accepted)';
const NO_TOOLS = 'GPT-2 cannot call tools';
const NO_FUNCTIONS = 'GPT-2 cannot call functions';

/** Request fields, of /v1/completions and /v1/chat/completions (each schema admits its own). */
const BODY: Record<string, Rule> = {
  presence_penalty: { noop: (v) => v === 0, why: NO_PENALTIES },
  frequency_penalty: { noop: (v) => v === 0, why: NO_PENALTIES },
  logit_bias: { noop: emptyObject, why: 'logit_bias is not implemented' },
  suffix: { noop: (v) => v === '', why: 'GPT-2 cannot insert text (no suffix)' },
  // best_of below n is a plain error, refused before this (routes.ts).
  best_of: { noop: (v, body) => v === (body.n ?? 1), why: 'best_of is not implemented (only best_of equal to n is accepted)' },
  response_format: { noop: (v) => (v as { type?: unknown } | null)?.type === 'text', why: 'only response_format {"type": "text"} is supported' },
  tools: { noop: emptyList, why: NO_TOOLS },
  tool_choice: { noop: (v) => v === 'none', why: NO_TOOLS },
  functions: { noop: emptyList, why: NO_FUNCTIONS },
  function_call: { noop: (v) => v === 'none', why: NO_FUNCTIONS },
  parallel_tool_calls: { noop: always, why: NO_TOOLS },
  store: { noop: (v) => v === false, why: 'completions are not stored (only false is accepted)' },
  metadata: { noop: emptyObject, why: 'completions are not stored, so there is nothing to attach metadata to' },
  modalities: { noop: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text', why: 'GPT-2 writes text only (only ["text"] is accepted)' },
  audio: { noop: never, why: 'GPT-2 writes text only (no audio output)' },
  prediction: { noop: never, why: 'predicted outputs are not implemented' },
  reasoning_effort: { noop: never, why: 'GPT-2 is not a reasoning model' },
  verbosity: { noop: (v) => v === 'medium', why: 'verbosity is not implemented (only "medium" is accepted)' },
  service_tier: { noop: (v) => v === 'auto' || v === 'default', why: 'there is one service tier (only "auto" and "default" are accepted)' },
  web_search_options: { noop: never, why: 'GPT-2 cannot search the web' },
};

/**
 * Fields of a chat message that carry more than text: OpenAI's assistant messages have them, and
 * a client sends them back with the conversation, empty (this server's own answers have
 * `refusal: null`). Non-empty, they ask for what GPT-2 cannot do. A refusal is refused too, rather
 * than written into the transcript: there is no honest place for it among the plain-text lines,
 * and a client can send it as the message's content instead.
 */
const MESSAGE: Record<string, Rule> = {
  tool_calls: { noop: emptyList, why: `${NO_TOOLS}, so a conversation cannot hold tool calls` },
  function_call: { noop: never, why: `${NO_FUNCTIONS}, so a conversation cannot hold function calls` },
  audio: { noop: never, why: 'GPT-2 reads text only (no audio)' },
  refusal: { noop: never, why: 'a refusal cannot be sent back (send its text as content)' },
};

function refuse(values: Record<string, unknown>, rules: Record<string, Rule>, body: Record<string, unknown>, prefix: string): void {
  for (const [name, rule] of Object.entries(rules)) {
    const v = values[name];
    if (v === undefined || v === null || rule.noop(v, body)) continue;
    const param = `${prefix}${name}`;
    throw invalidRequest(`Unsupported parameter: '${param}' is not supported by this server: ${rule.why}.`, param, 'unsupported_parameter');
  }
}

/** Refuses the request's unsupported parameters, and those of its messages (chat). */
export function refuseUnsupported(body: Record<string, unknown>): void {
  refuse(body, BODY, body, '');
  const messages = body.messages;
  if (!Array.isArray(messages)) return;
  messages.forEach((m: Record<string, unknown>, i) => refuse(m, MESSAGE, body, `messages[${i}].`));
}
