#!/usr/bin/env node
/**
 * npm run soak -- [--seconds 300] [--rate 20] [--workers 2] [--model distil|tiny|small|<artifact dir>]
 *                 [--warmup 15] [--max-new-tokens 8] [--out bench/results]
 *
 * The whole service under a steady load for a while, to show that nothing is lost, nothing is
 * answered twice, nothing fails, latency holds and memory does not creep. Loopback only: a private
 * redis-server, the built gateway and --workers built workers (processes.ts), and an open-loop
 * client sending a fixed rate of requests (predict, generate, streamed generate, compare; each with
 * its own x-request-id and prompt) that checks every answer is its own. Writes
 * <out>/soak-<date>.json and .md (soak-report.ts) and exits 1 when a request was lost, duplicated
 * or failed, when the p99 latency drifted, or when a process's memory grew past the bound.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { VALIDATION_PROMPTS } from '@gpt2-int8/contract/prompts';
import { ensureSyntheticArtifact } from './artifacts.js';
import { numberIn, runMain, UsageError } from './cli-args.js';
import { CpuShare } from './cpu-share.js';
import { machineInfo } from './machine.js';
import { DEFAULT_CACHE_DIR, DEFAULT_RESULTS_DIR } from './paths.js';
import { processMemory, runningPids, startGroup, startRedis } from './processes.js';
import { Progress } from './progress.js';
import { writeResults } from './results.js';
import { CLIENT_DEADLINE_MS, type Kind, MIX, RSS_EVERY_MS, type Sample, type SoakRun, type SoakSettings, soakMarkdown, soakResult, soakSummary } from './soak-report.js';

const USAGE =
  'usage: npm run soak -- [--seconds 300] [--rate 20] [--workers 2] [--model distil|tiny|small|<artifact dir>] [--warmup 15] [--max-new-tokens 8] [--out bench/results]';
const PRESETS = ['tiny', 'distil', 'small'];
const workerId = (k: number) => `soak-worker-${k + 1}`;

function options(): (SoakSettings & { model: string; out: string }) | undefined {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      rate: { type: 'string' },
      workers: { type: 'string' },
      model: { type: 'string', default: 'distil' },
      warmup: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      out: { type: 'string', default: DEFAULT_RESULTS_DIR },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  return {
    seconds: numberIn('seconds', values.seconds, 300, 5, 86_400),
    rate: numberIn('rate', values.rate, 20, 0.1, 1000),
    workers: numberIn('workers', values.workers, 2, 1, 32, true),
    model: values.model,
    warmup: numberIn('warmup', values.warmup, 15, 0, 600),
    maxNewTokens: numberIn('max-new-tokens', values['max-new-tokens'], 8, 1, 256, true),
    out: resolve(values.out),
  };
}

/** The artifact to serve: a directory, or a seeded synthetic preset built once into the bench's cache. */
async function artifact(model: string, log: (line: string) => void): Promise<string> {
  if (PRESETS.includes(model)) return ensureSyntheticArtifact(model, 1, { cacheDir: DEFAULT_CACHE_DIR, log });
  if (!existsSync(join(model, 'manifest.json'))) throw new UsageError(`--model ${model}: no manifest.json there (give an artifact directory, or ${PRESETS.join('|')})`);
  return resolve(model);
}

