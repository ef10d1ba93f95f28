/**
 * /v1 through the official `openai` client against the gateway on in-memory parts
 * (in-memory-parts.ts), listening on a port: request validation, the response shapes, streaming,
 * choices × prompts, echo scoring and every error class the client raises. The answers are the
 * fake worker's (test/support/fake-model.ts); what the real model answers is checked in
 * test/reliability/openai.test.ts.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GenerateResponse } from '@gpt2-int8/contract/api';
import type { GenerateJob, JobResult } from '@gpt2-int8/contract/job';
import { FAKE_TOKENS } from '../../../test/support/fake-model.js';
import { inMemoryGateway, type InMemoryGateway } from './in-memory-parts.js';

const MODEL = 'distilgpt2-synthetic-int8';

async function listening(env: Record<string, string> = {}, opts: Parameters<typeof inMemoryGateway>[1] = {}) {
  const gw = await inMemoryGateway(env, opts);
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' });
  const client = new OpenAI({ baseURL: `${address}/v1`, apiKey: 'unused', maxRetries: 0 });
  return { ...gw, address, client };
}

describe('/v1 on in-memory parts, through the openai client', () => {
  let gw: InMemoryGateway & { address: string; client: OpenAI };
  beforeAll(async () => {
    gw = await listening();
  });
  afterAll(async () => {
    await gw.app.close();
  });
  const taken = () => gw.jobs.taken.splice(0);

  it('lists the served model under an id from its source name, with meta saying it is not a chat model', async () => {
    const list = await gw.client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([MODEL]);
    const m = await gw.client.models.retrieve(MODEL);
    expect(m).toMatchObject({ id: MODEL, object: 'model', owned_by: 'gpt2-int8' });
    expect(typeof m.created).toBe('number');
    const meta = (m as unknown as { meta: { description: string; quantization: string } }).meta;
    expect(meta.description).toMatch(/not a chat model/);
    // The same label as every answer's model.quantization and the page's card.
    expect(meta.quantization).toBe('int8 per-channel weights, dynamic per-row activations (two passes into the MLP and LM head), int8 embedding');
    await expect(gw.client.models.retrieve('gpt-4')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('completes a prompt: text, finish_reason, usage, one generate job with the prompt as token ids', async () => {
    taken();
    const r = await gw.client.completions.create({ model: MODEL, prompt: 'The sky is', max_tokens: 4, temperature: 0, seed: 7 });
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe(MODEL);
    expect(r.choices).toEqual([{ text: FAKE_TOKENS.slice(0, 4).join(''), index: 0, logprobs: null, finish_reason: 'length' }]);
    expect(r.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    const [job] = taken() as GenerateJob[];
    expect(job).toMatchObject({ kind: 'generate', prompt: 'The sky is', prompt_token_ids: [464, 6766, 318], max_new_tokens: 4, temperature: 0, top_p: 1, seed: 7 });
  });

  it('runs one job per prompt × n, seeds seed, seed+1, …, choices prompt-major', async () => {
    taken();
    const r = await gw.client.completions.create({ model: MODEL, prompt: ['a b', 'c d'], n: 2, max_tokens: 2, seed: 100 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const jobs = (taken() as GenerateJob[]).sort((a, b) => a.request_id.localeCompare(b.request_id));
    expect(jobs.map((j) => [j.prompt, j.seed])).toEqual([
      ['a b', 100],
      ['a b', 101],
      ['c d', 100],
      ['c d', 101],
    ]);
    expect(r.usage?.prompt_tokens).toBe(4);
  });

  it('accepts token-id prompts and reports logprobs with text offsets', async () => {
    const r = await gw.client.completions.create({ model: MODEL, prompt: [464, 6766, 318], max_tokens: 3, logprobs: 2 });
    const lp = r.choices[0]?.logprobs;
    expect(lp?.tokens).toEqual(FAKE_TOKENS.slice(0, 3));
    expect(lp?.token_logprobs?.every((x) => typeof x === 'number')).toBe(true);
    expect(lp?.top_logprobs?.map((m) => Object.keys(m ?? {}).length)).toEqual([2, 2, 2]);
    expect(lp?.text_offset).toEqual([0, 5, 9]);
  });

  it('scores a prompt (echo, logprobs, max_tokens 0) with a score job only; the first token has no log-probability', async () => {
    taken();
    const r = await gw.client.completions.create({ model: MODEL, prompt: 'The sky is', max_tokens: 0, echo: true, logprobs: 1 });
    expect(taken().map((j) => j.kind)).toEqual(['score']);
    const c = r.choices[0];
    expect(c?.text).toBe('The sky is');
    expect(c?.logprobs?.token_logprobs?.[0]).toBeNull();
    expect(c?.logprobs?.token_logprobs?.slice(1).every((x) => typeof x === 'number')).toBe(true);
    expect(c?.logprobs?.text_offset).toEqual([0, 3, 7]);
    expect(r.usage).toEqual({ prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 });
  });

  it('echoes the prompt before the completion, logprobs of both in order', async () => {
    const r = await gw.client.completions.create({ model: MODEL, prompt: 'The sky is', max_tokens: 2, echo: true, logprobs: 1 });
    const c = r.choices[0];
    expect(c?.text).toBe(`The sky is${FAKE_TOKENS[0]}${FAKE_TOKENS[1]}`);
    expect(c?.logprobs?.text_offset).toEqual([0, 3, 7, 10, 15]);
  });

  it('streams chunks that reassemble to the non-streamed text, then [DONE]', async () => {
    const whole = await gw.client.completions.create({ model: MODEL, prompt: 'The sky is', max_tokens: 6, seed: 1 });
    const stream = await gw.client.completions.create({ model: MODEL, prompt: 'The sky is', max_tokens: 6, seed: 1, stream: true, stream_options: { include_usage: true } });
    let text = '';
    const finish: (string | null)[] = [];
    let usage: unknown;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('text_completion');
      for (const c of chunk.choices) {
        text += c.text;
        if (c.finish_reason) finish.push(c.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(whole.choices[0]?.text);
    expect(finish).toEqual(['length']);
    expect(usage).toEqual(whole.usage);
  });

  it('chats over the plain template, stopping at the next "User:" turn', async () => {
    taken();
    const r = await gw.client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What colour is the sky?' },
      ],
      max_completion_tokens: 3,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]?.message).toMatchObject({ role: 'assistant', content: FAKE_TOKENS.slice(0, 3).join('') });
    expect(r.choices[0]?.logprobs?.content?.map((t) => t.top_logprobs.length)).toEqual([2, 2, 2]);
    const [job] = taken() as GenerateJob[];
    expect(job?.prompt).toBe('System: Be brief.\nUser: What colour is the sky?\nAssistant:');
    expect(job?.stop).toEqual(['\nUser:']);
  });

  it('continues a conversation holding its own earlier answer, and OpenAI\'s assistant messages with empty extras', async () => {
    const first = await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    const answer = first.choices[0]?.message;
    expect(answer).toHaveProperty('refusal', null);
    taken();
    await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }, answer!, { role: 'user', content: 'more' }], max_tokens: 2 });
    expect((taken()[0] as GenerateJob).prompt).toBe(`User: Hi\nAssistant: ${FAKE_TOKENS[0]}${FAKE_TOKENS[1]}\nUser: more\nAssistant:`);
    // As OpenAI answers a tool call: no content; the empties are what clients send back.
    const empty = { role: 'assistant' as const, content: null, refusal: null, tool_calls: [], function_call: null, audio: null };
    await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }, empty, { role: 'user', content: 'more' }], max_tokens: 2 });
    expect((taken()[0] as GenerateJob).prompt).toBe('User: Hi\nAssistant: \nUser: more\nAssistant:');
  });

  it.each([
    [{ tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }, 'messages[1].tool_calls', /cannot call tools/],
    [{ function_call: { name: 'f', arguments: '{}' } }, 'messages[1].function_call', /cannot call functions/],
    [{ refusal: 'No.' }, 'messages[1].refusal', /send its text as content/],
    [{ audio: { id: 'a' } }, 'messages[1].audio', /text only/],
  ])('refuses an assistant message carrying %j as unsupported', async (extra, param, message) => {
    const assistant = { role: 'assistant', content: 'ok', ...extra } as OpenAI.ChatCompletionAssistantMessageParam;
    const err = await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }, assistant] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ param, code: 'unsupported_parameter' });
    expect((err as Error).message).toMatch(message);
  });

  it('refuses a user message without content, naming it', async () => {
    const err = await gw.client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: null } as unknown as OpenAI.ChatCompletionUserMessageParam] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, param: 'messages[0].content' });
    expect((err as Error).message).toMatch(/content is required on a user message/);
  });

  it('lists the bytes of each token by its id, not of its text: a byte token shown as <0xF3> is [0xF3]', async () => {
    // GPT-2's token 175 is the byte 0xF3, 38461 the bytes E9 96 (the start of a character), 4171 " blue".
    const tokens = [
      { index: 0, token: '<0xF3>', token_id: 175, logprob: -1, top_logprobs: [{ token: '<0xE9><0x96>', token_id: 38461, logprob: -2 }] },
      { index: 1, token: ' blue', token_id: 4171, logprob: -1, top_logprobs: [] },
    ];
    const run = gw.jobs.run.bind(gw.jobs);
    vi.spyOn(gw.jobs, 'run').mockImplementationOnce(async (data, opts) => ({ ...((await run(data, opts)) as GenerateResponse), tokens, kind: 'generate' }) as JobResult);
    const r = await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, logprobs: true, top_logprobs: 1 });
    const content = r.choices[0]?.logprobs?.content;
    expect(content?.map((t) => t.bytes)).toEqual([[0xf3], [32, 98, 108, 117, 101]]);
    expect(content?.[0]?.top_logprobs[0]?.bytes).toEqual([0xe9, 0x96]);
  });

  it('counts a request whose client left once as a 499, whatever its number of choices', async () => {
    const count = async () => Number(/gateway_http_requests_total\{method="POST",route="\/v1\/completions",status="499"\} (\d+)/.exec(await (await fetch(`${gw.address}/metrics`)).text())?.[1] ?? 0);
    for (const stream of [true, false]) {
      const before = await count();
      taken();
      const controller = new AbortController();
      const sent = fetch(`${gw.address}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, prompt: 'HANG', n: 5, stream }),
        signal: controller.signal,
      }).catch(() => undefined);
      await vi.waitFor(() => expect(gw.jobs.taken).toHaveLength(5));
      controller.abort();
      await sent;
      await vi.waitFor(() => expect(gw.jobs.inFlight).toBe(0));
      expect(await count(), `stream: ${stream}`).toBe(before + 1);
    }
  });

  it('streams chat deltas: the role first, then the content, then finish_reason', async () => {
    const stream = await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, stream: true });
    const deltas: unknown[] = [];
    let content = '';
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      for (const c of chunk.choices) {
        deltas.push(c.delta);
        content += c.delta.content ?? '';
      }
    }
    expect(deltas[0]).toMatchObject({ role: 'assistant' });
    expect(content).toBe(FAKE_TOKENS.slice(0, 3).join(''));
  });

  it.each([
    [{ suffix: 'x' }, 'suffix', /suffix/],
    [{ best_of: 3 }, 'best_of', /best_of/],
    [{ presence_penalty: 0.5 }, 'presence_penalty', /penalties/],
    [{ logit_bias: { '50256': -100 } }, 'logit_bias', /logit_bias/],
    [{ frobnicate: 1 }, 'frobnicate', /unknown field "frobnicate"/],
    [{ max_tokens: 0 }, 'max_tokens', /only with echo/],
    [{ n: 17 }, 'n', /n must be <= 16/],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /stop/],
    [{ best_of: 1, n: 2 }, 'best_of', /best_of must be greater than or equal to n/],
    [{ stream_options: { include_usage: true } }, 'stream_options', /only allowed when 'stream' is true/],
    // One union's error, said once: not its null branch nor "must match a schema in anyOf".
    [{ max_tokens: 300 }, 'max_tokens', /^400 max_tokens must be <= 256$/],
    [{ stop: 5 }, 'stop', /^400 stop must be a string or an array$/],
  ])('refuses %j with a BadRequestError naming %s', async (extra, param, message) => {
    const err = await gw.client.completions.create({ model: MODEL, prompt: 'The sky is', ...(extra as object) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.status).toBe(400);
    expect(e.type).toBe('invalid_request_error');
    expect(e.param).toBe(param);
    expect(e.message).toMatch(message);
  });

  it.each([
    [{ store: true }, 'store'],
    [{ metadata: { user: 'x' } }, 'metadata'],
    [{ reasoning_effort: 'high' as const }, 'reasoning_effort'],
  ])('calls OpenAI\'s chat parameter %j unsupported, not unknown', async (extra, param) => {
    const err = await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], ...extra }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, param, code: 'unsupported_parameter' });
    // Their no-op values are accepted.
    await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 1, store: false, metadata: {} });
  });

  it('names messages when a conversation is past the context', async () => {
    const err = await gw.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x '.repeat(1020) }], max_tokens: 10 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'messages' });
  });

  it('refuses a lone UTF-16 surrogate escape (which would become U+FFFD) in each API\'s shape, naming where', async () => {
    const post = (path: string, body: string) => fetch(`${gw.address}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const v1 = await post('/v1/completions', `{"model":"${MODEL}","prompt":"ab\\ud83dcd"}`);
    expect(v1.status).toBe(400);
    const { error } = (await v1.json()) as { error: { message: string; code: string; type: string } };
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_unicode', param: 'prompt' });
    expect(error.message).toMatch(/prompt holds \\uD83D at character 2/);
    const api = await post('/api/predict', '{"prompt":"ab\\udc00cd"}');
    expect(api.status).toBe(400);
    expect(await api.json()).toMatchObject({ error: { code: 'INVALID_UNICODE', message: expect.stringContaining('prompt holds \\uDC00 at character 2') } });
    // A whole pair, escaped, is a character like any other.
    expect((await post('/api/predict', '{"prompt":"ab\\ud83d\\ude00"}')).status).toBe(200);
  });

  it('answers a compressed body with 415 in each API\'s shape, not as invalid UTF-8', async () => {
    const { gzipSync } = await import('node:zlib');
    const post = (path: string, body: object) =>
      fetch(`${gw.address}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(body)) });
    const v1 = await post('/v1/completions', { model: MODEL, prompt: 'x' });
    expect(v1.status).toBe(415);
    expect(await v1.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringMatching(/Compressed request bodies are not supported/) } });
    const api = await post('/api/predict', { prompt: 'x' });
    expect(api.status).toBe(415);
    expect(await api.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringMatching(/gzip/) } });
  });

  it('answers a malformed /v1 URL in OpenAI\'s shape', async () => {
    const res = await fetch(`${gw.address}/v1/%ff`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', message: 'The URL is malformed' } });
  });

  it('refuses a prompt past the context, saying which limit', async () => {
    const err = await gw.client.completions.create({ model: MODEL, prompt: Array.from({ length: 1020 }, () => 11), max_tokens: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ code: 'context_length_exceeded', param: 'prompt' });
    expect((err as Error).message).toMatch(/maximum context length is 1024 tokens, however you requested 1030 tokens \(1020 in the prompt, 10 for the completion\)/);
  });

  it('refuses a tool call and an image part by name', async () => {
    const tools = await gw.client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] })
      .catch((e: unknown) => e);
    expect(tools).toMatchObject({ status: 400, param: 'tools' });
    const image = await gw.client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] })
      .catch((e: unknown) => e);
    expect(image).toMatchObject({ status: 400 });
  });

  it('answers another model with NotFoundError model_not_found, an unknown /v1 path with a 404 and a wrong method with a 405 in OpenAI\'s shape', async () => {
    const err = await gw.client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ code: 'model_not_found', param: 'model' });
    const res = await fetch(`${gw.address}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'unknown_url', param: null } });
    // A known /v1 path asked with another method: 405 naming the method it takes, in Allow too.
    const wrongMethod = await fetch(`${gw.address}/v1/chat/completions`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(await wrongMethod.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'method_not_allowed', message: expect.stringContaining('GET /v1/chat/completions') } });
    const models = await fetch(`${gw.address}/v1/models`, { method: 'DELETE' });
    expect(models.status).toBe(405);
    expect(models.headers.get('allow')).toMatch(/GET/);
    // /api/* keeps its own shape.
    const api = await fetch(`${gw.address}/api/nope`);
    expect(await api.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('maps the worker\'s PROMPT_TOO_LONG to a 400 context_length_exceeded', async () => {
    const err = await gw.client.completions.create({ model: MODEL, prompt: 'TOO_LONG' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ code: 'context_length_exceeded' });
  });

  it('a failure before the first chunk of a stream is a plain HTTP error the client raises', async () => {
    const err = await (async () => {
      const s = await gw.client.completions.create({ model: MODEL, prompt: 'TOO_LONG', stream: true });
      for await (const _ of s) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('/v1 refusals that depend on the gateway\'s state', () => {
  it('RateLimitError with Retry-After past RATE_LIMIT_PER_MINUTE', async () => {
    const gw = await listening({ RATE_LIMIT_PER_MINUTE: '1' });
    try {
      await gw.client.models.list();
      const err = await gw.client.models.list().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toMatch(/^\d+$/);
      expect(err).toMatchObject({ type: 'rate_limit_exceeded' });
    } finally {
      await gw.app.close();
    }
  });

  it('503 no_worker (InternalServerError) with Retry-After when no worker is ready', async () => {
    const gw = await listening({}, { heartbeats: [] });
    try {
      const err = await gw.client.completions.create({ model: MODEL, prompt: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err).toMatchObject({ status: 503, code: 'no_worker', type: 'server_error' });
    } finally {
      await gw.app.close();
    }
  });
});

describe('API keys (API_KEYS)', () => {
  it('401 without or with a wrong key, in each API\'s shape; health stays open; the rate limit counts per key, and per address without a known key', async () => {
    const gw = await listening({ API_KEYS: 'key-one, key-two', RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const anonymous = new OpenAI({ baseURL: `${gw.address}/v1`, apiKey: 'wrong', maxRetries: 0 });
      const err = await anonymous.models.list().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err).toMatchObject({ status: 401, code: 'invalid_api_key' });
      expect((err as Error).message).not.toContain('wrong');

      const api = await fetch(`${gw.address}/api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
      expect(api.status).toBe(401);
      expect(await api.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect((await fetch(`${gw.address}/healthz`)).status).toBe(200);
      // A third try without a known key from this address, with yet another key: limited, not a fresh allowance.
      const guessing = new OpenAI({ baseURL: `${gw.address}/v1`, apiKey: 'guess-3', maxRetries: 0 });
      await expect(guessing.models.list()).rejects.toBeInstanceOf(OpenAI.RateLimitError);

      const one = new OpenAI({ baseURL: `${gw.address}/v1`, apiKey: 'key-one', maxRetries: 0 });
      const two = new OpenAI({ baseURL: `${gw.address}/v1`, apiKey: 'key-two', maxRetries: 0 });
      expect((await one.models.list()).data).toHaveLength(1);
      expect((await one.models.list()).data).toHaveLength(1);
      await expect(one.models.list()).rejects.toBeInstanceOf(OpenAI.RateLimitError);
      // Another key has its own allowance.
      expect((await two.models.list()).data).toHaveLength(1);

      // The OpenAPI document marks the keyed routes, and only those.
      const doc = (await (await fetch(`${gw.address}/docs/json`)).json()) as { paths: Record<string, Record<string, { security?: unknown }>> };
      expect(doc.paths['/v1/completions']?.post?.security).toEqual([{ apiKey: [] }]);
      expect(doc.paths['/api/generate']?.post?.security).toEqual([{ apiKey: [] }]);
      expect(doc.paths['/healthz']?.get?.security).toBeUndefined();
    } finally {
      await gw.app.close();
    }
  });
});

describe('/v1 in the OpenAPI document', () => {
  it('lists the /v1 routes at /docs/json', async () => {
    const gw = await inMemoryGateway();
    try {
      const doc = (await gw.app.inject({ url: '/docs/json' })).json() as { paths: Record<string, unknown> };
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/completions', '/v1/chat/completions', '/v1/models', '/v1/models/{model}']));
    } finally {
      await gw.app.close();
    }
  });
});
