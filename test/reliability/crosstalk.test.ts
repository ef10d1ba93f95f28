/**
 * Every answer reaches the client that asked. The built gateway and two built workers (processes,
 * private redis-server, tiny artifact) take 200 requests — predict, generate, streamed generate and
 * compare, each with its own prompt and x-request-id — first one at a time, then 32 at a time, so
 * the workers batch predictions together. Each concurrent answer must carry its own request id and
 * prompt and equal the answer the same request got alone: nothing swapped between clients, between
 * rows of a batch, or between streams.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALIDATION_PROMPTS } from '@gpt2-int8/contract/prompts';
import { type Cluster, parseSse, post, startCluster } from './cluster.js';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster({ queueName: 'xtalk', workers: ['xtalk-a', 'xtalk-b'] });
});
afterAll(async () => {
  const codes = await c?.stop();
  expect(codes).toEqual({ gateway: 0, 'xtalk-a': 0, 'xtalk-b': 0 });
});

type Kind = 'predict' | 'generate' | 'stream' | 'compare';
interface Req {
  i: number;
  kind: Kind;
  prompt: string;
  body: Record<string, unknown>;
}

/** What identifies an answer's content (compared between the lone and the concurrent run). */
interface Answer {
  id: string | null;
  status: number;
  prompt: unknown;
  content: unknown;
  worker: unknown;
}

const N = 200;
const CONCURRENCY = 32;

function requests(): Req[] {
  return Array.from({ length: N }, (_, i) => {
    const slot = i % 20;
    const kind: Kind = slot < 12 ? 'predict' : slot < 17 ? 'generate' : slot < 19 ? 'stream' : 'compare';
    // Distinct prompts of varied length, so batches mix lengths (left padding) too.
    const prompt = `${VALIDATION_PROMPTS[i % VALIDATION_PROMPTS.length]} (${i})`;
    const body: Record<string, unknown> =
      kind === 'predict' || kind === 'compare'
        ? { prompt, top_k: 1 + (i % 10) }
        : { prompt, max_new_tokens: 1 + (i % 8), ...(kind === 'stream' ? { stream: true } : {}) };
    return { i, kind, prompt, body };
  });
}

async function ask(r: Req, id: string): Promise<Answer> {
  const res = await post(c.base, r.kind === 'predict' ? '/api/predict' : r.kind === 'compare' ? '/api/compare' : '/api/generate', r.body, { headers: { 'x-request-id': id } });
  const header = res.headers.get('x-request-id');
  if (r.kind === 'stream') {
    const events = parseSse(await res.text());
    const done = events.at(-1);
    const tokens = events.filter((e) => e.event === 'token').map((e) => e.data);
    // The stream itself is consistent: each index once, in order, adding up to the final text.
    expect(tokens.map((t) => t.index)).toEqual(tokens.map((_, k) => k));
    expect(tokens.map((t) => t.token).join('')).toBe(done?.data.text);
    return { id: header, status: res.status, prompt: done?.data.prompt, content: { text: done?.data.text, ids: tokens.map((t) => t.token_id) }, worker: done?.data.worker };
  }
  const b = (await res.json()) as Record<string, unknown>;
  const content =
    r.kind === 'predict'
      ? { token_id: b.token_id, top_k: (b.top_k as Array<{ token_id: number }>).map((t) => t.token_id) }
      : r.kind === 'compare'
        ? { int8: (b.int8 as { token_id: number }).token_id, fp32: (b.fp32 as { token_id: number }).token_id }
        : { text: b.text, ids: (b.tokens as Array<{ token_id: number }>).map((t) => t.token_id) };
  return { id: header, status: res.status, prompt: b.prompt, content, worker: b.worker };
}

describe('no cross-talk under concurrent load', () => {
  it(`${N} distinct requests, ${CONCURRENCY} at a time: each answer carries its own id and prompt and equals the answer it gets alone`, async () => {
    const reqs = requests();
    const alone: Answer[] = [];
    for (const r of reqs) alone.push(await ask(r, `alone-${r.i}`));
    for (const [k, a] of alone.entries()) expect(a.status, `request ${k}`).toBe(200);

    const ids = reqs.map((r) => `xt-${r.i}-${randomUUID().slice(0, 8)}`);
    const together: Answer[] = new Array<Answer>(N);
    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let k = next++; k < N; k = next++) together[k] = await ask(reqs[k] as Req, ids[k] as string);
      }),
    );
    const ms = Date.now() - t0;

    for (const r of reqs) {
      const a = together[r.i] as Answer;
      expect(a.status, `request ${r.i}`).toBe(200);
      expect(a.id, `request ${r.i}'s id`).toBe(ids[r.i]);
      expect(a.prompt, `request ${r.i}'s prompt`).toBe(r.prompt);
      expect(a.content, `request ${r.i} (${r.kind}): the same answer as alone`).toEqual(alone[r.i]?.content);
    }
    // Both workers served, and predictions were batched (several prompts in one inference).
    expect(new Set(together.map((a) => a.worker))).toEqual(new Set(['xtalk-a', 'xtalk-b']));
    const batches = [...c.workers.values()].flatMap((w) => [...w.output().matchAll(/"batch":(\d+)/g)].map((m) => Number(m[1])));
    expect(Math.max(...batches)).toBeGreaterThan(1);
    console.info(`[reliability] cross-talk: ${N} requests at concurrency ${CONCURRENCY} in ${ms} ms, all matched; largest batch ${Math.max(...batches)}`);
  });
});
