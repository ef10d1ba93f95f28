/**
 * The gateway's HTTP API from the browser. Types come from shared/contract/src/api.ts (type-only imports,
 * erased at build), so the page and the gateway agree on every shape.
 */
import type {
  CompareRequest,
  CompareResponse,
  ErrorBody,
  GenerateRequest,
  GenerateResponse,
  ModelInfoResponse,
  PredictRequest,
  PredictResponse,
  StreamToken,
} from '@gpt2-int8/contract/api';

export type { CompareResponse, GenerateResponse, ModelInfoResponse, PredictResponse, StreamToken };

/** An error answer from the API (code + message), or a network failure (code NETWORK). */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function isErrorBody(v: unknown): v is ErrorBody {
  const e = (v as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string';
}

async function errorFrom(res: Response): Promise<ApiError> {
  const body: unknown = await res.json().catch(() => undefined);
  if (isErrorBody(body)) return new ApiError(body.error.code, body.error.message, res.status);
  return new ApiError('HTTP_' + res.status, `HTTP ${res.status} ${res.statusText}`, res.status);
}

/** Where the page keeps the API key the server asked for (API_KEYS; services/gateway/src/api-keys.ts). */
const API_KEY_STORAGE = 'gpt2-int8.api-key';

function storedKey(): string | null {
  try {
    return globalThis.localStorage?.getItem(API_KEY_STORAGE) ?? null;
  } catch {
    return null;
  }
}

function withKey(init: RequestInit, key: string | null): RequestInit {
  if (key === null) return init;
  return { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${key}` } };
}

async function fetchOnce(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError('NETWORK', (err as Error).message, 0);
  }
}

/**
 * A request to /api/*, with the stored API key if there is one. When the server answers 401 (it
 * needs a key and has none, or not this one), the page asks for the key once, keeps it in
 * localStorage and sends the request again.
 */
async function send(path: string, init: RequestInit): Promise<Response> {
  const res = await fetchOnce(path, withKey(init, storedKey()));
  if (res.status !== 401 || typeof globalThis.prompt !== 'function') return res;
  const key = globalThis.prompt('This server needs an API key (ask its operator). It is kept in this browser only.')?.trim();
  if (!key) return res;
  try {
    globalThis.localStorage?.setItem(API_KEY_STORAGE, key);
  } catch {
    // Private mode: the key is used for this request only.
  }
  return fetchOnce(path, withKey(init, key));
}

async function postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const res = await send(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: signal ?? null });
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

export const predict = (req: PredictRequest, signal?: AbortSignal) => postJson<PredictResponse>('/api/predict', req, signal);
export const compare = (req: CompareRequest, signal?: AbortSignal) => postJson<CompareResponse>('/api/compare', req, signal);

export async function modelInfo(): Promise<ModelInfoResponse | undefined> {
  const res = await send('/api/model', {});
  if (res.status === 503) return undefined;
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as ModelInfoResponse;
}

export interface Readiness {
  ready: boolean;
  workers?: number;
  /** The error code of a not-ready answer (NO_WORKER, REDIS_UNREACHABLE), for error-detail.ts. */
  code?: string;
  reason?: string;
}

export async function readiness(): Promise<Readiness> {
  const res = await send('/readyz', {});
  const body = (await res.json().catch(() => ({}))) as { workers?: { ready: number }; error?: { code: string; message: string } };
  return res.ok
    ? { ready: true, workers: body.workers?.ready ?? 0 }
    : { ready: false, ...(body.error ? { code: body.error.code } : {}), reason: body.error?.message ?? `HTTP ${res.status}` };
}

/**
 * POST /api/generate with stream:true, calling onToken per `event: token` as it arrives (fetch +
 * ReadableStream; EventSource cannot POST). Resolves with the `done` event's response.
 */
export async function generateStream(
  req: Omit<GenerateRequest, 'stream'>,
  onToken: (token: StreamToken) => void,
  signal?: AbortSignal,
): Promise<GenerateResponse> {
  const res = await send('/api/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ ...req, stream: true }),
    signal: signal ?? null,
  });
  // A failure before the first token comes back as a plain JSON error with its status.
  if (!res.ok || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream') || !res.body) throw await errorFrom(res);

  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await readCut(reader);
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (!event) continue;
      if (event.name === 'token') onToken(event.data as StreamToken);
      else if (event.name === 'done') return event.data as GenerateResponse;
      else if (event.name === 'error') {
        const body = event.data;
        throw isErrorBody(body) ? new ApiError(body.error.code, body.error.message, 200) : new ApiError('STREAM', 'The stream failed', 200);
      }
    }
  }
  throw new ApiError('STREAM', 'the server closed the stream before the last token', 200);
}

/** The next chunk; a connection lost mid-stream (the gateway died) is a cut-off generation, not a network failure to retry. */
async function readCut(reader: ReadableStreamDefaultReader<string>): Promise<ReadableStreamReadResult<string>> {
  try {
    return await reader.read();
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError('STREAM', 'the connection to the server broke before the last token', 200);
  }
}

function parseEvent(block: string): { name: string; data: unknown } | undefined {
  let name = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return undefined;
  try {
    return { name, data: JSON.parse(data.join('\n')) };
  } catch {
    return undefined;
  }
}