async function send(base: string, i: number, kind: Kind, measured: boolean, sentAt: number, maxNewTokens: number): Promise<Sample> {
  const id = `soak-${i}`;
  const prompt = `${VALIDATION_PROMPTS[i % VALIDATION_PROMPTS.length]} (#${i})`;
  const path = kind === 'predict' ? '/api/predict' : kind === 'compare' ? '/api/compare' : '/api/generate';
  const body =
    kind === 'predict' || kind === 'compare'
      ? { prompt, top_k: 5 }
      : { prompt, max_new_tokens: maxNewTokens, temperature: 0.8, top_p: 0.95, seed: i, ...(kind === 'stream' ? { stream: true } : {}) };
  const sample: Sample = { i, id, kind, measured, sentAt, ms: 0, status: 'network', ok: false, duplicated: false };
  const t0 = performance.now();
  try {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CLIENT_DEADLINE_MS),
    });
    const text = await res.text();
    sample.ms = performance.now() - t0;
    sample.status = res.status;
    const sameId = res.headers.get('x-request-id') === id;
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const events = text
        .split('\n\n')
        .filter((b) => b.trim() !== '')
        .map((b) => ({ event: /^event: (.*)$/m.exec(b)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? 'null') as Record<string, unknown> }));
      const dones = events.filter((e) => e.event === 'done');
      const tokens = events.filter((e) => e.event === 'token').map((e) => e.data);
      const indices = tokens.map((t) => t.index as number);
      sample.duplicated = dones.length > 1 || new Set(indices).size !== indices.length;
      const done = dones[0]?.data;
      const error = events.find((e) => e.event === 'error')?.data as { error?: { code: string } } | undefined;
      if (error?.error) sample.code = error.error.code;
      sample.worker = done?.worker as string | undefined;
      sample.ok =
        res.status === 200 && sameId && done !== undefined && done.prompt === prompt && !sample.duplicated && indices.every((x, k) => x === k) && tokens.map((t) => t.token).join('') === done.text;
    } else {
      const json = JSON.parse(text) as { prompt?: string; worker?: string; error?: { code: string } };
      sample.code = json.error?.code;
      sample.worker = json.worker;
      sample.ok = res.status === 200 && sameId && json.prompt === prompt;
    }
  } catch (err) {
    sample.ms = performance.now() - t0;
    sample.status = (err as Error).name === 'TimeoutError' ? 'timeout' : 'network';
    sample.code = (err as Error).message;
  }
  return sample;
}

/** Jobs each worker ran per request id, from their log lines (one per finished job). */
function jobsRun(logs: string[]): Map<string, number> {
  const runs = new Map<string, number>();
  for (const log of logs) {
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const l = JSON.parse(line) as { msg?: string; request_id?: string };
        if (l.request_id && (l.msg === 'predicted' || l.msg === 'generated' || l.msg === 'compared')) runs.set(l.request_id, (runs.get(l.request_id) ?? 0) + 1);
      } catch {
        // not a log line of ours
      }
    }
  }
  return runs;
}

type Load = Pick<SoakRun, 'samples' | 'due' | 'sendingMs' | 'rss' | 'cpu'>;

/**
 * Open loop: request i is due at i / rate, whatever happened to the ones before it; the services'
 * RSS and the CPU sampled every RSS_EVERY_MS from the end of the warm-up.
 */
async function load(base: string, s: SoakSettings, services: { name: string; pid: number }[], cpu: CpuShare, detail: (d: string) => void): Promise<Load> {
  const out: Load = { samples: [], due: 0, sendingMs: 0, rss: [], cpu: [] };
  const rssOf = (pid: number) => {
    try {
      return processMemory(pid).rss;
    } catch {
      return NaN; // exited
    }
  };
  const inFlight = new Set<Promise<void>>();
  const total = Math.round((s.warmup + s.seconds) * s.rate);
  const warmupCount = Math.round(s.warmup * s.rate);
  out.due = total - warmupCount;
  const start = performance.now();
  const measuredStart = start + s.warmup * 1000;
  const mark = (now: number) => {
    out.rss.push({ t: Math.round((now - measuredStart) / 1000), ...Object.fromEntries(services.map((p) => [p.name, rssOf(p.pid)])) });
    out.cpu.push({ t: (now - measuredStart) / 1000, sample: cpu.sample() });
  };
  let nextMark = measuredStart;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / s.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const now = performance.now();
    if (now >= nextMark) {
      mark(now);
      nextMark += RSS_EVERY_MS;
      const done = out.samples.filter((x) => x.measured);
      detail(`${Math.round((now - measuredStart) / 1000)} s: ${done.length} answered, ${done.filter((x) => !x.ok).length} errors, ${inFlight.size} in flight`);
    }
    // Bucketed by when it was due (the schedule), not by timer jitter.
    const p = send(base, i, MIX[i % MIX.length] as Kind, i >= warmupCount, due - measuredStart, s.maxNewTokens).then((x) => {
      out.samples.push(x);
      inFlight.delete(p);
    });
    inFlight.add(p);
  }
  out.sendingMs = performance.now() - measuredStart;
  await Promise.all(inFlight);
  mark(performance.now());
  return out;
}

