/**
 * `npm run bench:lone -- --through-start`: what a user sending one predict at a time waits beyond
 * the model's own work (docs/performance.md, "A lone predict's overhead through npm start"). The
 * product is started as a user does (product.ts); one keep-alive Node fetch client sends
 * sequential predicts, every other one after PAUSE_MS idle, so both a warm and a woken-up path are
 * measured. Reported: the client's time, the worker's inference and the gateway's own timings_ms,
 * medians, with the target figure — client p50 − inference p50 of the paced requests.
 */
import { LEGACY_PROMPTS } from '@gpt2-int8/contract/prompts';
import type { PredictResponse } from '@gpt2-int8/contract/api';
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

async function sequential(url: string, count: number, warmups: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < warmups + count; i++) {
    const paced = i % 2 === 1;
    if (paced) await sleep(PAUSE_MS);
    const started = performance.now();
    const body = await predict(url, LEGACY_PROMPTS[i % LEGACY_PROMPTS.length] as string);
    const client = performance.now() - started;
    if (i >= warmups) samples.push({ paced, client, timings: body.timings_ms });
  }
  return samples;
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
  try {
    samples = await sequential(product.url, opts.requests, WARMUPS);
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
    ...(commands !== undefined ? ['', commands] : []),
    '',
  ].join('\n');
}
