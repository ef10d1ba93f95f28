/**
 * Load through the gateway with autocannon: a fixed concurrency for a fixed time, the latency of
 * every successful response (autocannon's own float-ms response times, not its integer histogram)
 * and the worker's timings_ms from every response body.
 */
import autocannon, { type Request, type Result } from 'autocannon';
import type { PredictResponse } from '@gpt2-int8/contract/api';
import { percentile } from '@gpt2-int8/contract/stats';
import { round } from './summary.js';

export interface LoadRun {
  concurrency: number;
  duration_s: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  throughput_rps: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  /** Medians of the responses' timings_ms. */
  timings_ms: { queue: number; tokenize: number; inference: number; total: number };
  /** Cores used by each role (gateway, workers, redis, client) during the run, when measured. */
  cpu_cores?: Record<string, number>;
}

export interface RawRun extends LoadRun {
  latencies: number[];
  inference: number[];
  queue: number[];
  tokenize: number[];
  total: number[];
}

/** What each request of a load run asks for. */
export type Workload = 'predict' | 'generate';

/** Tokens a `generate` load request asks for: greedy, not streamed. */
export const GENERATE_TOKENS = 32;

function requestBody(workload: Workload, prompt: string): Record<string, unknown> {
  return workload === 'predict' ? { prompt } : { prompt, max_new_tokens: GENERATE_TOKENS };
}

export function loadRequests(workload: Workload, prompts: readonly string[], onBody: (status: number, body: string) => void): Request[] {
  return prompts.map((prompt) => ({
    method: 'POST',
    path: `/api/${workload}`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(requestBody(workload, prompt)),
    onResponse: (status: number, body: string) => onBody(status, body),
  }));
}

export async function runLoad(url: string, prompts: readonly string[], concurrency: number, durationS: number, workload: Workload = 'predict'): Promise<RawRun> {
  const latencies: number[] = [];
  const inference: number[] = [];
  const queue: number[] = [];
  const tokenize: number[] = [];
  const total: number[] = [];
  const onBody = (status: number, body: string) => {
    if (status !== 200) return;
    try {
      const t = (JSON.parse(body) as { timings_ms?: { queue: number; tokenize: number; inference: number; total: number } }).timings_ms;
      if (!t) return;
      inference.push(t.inference);
      queue.push(t.queue);
      tokenize.push(t.tokenize);
      total.push(t.total);
    } catch {
      // counted by autocannon as a response; a body we cannot read just has no timings
    }
  };
  const started = performance.now();
  const result = await new Promise<Result>((resolve, reject) => {
    const instance = autocannon(
      { url, connections: concurrency, duration: durationS, timeout: 30, requests: loadRequests(workload, prompts, onBody) },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  const seconds = (performance.now() - started) / 1000;
  const med = (xs: number[]) => round(percentile(xs, 50), 3);
  return {
    concurrency,
    duration_s: round(seconds, 2),
    ok: latencies.length,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    throughput_rps: round(latencies.length / seconds, 2),
    latency_ms: { p50: med(latencies), p90: round(percentile(latencies, 90), 3), p99: round(percentile(latencies, 99), 3), max: round(latencies.length ? Math.max(...latencies) : Number.NaN, 3) },
    timings_ms: { queue: med(queue), tokenize: med(tokenize), inference: med(inference), total: med(total) },
    latencies,
    inference,
    queue,
    tokenize,
    total,
  };
}

/** One POST /api/predict; rejects unless it answers 200. */
export async function predict(url: string, prompt: string): Promise<PredictResponse> {
  const res = await fetch(`${url}/api/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt }),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 200) throw new Error(`POST /api/predict answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as PredictResponse;
}

/** A few sequential predicts (warm-up, or to make a worker touch its memory). */
export async function predictSequential(url: string, prompts: readonly string[], count: number): Promise<void> {
  for (let i = 0; i < count; i++) await predict(url, prompts[i % prompts.length] as string);
}

/** `count` predicts at once (makes a worker run a full micro-batch). */
export async function predictTogether(url: string, prompts: readonly string[], count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => predictSequential(url, [prompts[i % prompts.length] as string], 1)));
}