async function main(): Promise<void> {
  const opts = options();
  if (!opts) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const startedAt = new Date();
  const machine = machineInfo();
  const cpu = new CpuShare(runningPids);
  const progress = new Progress(process.stderr, cpu);
  progress.plan([
    { id: 'model', label: `the ${opts.model} artifact`, estimateS: 5 },
    { id: 'start', label: `Redis, the gateway and ${opts.workers} workers`, estimateS: 10 },
    { id: 'load', label: `${opts.warmup} s warm-up, then ${opts.seconds} s at ${opts.rate} requests/s (${MIX.join(', ')})`, estimateS: opts.warmup + opts.seconds },
    { id: 'stop', label: 'stopping the services', estimateS: 5 },
  ]);
  const modelDir = await progress.step('model', () => artifact(opts.model, (line) => progress.log(line)));
  const manifest = await readManifest(modelDir);
  const logDir = mkdtempSync(join(tmpdir(), 'gpt2-int8-soak-'));
  progress.log(`model ${modelDir} (${manifest.config.n_layer} layers, ${manifest.config.n_embd} wide${manifest.synthetic ? ', synthetic' : ''}); logs in ${logDir}`);
  const redis = await startRedis(join(logDir, 'redis.log'));
  const group = await progress.step('start', () =>
    startGroup({
      redisUrl: redis.url,
      modelDir,
      workers: opts.workers,
      maxBatch: 8,
      queueName: 'soak',
      readyTimeoutMs: 120_000,
      logDir,
      // The services as shipped where the bench's settings differ: the gateway's own queue bound,
      // the workers' FP32 session (compare needs it); the workers log each job (jobsRun counts them).
      gatewayEnv: { QUEUE_MAX_DEPTH: undefined },
      workerEnv: (k) => ({ WORKER_ID: workerId(k), COMPARE_FP32: undefined, LOG_LEVEL: 'info' }),
    }),
  );
  const services = [{ name: 'gateway', pid: group.gatewayPid }, ...group.workerPids.map((pid, k) => ({ name: `worker-${k + 1}`, pid }))];
  const run = await progress.step('load', (detail) => load(group.url, opts, services, cpu, detail));
  const exitCodes = await progress.step('stop', async () => {
    const codes = await group.stop();
    await redis.stop();
    return codes;
  });
  progress.finish();

  const command = `npm run soak -- --seconds ${opts.seconds} --rate ${opts.rate} --workers ${opts.workers} --model ${opts.model} --warmup ${opts.warmup} --max-new-tokens ${opts.maxNewTokens}`;
  const model = { dir: PRESETS.includes(opts.model) ? `${opts.model} (synthetic, seed 1)` : modelDir, config: { ...manifest.config }, int8_bytes: manifest.int8_bytes, synthetic: manifest.synthetic };
  const workerLogs = group.workerPids.map((_, k) => join(logDir, `worker-${k + 1}.log`));
  const workerIds = group.workerPids.map((_, k) => workerId(k));
  const result = soakResult({ ...run, command, startedAt, machine, model, settings: opts, jobsRun: jobsRun(workerLogs), exitCodes, workerIds, logs: logDir }, cpu);
  const stem = join(opts.out, `soak-${startedAt.toISOString().replace(/:/g, '-').slice(0, 16)}`);
  await writeResults(stem, result, soakMarkdown(result));
  for (const line of [...soakSummary(result), `wrote ${stem}.json and ${stem}.md`]) process.stdout.write(`[soak] ${line}\n`);
  if (!result.verdict.ok) process.exitCode = 1;
}

runMain(main, USAGE);
