/**
 * Generation through the real gateway and one worker: streamed greedy generations of N tokens from
 * C clients, each sending its next request when its previous one ends, with continuous batching on
 * and off (CONTINUOUS_BATCHING) alternating within each round. For each cell:
 *
 * - tokens/s: tokens whose `token` event arrived inside the measured window (the run's first second
 *   skipped: every client starts at once, a burst of prompts), ÷ the window;
 * - time to first token: request sent → its first `token` event, of every request (the first C,
 *   sent together at the start, included: long generations at high concurrency have no others);
 * - inter-token latency: the gaps between one request's successive `token` events, those starting
 *   inside the window.
 *
 * Requests still running at the end of a cell are dropped (and cancelled by the service); the
 * tokens they received until then count.
 *
 * Times are the client's, through HTTP, the gateway, Redis pub/sub and the worker: what a user sees.
 */
import { randomUUID } from 'node:crypto';
import { LEGACY_PROMPTS } from '@gpt2-int8/contract/prompts';
import { median, percentile } from '@gpt2-int8/contract/stats';
import { startGroup } from './processes.js';
import { round } from './summary.js';

export type BatchingMode = 'on' | 'off';
export const BATCHING_MODES: readonly BatchingMode[] = ['on', 'off'];

export interface GenerationSettings {
  presets: string[];
  tokens: number[];
  concurrency: number[];
  /** Seconds per cell for each token count (longer generations need longer runs). */
  durationS: (tokens: number) => number;
  /** Skipped at the start of each cell's measure. */
  skipS: number;
  rounds: number;
  maxBatch: number;
}

export interface GenerationCell {
  preset: string;
  mode: BatchingMode;
  max_new_tokens: number;
  concurrency: number;
  /** Median over rounds, and each round's. */
  tokens_per_s: number;
  tokens_per_s_rounds: number[];
  /** Pooled over rounds. */
  ttft_ms: { p50: number; p99: number };
  itl_ms: { p50: number; p99: number };
  requests: number;
  failed: number;
}

export interface GenerationBenchResult {
  settings: Omit<GenerationSettings, 'durationS'> & { duration_s: Record<string, number> };
  cells: GenerationCell[];
}

interface RawCell {
  tokensPerS: number;
  ttft: number[];
  itl: number[];
  requests: number;
  failed: number;
}

/** One streamed generation; resolves with each token event's arrival time (performance.now()). */
async function streamOne(url: string, prompt: string, maxNewTokens: number, signal: AbortSignal): Promise<{ sent: number; tokens: number[]; ok: boolean; cut: boolean }> {
  const sent = performance.now();
  const tokens: number[] = [];
  try {
    const res = await fetch(`${url}/api/generate`, {
      signal,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, max_new_tokens: maxNewTokens, stream: true }),
    });
    if (res.status !== 200 || res.body === null) {
      await res.text().catch(() => '');
      return { sent, tokens, ok: false, cut: false };
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let ok = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const at = performance.now();
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith('event: token')) tokens.push(at);
        else if (block.startsWith('event: done')) ok = true;
      }
    }
    return { sent, tokens, ok, cut: false };
  } catch {
    return { sent, tokens, ok: false, cut: signal.aborted };
  }
}

/** C clients in closed loop for `durationS` seconds; figures from the window after `skipS`. */
async function runCell(url: string, maxNewTokens: number, concurrency: number, durationS: number, skipS: number): Promise<RawCell> {
  const start = performance.now();
  const from = start + skipS * 1000;
  const deadline = start + durationS * 1000;
  const results: Awaited<ReturnType<typeof streamOne>>[] = [];
  let next = 0;
  // At the deadline the requests still running are dropped (the service cancels them), so a cell
  // does not wait for the slowest stragglers; what they received until then counts.
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), Math.max(0, deadline - performance.now()));
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const prompt = LEGACY_PROMPTS[next++ % LEGACY_PROMPTS.length] as string;
        results.push(await streamOne(url, prompt, maxNewTokens, stop.signal));
      }
    }),
  );
  clearTimeout(timer);
  let inWindow = 0;
  const ttft: number[] = [];
  const itl: number[] = [];
  for (const r of results) {
    inWindow += r.tokens.filter((t) => t >= from && t <= deadline).length;
    if (!(r.ok || r.cut)) continue;
    if (r.tokens[0] !== undefined) ttft.push(r.tokens[0] - r.sent);
    for (let i = 1; i < r.tokens.length; i++) if ((r.tokens[i - 1] as number) >= from) itl.push((r.tokens[i] as number) - (r.tokens[i - 1] as number));
  }
  return { tokensPerS: inWindow / ((deadline - from) / 1000), ttft, itl, requests: results.length, failed: results.filter((r) => !r.ok && !r.cut).length };
}

