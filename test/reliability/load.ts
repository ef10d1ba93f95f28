/**
 * A closed-loop load for the fault tests: `concurrency` clients, each sending one request after
 * another (predict, generate, streamed generate in turn) with its own prompt and x-request-id, and
 * recording how each one ended. Every request carries a client-side deadline, so a request the
 * service never answers shows up as 'hung' instead of hanging the test.
 */
import { parseSse } from './cluster.js';

export type Kind = 'predict' | 'generate' | 'stream';

export interface Outcome {
  id: string;
  kind: Kind;
  prompt: string;
  /** Epoch ms when it was sent and when it ended. */
  sentAt: number;
  endedAt: number;
  /** HTTP status; 'refused' when no connection could be made; 'hung' past the client deadline. */
  status: number | 'refused' | 'hung';
  /** The error code of a JSON error, or of a streamed `event: error`. */
  code?: string;
  /** For a streamed generate: the stream ended with `done` (true) or `error` (false). */
  streamDone?: boolean;
  worker?: string;
  /** The INT8 sha256 of the model that produced the answer. */
  model?: string;
  /** The answer belongs to this request: same x-request-id, same prompt echoed. */
  matches: boolean;
  body: string;
}

export interface LoadOptions {
  concurrency: number;
  /** A prefix for request ids and prompts, so several loads can share a gateway. */
  tag: string;
  kinds?: Kind[];
  /** Client-side deadline per request: an answer slower than this counts as 'hung'. */
  deadlineMs?: number;
  /** Pause after an error answer (a client backing off), so an outage is not a busy loop. */
  backoffMs?: number;
  /** Generate settings (greedy by default). */
  generate?: Record<string, unknown>;
}

export interface Load {
  outcomes: Outcome[];
  /** Requests sent so far that have not ended. */
  inFlight(): number;
  stop(): Promise<Outcome[]>;
}

export async function request(base: string, kind: Kind, id: string, prompt: string, deadlineMs: number, generate: Record<string, unknown> = {}): Promise<Outcome> {
  const sentAt = Date.now();
  const path = kind === 'predict' ? '/api/predict' : '/api/generate';
  const body = kind === 'predict' ? { prompt } : { prompt, max_new_tokens: 8, ...generate, ...(kind === 'stream' ? { stream: true } : {}) };
  const base_ = { id, kind, prompt, sentAt };
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(deadlineMs),
    });
  } catch (err) {
    const hung = (err as Error).name === 'TimeoutError';
    return { ...base_, endedAt: Date.now(), status: hung ? 'hung' : 'refused', matches: false, body: String((err as Error).cause ?? err) };
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    const hung = (err as Error).name === 'TimeoutError';
    return { ...base_, endedAt: Date.now(), status: hung ? 'hung' : res.status, code: 'BODY_CUT', matches: false, body: String(err) };
  }
  const out: Outcome = { ...base_, endedAt: Date.now(), status: res.status, matches: res.headers.get('x-request-id') === id, body: text };
  try {
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const events = parseSse(text);
      const last = events.at(-1);
      out.streamDone = last?.event === 'done';
      if (last?.event === 'done') {
        out.worker = last.data.worker as string;
        out.model = (last.data.model as { sha256?: string } | undefined)?.sha256;
        out.matches &&= last.data.prompt === prompt;
        // Each token once, in order, adding up to the final text (nothing repeated after a retry).
        const tokens = events.filter((e) => e.event === 'token');
        out.matches &&= tokens.every((t, i) => t.data.index === i) && tokens.map((t) => t.data.token).join('') === last.data.text;
      } else if (last?.event === 'error') {
        out.code = (last.data.error as { code: string }).code;
      }
    } else {
      const json = JSON.parse(text) as { prompt?: string; worker?: string; model?: { sha256?: string }; error?: { code: string } };
      if (res.status === 200) {
        out.worker = json.worker;
        out.model = json.model?.sha256;
        out.matches &&= json.prompt === prompt;
      } else {
        out.code = json.error?.code;
      }
    }
  } catch {
    out.code = 'UNPARSABLE';
  }
  return out;
}

export function startLoad(base: string, opts: LoadOptions): Load {
  const kinds = opts.kinds ?? ['predict', 'generate', 'stream'];
  const outcomes: Outcome[] = [];
  let stopped = false;
  let n = 0;
  let pending = 0;
  const client = async (c: number) => {
    while (!stopped) {
      const i = n++;
      const kind = kinds[i % kinds.length] as Kind;
      const id = `${opts.tag}-${i}`;
      pending++;
      const o = await request(base, kind, id, `${opts.tag} request ${i} from client ${c}: the sky is`, opts.deadlineMs ?? 30_000, opts.generate);
      pending--;
      outcomes.push(o);
      if (o.status !== 200 || o.streamDone === false) await new Promise((r) => setTimeout(r, opts.backoffMs ?? 50));
    }
  };
  const clients = Array.from({ length: opts.concurrency }, (_, c) => client(c));
  return {
    outcomes,
    inFlight: () => pending,
    stop: async () => {
      stopped = true;
      await Promise.all(clients);
      return outcomes;
    },
  };
}

/** Outcomes grouped for assertions and messages: "200: 812, 503 QUEUE_UNAVAILABLE: 40". */
export function tally(outcomes: Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const key = `${o.status}${o.code ? ` ${o.code}` : ''}${o.streamDone === true ? ' stream' : ''}`;
    t[key] = (t[key] ?? 0) + 1;
  }
  return t;
}
