import Fastify, { type FastifyInstance } from 'fastify';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompareRequestSchema, GenerateRequestSchema, PredictRequestSchema } from '@gpt2-int8/contract/api';
import { installErrorHandlers } from '../../services/gateway/src/errors/error-handlers.js';
import { loneSurrogateError } from '../../services/gateway/src/json-body.js';
import { chineseErrorDetail, errorDetail } from './error-detail.js';

/** The gateway's validation as it runs (its validator compiler, its error handler, the API's schemas), without Redis. */
let app: FastifyInstance;
beforeAll(async () => {
  app = Fastify();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  installErrorHandlers(app, { bodyLimitBytes: 65536 });
  app.post('/api/predict', { schema: { body: PredictRequestSchema } }, async () => ({}));
  app.post('/api/generate', { schema: { body: GenerateRequestSchema } }, async () => ({}));
  app.post('/api/compare', { schema: { body: CompareRequestSchema } }, async () => ({}));
  await app.ready();
});
afterAll(async () => app?.close());

async function gatewayError(path: string, body: unknown): Promise<{ code: string; message: string }> {
  const res = await app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  expect(res.statusCode, res.body).toBe(400);
  return (res.json() as { error: { code: string; message: string } }).error;
}

describe('chineseErrorDetail', () => {
  it('says every validation message the gateway words in Chinese (its real messages, not copies)', async () => {
    const bad: Array<[string, unknown]> = [
      ['/api/predict', { prompt: '' }],
      ['/api/predict', { prompt: ' \n ' }],
      ['/api/predict', { top_k: 3 }],
      ['/api/predict', { prompt: 42 }],
      ['/api/predict', { prompt: 'a', top_k: 2.5 }],
      ['/api/predict', { prompt: 'a', top_k: 0 }],
      ['/api/predict', { prompt: 'a', top_k: 51 }],
      ['/api/predict', { prompt: 'a', temperature: 1 }],
      ['/api/predict', { prompt: 'a', x: 1, y: 2 }],
      ['/api/predict', [{ prompt: 'a' }]],
      ['/api/predict', 'null'],
      ['/api/predict', { prompt: 'a'.repeat(8001) }],
      ['/api/generate', { prompt: 'a', max_new_tokens: 10_000 }],
      ['/api/generate', { prompt: 'a', max_new_tokens: 0, temperature: -1 }],
      ['/api/generate', { prompt: 'a', temperature: 'hot' }],
      ['/api/generate', { prompt: 'a', top_p: 0 }],
      ['/api/generate', { prompt: 'a', seed: -3 }],
      ['/api/generate', { prompt: 'a', stream: 'yes' }],
      ['/api/generate', { prompt: 'a', stop: ['.', 5] }],
      ['/api/generate', { prompt: 'a', stop: [''] }],
      ['/api/generate', { prompt: 'a', stop: ['a', 'b', 'c', 'd', 'e'] }],
      ['/api/generate', { prompt: 'a', stop: ['x'.repeat(65)] }],
      ['/api/compare', { prompt: 'a', stream: true }],
    ];
    for (const [path, body] of bad) {
      const { code, message } = await gatewayError(path, body);
      expect(code).toBe('VALIDATION_ERROR');
      const zh = chineseErrorDetail(code, message);
      expect(zh, message).toBeDefined();
      // Chinese, with no English sentence left in it.
      expect(zh, message).toMatch(/[\u4e00-\u9fff]/);
      expect(zh, message).not.toMatch(/\b(must|required|unknown|characters|items)\b/);
    }
  });

  it('keeps the names and numbers of what it translates', async () => {
    const zh = async (path: string, body: unknown) => {
      const { code, message } = await gatewayError(path, body);
      return chineseErrorDetail(code, message);
    };
    expect(await zh('/api/predict', { prompt: '' })).toBe('提示词（prompt）不能为空，也不能只有空白');
    expect(await zh('/api/predict', { prompt: 'a'.repeat(8001) })).toBe('提示词（prompt）最多 8000 个字符');
    expect(await zh('/api/generate', { prompt: 'a', temperature: 9 })).toBe('温度（temperature）不能大于 5');
    expect(await zh('/api/generate', { prompt: 'a', top_p: 0 })).toBe('Top-p（top_p）必须大于 0');
    expect(await zh('/api/generate', { prompt: 'a', seed: 1.5 })).toBe('随机种子（seed）必须是整数');
    expect(await zh('/api/generate', { prompt: 'a', stop: ['.', 5] })).toBe('停止字符串（stop[1]）必须是字符串');
    expect(await zh('/api/predict', { top_k: 3 })).toBe('缺少提示词（prompt）');
    expect(await zh('/api/predict', { prompt: 'a', temperature: 1 })).toBe('有未知字段 "temperature"');
  });

  it("translates the worker's and the queue's messages by code, and leaves an unknown form in English", () => {
    // services/worker/src/engine.ts checkPrompt; services/gateway/src/queue/job-client.ts; services/gateway/src/admission.ts.
    expect(chineseErrorDetail('PROMPT_TOO_LONG', "the prompt is 300 tokens; the model's context is 256 tokens")).toBe('提示词有 300 个词元，模型最多只能读 256 个');
    expect(chineseErrorDetail('QUEUE_FULL', 'The service is busy (256 requests waiting); try again shortly')).toBe('256 个请求在排队');
    expect(chineseErrorDetail('TIMEOUT', 'No answer within 30000 ms; the service may be overloaded, try again')).toBe('等待了 30000 毫秒；服务可能过载，请重试');
    expect(chineseErrorDetail('NO_WORKER', 'No model worker is ready yet (no worker is running)')).toBe('没有工作进程在运行');
    expect(chineseErrorDetail('NO_WORKER', 'No model worker is ready yet (1 loading, 1 unable to serve — see /readyz)')).toBe('1 个正在加载，1 个无法服务，详见 /readyz');
    // /readyz's reason, in the status line (services/gateway/src/workers.ts).
    expect(chineseErrorDetail('NO_WORKER', 'no worker is running')).toBe('没有工作进程在运行');
    expect(chineseErrorDetail('BODY_TOO_LARGE', 'The request body is larger than the limit of 65536 bytes')).toBe('请求体超过了 65536 字节的上限');
    expect(chineseErrorDetail('INTERNAL', 'Internal error; quote request id abc-1 when reporting it')).toBe('报告问题时请提供请求 ID abc-1');
    const lone = loneSurrogateError({ unit: 0xd83d, field: 'prompt', offset: 2, inName: false });
    expect(chineseErrorDetail(lone.code, lone.message)).toBe('请求体不是有效的 Unicode：prompt 的第 2 个字符 \\uD83D 是半个 UTF-16 代理对，缺少另一半；请发送完整的字符');
    expect(chineseErrorDetail('VALIDATION_ERROR', 'prompt must rhyme')).toBeUndefined();
    expect(chineseErrorDetail('SOMETHING_NEW', 'whatever')).toBeUndefined();
  });

  it("adds to an error's title, never says it again (services/gateway/src/admission.ts, job-client.ts, drain.ts)", () => {
    const cases: Array<[string, string, string, string]> = [
      ['NO_WORKER', 'No model worker is ready yet (no worker is running)', 'no worker is running', '没有工作进程在运行'],
      ['QUEUE_FULL', 'The service is busy (256 requests waiting); try again shortly', '256 requests waiting', '256 个请求在排队'],
      ['QUEUE_UNAVAILABLE', 'The job queue is unavailable right now; try again shortly', '', ''],
      ['TIMEOUT', 'No answer within 30000 ms; the service may be overloaded, try again', 'waited 30000 ms; the service may be overloaded, try again', '等待了 30000 毫秒；服务可能过载，请重试'],
      ['WORKER_FAILED', 'The model worker failed to process this request; try again', 'try again', '请重试'],
      ['SHUTTING_DOWN', 'The gateway is shutting down; try again', 'try again in a moment', '请稍后重试'],
      ['INTERNAL', 'Internal error; quote request id abc-1 when reporting it', 'quote request id abc-1 when reporting it', '报告问题时请提供请求 ID abc-1'],
    ];
    for (const [code, message, en, zh] of cases) {
      expect(errorDetail(code, message, 'en'), code).toBe(en);
      expect(errorDetail(code, message, 'zh'), code).toBe(zh);
    }
    // A message that is the whole story stays whole; one of an unknown form is shown as it came.
    expect(errorDetail('PROMPT_TOO_LONG', 'The prompt is 2000 tokens; this model reads at most 1024', 'en')).toBe('The prompt is 2000 tokens; this model reads at most 1024');
    expect(errorDetail('SOMETHING_NEW', 'whatever', 'zh')).toBe('whatever');
  });
});
