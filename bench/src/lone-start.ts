/**
 * `npm run bench:lone -- --through-start`: what a user sending one predict at a time waits beyond
 * the model's own work (docs/performance.md, "A lone predict through npm start"). The
 * product is started as a user does (product.ts); one keep-alive Node fetch client sends
 * sequential predicts, every other one after PAUSE_MS idle, so both a warm and a woken-up path are
 * measured. Reported: the client's time, the worker's inference and the gateway's own timings_ms,
 * medians, with the target figure — client p50 − inference p50 of the paced requests.
 */
import { LEGACY_PROMPTS } from '@gpt2-int8/contract/prompts';
import type { PredictResponse } from '@gpt2-int8/contract/api';
import { processTicks } from './cpu-share.js';
import { predict } from './load.js';
import { fixed, table } from './markdown.js';
import { startProduct } from './product.js';
import { monitorRedis } from './redis-monitor.js';
import { summarize } from './summary.js';

/** The idle time before every other request: long enough for every process to go back to sleep. */
export const PAUSE_MS = 200;
const WARMUPS = 20;

export interface ThroughStartOptions {
  modelSource: string;
  modelDir: string;
  workers: number;
  requests: number;
  logLevel: string;
  /** Also counts the Redis commands per predict (MONITOR, in a separate pass: it slows Redis). */
  redisCommands: boolean;
}

interface Sample {
  paced: boolean;
  client: number;
  timings: PredictResponse['timings_ms'];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` calls of `send` after `warmups`, every other one after PAUSE_MS idle, each timed by the client. */
async function paced<T>(count: number, warmups: number, send: (i: number) => Promise<T>): Promise<{ paced: boolean; client: number; result: T }[]> {
  const out: { paced: boolean; client: number; result: T }[] = [];
  for (let i = 0; i < warmups + count; i++) {
    const isPaced = i % 2 === 1;
    if (isPaced) await sleep(PAUSE_MS);
    const started = performance.now();
    const result = await send(i);
    const client = performance.now() - started;
    if (i >= warmups) out.push({ paced: isPaced, client, result });
  }
  return out;
}

async function sequential(url: string, count: number, warmups: number): Promise<Sample[]> {
  const runs = await paced(count, warmups, (i) => predict(url, LEGACY_PROMPTS[i % LEGACY_PROMPTS.length] as string));
  return runs.map(({ paced: p, client, result }) => ({ paced: p, client, timings: result.timings_ms }));
}

/** The same client's GET /healthz, paced the same way: the HTTP round trip through the gateway with no job in it. */
async function httpFloorMs(url: string, count: number): Promise<number> {
  const runs = await paced(count, WARMUPS, async () => {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) });
    if (res.status !== 200) throw new Error(`GET /healthz answered ${res.status}`);
    return res.text();
  });
  return summarize(runs.filter((r) => r.paced).map((r) => r.client)).median;
}

function row(label: string, samples: readonly Sample[]): string[] {
  const p50 = (pick: (s: Sample) => number) => summarize(samples.map(pick)).median;
  const client = p50((s) => s.client);
  const inference = p50((s) => s.timings.inference);
  const total = p50((s) => s.timings.total);
  return [label, String(samples.length), fixed(client), fixed(inference), fixed(client - inference), fixed(p50((s) => s.timings.queue)), fixed(total), fixed(client - total)];
}

/** The paced requests' client p50 − inference p50: the target's figure. */
export function overheadMs(samples: readonly Sample[]): number {
  const paced = samples.filter((s) => s.paced);
  return summarize(paced.map((s) => s.client)).median - summarize(paced.map((s) => s.timings.inference)).median;
}

/** USER_HZ: /proc/<pid>/stat counts CPU time in hundredths of a second. */
const MS_PER_TICK = 10;

/** The CPU time each role's processes (and this client, 'client') spend while `fn` runs, in ms. */
async function cpuMs<T>(roles: Map<string, number[]>, fn: () => Promise<T>): Promise<{ result: T; ms: Map<string, number> }> {
  const all = new Map<string, (number | 'self')[]>([...roles, ['client', ['self']]]);
  const ticks = () => new Map([...all].map(([role, pids]) => [role, pids.reduce((a: number, p) => a + processTicks(p), 0)]));
  const before = ticks();
  const result = await fn();
  const after = ticks();
  return { result, ms: new Map([...after].map(([role, t]) => [role, (t - (before.get(role) ?? 0)) * MS_PER_TICK])) };
}

async function countCommands(url: string, redisUrl: string, requests: number): Promise<string> {
  const monitor = await monitorRedis(redisUrl);
  const before = performance.now();
  await sequential(url, requests, 0);
  const seconds = (performance.now() - before) / 1000;
  const counts = [...(await monitor.stop()).entries()].sort((a, b) => b[1] - a[1]);
  const total = counts.reduce((s, [, n]) => s + n, 0);
  const perRequest = (n: number) => fixed(n / requests, 1);
  return [
    `Redis commands per predict over ${requests} more (MONITOR on, ${fixed(seconds, 1)} s, background work such as heartbeats included): ${perRequest(total)}`,
    '',
    table(['command', 'per predict'], counts.map(([name, n]) => [name, perRequest(n)]), ['l', 'r']),
  ].join('\n');
}

export async function throughStart(opts: ThroughStartOptions): Promise<string> {
  process.stderr.write(`npm start with WORKERS=${opts.workers}, LOG_LEVEL=${opts.logLevel}; ${WARMUPS} warm-ups, then ${opts.requests} sequential predicts, every other one after ${PAUSE_MS} ms idle\n`);
  const product = await startProduct({ modelSource: opts.modelSource, modelDir: opts.modelDir, workers: opts.workers, logLevel: opts.logLevel });
  let samples: Sample[];
  let commands: string | undefined;
  let cpu: string;
  let floor: number;
  try {
    await sequential(product.url, 0, WARMUPS);
    const measured = await cpuMs(product.processes(), () => sequential(product.url, opts.requests, 0));
    samples = measured.result;
    cpu = [...measured.ms].map(([role, ms]) => `${role} ${fixed(ms / opts.requests)}`).join(', ');
    floor = await httpFloorMs(product.url, opts.requests);
    if (opts.redisCommands) commands = await countCommands(product.url, product.redisUrl, opts.requests);
  } finally {
    const code = await product.stop();
    if (code !== 0) process.stderr.write(`npm start exited with ${code} when stopped\n`);
  }
  const headers = ['requests', 'n', 'client', 'inference', 'client − inference', 'queue', 'gateway total', 'client − gateway total'];
  return [
    table(headers, [row(`after ${PAUSE_MS} ms idle`, samples.filter((s) => s.paced)), row('back to back', samples.filter((s) => !s.paced)), row('all', samples)], ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
    '',
    `**Target figure: client p50 − inference p50 after ${PAUSE_MS} ms idle: ${fixed(overheadMs(samples))} ms**`,
    '',
    `The HTTP round trip alone, GET /healthz from the same client paced the same way: client p50 ${fixed(floor)} ms.`,
    '',
    `CPU time per predict, ms (from /proc, in 10 ms ticks over all ${opts.requests}): ${cpu}`,
    ...(commands !== undefined ? ['', commands] : []),
    '',
  ].join('\n');
}