export async function runGenerationBench(
  artifacts: Map<string, string>,
  redisUrl: string,
  s: GenerationSettings,
  step: (id: string, fn: (say: (d: string) => void) => Promise<void>) => Promise<void>,
): Promise<GenerationBenchResult> {
  const raw = new Map<string, RawCell[]>();
  const key = (p: string, m: BatchingMode, n: number, c: number) => `${p}|${m}|${n}|${c}`;
  for (let r = 0; r < s.rounds; r++) {
    for (const preset of s.presets) {
      const modes = r % 2 === 0 ? BATCHING_MODES : [...BATCHING_MODES].reverse();
      for (const mode of modes) {
        await step(generationStepId(preset, mode, r), async (say) => {
          say(`starting gateway + 1 worker, CONTINUOUS_BATCHING=${mode === 'on'}`);
          const group = await startGroup({
            redisUrl,
            modelDir: artifacts.get(preset) as string,
            workers: 1,
            maxBatch: s.maxBatch,
            queueName: `bench-gen-${preset}-${mode}-${randomUUID().slice(0, 8)}`,
            workerEnv: () => ({ CONTINUOUS_BATCHING: String(mode === 'on') }),
            gatewayEnv: { REQUEST_TIMEOUT_MS: '120000' },
          });
          try {
            say('warm-up');
            await runCell(group.url, 8, Math.max(...s.concurrency), 2, 0);
            for (const n of s.tokens) {
              for (const c of s.concurrency) {
                say(`${n}-token generations at concurrency ${c} for ${s.durationS(n)} s`);
                const cell = await runCell(group.url, n, c, s.durationS(n), s.skipS);
                const list = raw.get(key(preset, mode, n, c)) ?? [];
                list.push(cell);
                raw.set(key(preset, mode, n, c), list);
              }
            }
          } finally {
            await group.stop();
          }
        });
      }
    }
  }
  const cells: GenerationCell[] = [];
  for (const preset of s.presets) {
    for (const mode of BATCHING_MODES) {
      for (const n of s.tokens) {
        for (const c of s.concurrency) {
          const runs = raw.get(key(preset, mode, n, c)) ?? [];
          const ttft = runs.flatMap((x) => x.ttft);
          const itl = runs.flatMap((x) => x.itl);
          const pct = (xs: number[], p: number) => (xs.length === 0 ? NaN : round(percentile(xs, p), 2));
          cells.push({
            preset,
            mode,
            max_new_tokens: n,
            concurrency: c,
            tokens_per_s: round(median(runs.map((x) => x.tokensPerS)), 1),
            tokens_per_s_rounds: runs.map((x) => round(x.tokensPerS, 1)),
            ttft_ms: { p50: pct(ttft, 50), p99: pct(ttft, 99) },
            itl_ms: { p50: pct(itl, 50), p99: pct(itl, 99) },
            requests: runs.reduce((a, x) => a + x.requests, 0),
            failed: runs.reduce((a, x) => a + x.failed, 0),
          });
        }
      }
    }
  }
  const { durationS, ...rest } = s;
  return { settings: { ...rest, duration_s: Object.fromEntries(s.tokens.map((n) => [String(n), durationS(n)])) }, cells };
}

export const generationStepId = (preset: string, mode: BatchingMode, round: number) => `generation-${preset}-${mode}-r${round + 1}`;

/** A cell of the result. */
export function generationCell(g: GenerationBenchResult, preset: string, mode: BatchingMode, tokens: number, concurrency: number): GenerationCell | undefined {
  return g.cells.find((c) => c.preset === preset && c.mode === mode && c.max_new_tokens === tokens && c.concurrency === concurrency);
}

/** The generation table (markdown rows): one per preset, mode, length and concurrency. */
export function generationTable(g: GenerationBenchResult): string[][] {
  return g.cells.map((c) => {
    const base = generationCell(g, c.preset, c.mode, c.max_new_tokens, 1);
    const off = generationCell(g, c.preset, 'off', c.max_new_tokens, c.concurrency);
    return [
      c.preset,
      c.mode,
      String(c.max_new_tokens),
      String(c.concurrency),
      `${c.tokens_per_s.toFixed(1)} [${c.tokens_per_s_rounds.map((x) => x.toFixed(0)).join(', ')}]`,
      base ? `${(c.tokens_per_s / base.tokens_per_s).toFixed(2)}×` : '—',
      c.mode === 'on' && off ? `${(c.tokens_per_s / off.tokens_per_s).toFixed(2)}×` : '—',
      `${c.ttft_ms.p50.toFixed(1)} / ${c.ttft_ms.p99.toFixed(1)}`,
      `${c.itl_ms.p50.toFixed(1)} / ${c.itl_ms.p99.toFixed(1)}`,
      `${c.requests}${c.failed ? ` (${c.failed} failed)` : ''}`,
    ];
  });
}

export const GENERATION_HEADER = ['preset', 'batching', 'tokens', 'concurrency', 'tokens/s [rounds]', '÷ concurrency 1', 'on ÷ off', 'TTFT p50 / p99 ms', 'ITL p50 / p99 ms', 'requests'];
