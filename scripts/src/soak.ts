/**
 * `npm run soak`: the whole service under a steady load for a while, to show that nothing is lost,
 * nothing is answered twice, nothing fails, latency holds and memory does not creep. Loopback only:
 * a private redis-server, the built gateway and WORKERS built workers as processes, an open-loop
 * client sending a fixed rate of requests (predict, generate, streamed generate, compare; each with
 * its own x-request-id and prompt) and checking every answer is its own.
 *
 *   npm run soak -- [--seconds 300] [--rate 20] [--workers 2] [--model distil|tiny|<artifact dir>]
 *                   [--warmup 15] [--max-new-tokens 8] [--out bench/results]
 *
 * Writes <out>/soak-<date>.json and .md, and exits non-zero when a request was lost, duplicated or
 * failed, when the p99 latency drifted, or when a process's memory grew past the bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '@gpt2-int8/shared/free-port';
import { VALIDATION_PROMPTS } from '@gpt2-int8/shared/prompts';
import { startRedisServer } from '@gpt2-int8/shared/redis-server';
import { percentile } from '@gpt2-int8/shared/stats';
import { WORKER_PROCESS_ENV } from '@gpt2-int8/shared/worker-process';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_DEADLINE_MS = 60_000;
const RSS_EVERY_MS = 5000;
/** A process's resident memory may grow this much over the measured run (or 15% of its start). */
const RSS_GROWTH_BOUND = 64 * 2 ** 20;
/** Every full minute's p99 within this factor of the best minute's (or within P99_SLACK_MS of it). */
const P99_SPREAD_BOUND = 2;
const P99_SLACK_MS = 25;

type Kind = 'predict' | 'generate' | 'stream' | 'compare';
const MIX: Kind[] = ['predict', 'predict', 'predict', 'predict', 'predict', 'generate', 'generate', 'stream', 'stream', 'compare'];

interface Options {
  seconds: number;
  rate: number;
  workers: number;
  model: string;
  warmup: number;
  maxNewTokens: number;
  out: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '300' },
      rate: { type: 'string', default: '20' },
      workers: { type: 'string', default: '2' },
      model: { type: 'string', default: 'distil' },
      warmup: { type: 'string', default: '15' },
      'max-new-tokens': { type: 'string', default: '8' },
      out: { type: 'string', default: join(ROOT, 'bench/results') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run soak -- [--seconds 300] [--rate 20] [--workers 2] [--model distil|tiny|small|<artifact dir>] [--warmup 15] [--max-new-tokens 8] [--out bench/results]\n');
    process.exit(0);
  }
  const num = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} ${v}: expected a number from ${min} to ${max}`);
    return n;
  };
  return {
    seconds: num('seconds', values.seconds as string, 5, 86_400),
    rate: num('rate', values.rate as string, 0.1, 1000),
    workers: Math.round(num('workers', values.workers as string, 1, 32)),
    model: values.model as string,
    warmup: num('warmup', values.warmup as string, 0, 600),
    maxNewTokens: Math.round(num('max-new-tokens', values['max-new-tokens'] as string, 1, 256)),
    out: resolve(values.out as string),
  };
}

const say = (line: string) => process.stdout.write(`[soak] ${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Processes

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

const procs: Proc[] = [];

function launch(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logDir: string): Proc {
  const log = join(logDir, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const p = { name, child, log, exited };
  procs.push(p);
  return p;
}

function rss(p: Proc): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Busy CPU time of the whole machine, and of the given processes, in seconds (Linux /proc). */
function cpuSeconds(pids: number[]): { machine: number; ours: number } {
  const ticks = 100; // USER_HZ
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  let ours = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ours += Number(after[11]) + Number(after[12]); // utime, stime
    } catch {
      // exited
    }
  }
  return { machine: (total - idle) / ticks, ours: ours / ticks };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    for (const p of procs) if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}) while waiting for ${what}; see ${p.log}`);
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function runQuantizer(args: string[]): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'services/quantizer/dist/cli.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`quantizer ${args[0]} failed (exit ${code}): ${err.slice(-1000)}`))));
  });
}

/** The artifact to serve: a directory, or a seeded synthetic preset built once into .cache/soak. */
async function artifact(model: string): Promise<string> {
  if (model !== 'tiny' && model !== 'distil' && model !== 'small') {
    if (!existsSync(join(model, 'manifest.json'))) throw new Error(`--model ${model}: no manifest.json there (give an artifact directory, or tiny|distil|small)`);
    return resolve(model);
  }
  const base = join(ROOT, '.cache/soak', `synthetic-${model}-seed1`);
  if (!existsSync(join(base, 'checkpoint/config.json'))) {
    say(`building a synthetic ${model} checkpoint (first run only)`);
    await runQuantizer(['make-model', '--preset', model, '--seed', '1', '--out', join(base, 'checkpoint')]);
  }
  // A no-op when the artifact is up to date.
  await runQuantizer(['quantize', '--model', join(base, 'checkpoint'), '--out', join(base, 'artifact'), '--report-reps', '1']);
  return join(base, 'artifact');
}

// ---------------------------------------------------------------------------------------------
// Requests

interface Sample {
  i: number;
  id: string;
  kind: Kind;
  measured: boolean;
  /** ms since the measured phase began (negative during the warm-up). */
  sentAt: number;
  ms: number;
  status: number | 'timeout' | 'network';
  /** A 200 carrying this request's id and prompt (for a stream: each token once, then done). */
  ok: boolean;
  /** The same answer or token delivered twice. */
  duplicated: boolean;
  code?: string;
  worker?: string;
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

// ---------------------------------------------------------------------------------------------
// Report

interface MinuteStats {
  minute: number;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
  p99ByKind: Partial<Record<Kind, number>>;
  full: boolean;
  /** Cores busy with the soak's own processes, and with everything else on the machine. */
  cpuOurs?: number;
  cpuOthers?: number;
}

function minutes(samples: Sample[], seconds: number): MinuteStats[] {
  const out: MinuteStats[] = [];
  for (let m = 0; m * 60_000 < seconds * 1000; m++) {
    const inMinute = samples.filter((s) => s.sentAt >= m * 60_000 && s.sentAt < (m + 1) * 60_000);
    const ok = inMinute.filter((s) => s.ok).map((s) => s.ms);
    const p99ByKind: Partial<Record<Kind, number>> = {};
    for (const k of ['predict', 'generate', 'stream', 'compare'] as Kind[]) {
      const ms = inMinute.filter((s) => s.ok && s.kind === k).map((s) => s.ms);
      if (ms.length > 0) p99ByKind[k] = round(percentile(ms, 99));
    }
    out.push({
      minute: m + 1,
      requests: inMinute.length,
      errors: inMinute.filter((s) => !s.ok).length,
      p50: round(percentile(ok, 50)),
      p99: round(percentile(ok, 99)),
      p99ByKind,
      full: (m + 1) * 60_000 <= seconds * 1000,
    });
  }
  return out;
}

const round = (x: number) => Math.round(x * 10) / 10;
const mib = (b: number | undefined) => (b === undefined ? NaN : Math.round((b / 2 ** 20) * 10) / 10);

/** Jobs each worker ran per request id, from their log lines (one per finished job). */
function jobsRun(workers: Proc[]): Map<string, number> {
  const runs = new Map<string, number>();
  for (const w of workers) {
    for (const line of readFileSync(w.log, 'utf8').split('\n')) {
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

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = options();
  const startedAt = new Date();
  for (const f of ['services/gateway/dist/main.js', 'services/worker/dist/main.js', 'services/quantizer/dist/cli.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run npm run build first (npm run soak does)`);
  }
  const modelDir = await artifact(opts.model);
  const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as { config: Record<string, number>; int8_bytes: number; synthetic: boolean };
  const logDir = mkdtempSync(join(tmpdir(), 'gpt2-int8-soak-'));
  say(`model ${modelDir} (${manifest.config.n_layer} layers, ${manifest.config.n_embd} wide, INT8 ${mib(manifest.int8_bytes)} MiB${manifest.synthetic ? ', synthetic' : ''}); logs in ${logDir}`);

  const redisLog = join(logDir, 'redis.log');
  const redis = await startRedisServer({ dir: logDir, logFile: redisLog });
  procs.push({ name: 'redis', child: redis.child, log: redisLog, exited: redis.exited });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { ...process.env, REDIS_URL: redis.url, MODEL_DIR: modelDir, QUEUE_NAME: 'soak', NODE_ENV: 'production', LOG_PRETTY: 'false' };
  const gateway = launch('gateway', process.execPath, ['services/gateway/dist/main.js'], { ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, logDir);
  const workers = Array.from({ length: opts.workers }, (_, k) =>
    launch(`worker-${k + 1}`, process.execPath, ['services/worker/dist/main.js'], { ...env, ...WORKER_PROCESS_ENV, WORKER_ID: `soak-worker-${k + 1}`, LOG_LEVEL: 'info' }, logDir),
  );
  const services = [gateway, ...workers];
  await until('/readyz', async () => (await fetch(`${base}/readyz`)).status === 200 && JSON.parse(await (await fetch(`${base}/readyz`)).text()).workers.ready === opts.workers, 120_000);
  say(`gateway on ${base}, ${opts.workers} workers ready; ${opts.warmup} s warm-up, then ${opts.seconds} s at ${opts.rate} requests/s (${MIX.join(', ')})`);

  // Open loop: request i is due at i / rate, whatever happened to the ones before it.
  const samples: Sample[] = [];
  const inFlight = new Set<Promise<void>>();
  const rssTimeline: Array<{ t: number } & Record<string, number>> = [];
  // CPU used by other processes on the machine, per minute: a soak on a shared machine says when
  // something else competed for the cores.
  const ourPids = () => [process.pid, ...procs.map((p) => p.child.pid as number)];
  const cpuMarks: Array<{ t: number; machine: number; ours: number }> = [];
  const total = Math.round((opts.warmup + opts.seconds) * opts.rate);
  const warmupCount = Math.round(opts.warmup * opts.rate);
  const start = performance.now();
  const measuredStart = start + opts.warmup * 1000;
  let nextRss = measuredStart;
  let lastProgress = start;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / opts.rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const now = performance.now();
    if (now >= nextRss) {
      rssTimeline.push({ t: Math.round((now - measuredStart) / 1000), ...Object.fromEntries(services.map((p) => [p.name, rss(p) ?? NaN])) });
      cpuMarks.push({ t: (now - measuredStart) / 1000, ...cpuSeconds(ourPids()) });
      nextRss += RSS_EVERY_MS;
    }
    if (now - lastProgress > 30_000) {
      lastProgress = now;
      const done = samples.filter((s) => s.measured);
      say(`${Math.round((now - measuredStart) / 1000)} s: ${done.length} answered, ${done.filter((s) => !s.ok).length} errors, ${inFlight.size} in flight`);
    }
    const measured = i >= warmupCount;
    // Bucketed by when it was due (the schedule), not by timer jitter.
    const p = send(base, i, MIX[i % MIX.length] as Kind, measured, due - measuredStart, opts.maxNewTokens).then((s) => {
      samples.push(s);
      inFlight.delete(p);
    });
    inFlight.add(p);
  }
  const sendingMs = performance.now() - measuredStart;
  await Promise.all(inFlight);
  rssTimeline.push({ t: Math.round((performance.now() - measuredStart) / 1000), ...Object.fromEntries(services.map((p) => [p.name, rss(p) ?? NaN])) });
  cpuMarks.push({ t: (performance.now() - measuredStart) / 1000, ...cpuSeconds(ourPids()) });

  // Stop: gateway first (it drains), then the workers, then Redis.
  const exitCodes: Record<string, number | null> = {};
  for (const p of services) {
    p.child.kill('SIGTERM');
    exitCodes[p.name] = await p.exited;
  }
  await redis.stop();

  // Verdict.
  const measured = samples.filter((s) => s.measured).sort((a, b) => a.i - b.i);
  const sent = total - warmupCount;
  const answered = new Map<string, number>();
  for (const s of samples) if (typeof s.status === 'number') answered.set(s.id, (answered.get(s.id) ?? 0) + 1);
  const runs = jobsRun(workers);
  const lost = measured.filter((s) => typeof s.status !== 'number').length + (sent - measured.length);
  const duplicatedAnswers = measured.filter((s) => s.duplicated || (answered.get(s.id) ?? 0) > 1).length;
  const jobsRunTwice = [...runs.entries()].filter(([id, n]) => n > 1 && id.startsWith('soak-')).length;
  const errors = measured.filter((s) => !s.ok);
  const perMinute = minutes(measured, opts.seconds);
  for (const m of perMinute) {
    const from = cpuMarks.filter((c) => c.t <= (m.minute - 1) * 60).at(-1) ?? cpuMarks[0];
    const to = cpuMarks.filter((c) => c.t <= m.minute * 60).at(-1) ?? cpuMarks.at(-1);
    if (from && to && to.t > from.t) {
      m.cpuOurs = round((to.ours - from.ours) / (to.t - from.t));
      m.cpuOthers = round(Math.max(0, to.machine - from.machine - (to.ours - from.ours)) / (to.t - from.t));
    }
  }
  const full = perMinute.filter((m) => m.full && m.requests > 0);
  const bestP99 = full.length === 0 ? null : Math.min(...full.map((m) => m.p99));
  const worstP99 = full.length === 0 ? null : Math.max(...full.map((m) => m.p99));
  const p99Stable = bestP99 === null || worstP99 === null || worstP99 <= Math.max(bestP99 * P99_SPREAD_BOUND, bestP99 + P99_SLACK_MS);
  const memory = services.map((p) => {
    const series = rssTimeline.map((r) => r[p.name] as number).filter((x) => Number.isFinite(x));
    const first = series[0] ?? NaN;
    const last = series.at(-1) ?? NaN;
    const bound = Math.max(RSS_GROWTH_BOUND, first * 0.15);
    return { process: p.name, start_mib: mib(first), max_mib: mib(Math.max(...series)), end_mib: mib(last), growth_mib: mib(last - first), bound_mib: mib(bound), ok: last - first <= bound };
  });
  const ok = lost === 0 && duplicatedAnswers === 0 && jobsRunTwice === 0 && errors.length === 0 && p99Stable && memory.every((m) => m.ok) && Object.values(exitCodes).every((c) => c === 0);
  const okMs = measured.filter((s) => s.ok).map((s) => s.ms);
  const byKind = Object.fromEntries(
    (['predict', 'generate', 'stream', 'compare'] as Kind[]).map((k) => {
      const ms = measured.filter((s) => s.ok && s.kind === k).map((s) => s.ms);
      return [k, { requests: measured.filter((s) => s.kind === k).length, p50_ms: round(percentile(ms, 50)), p99_ms: round(percentile(ms, 99)), max_ms: round(Math.max(...ms)) }];
    }),
  );
  const workersUsed = Object.fromEntries(workers.map((w, k) => [`soak-worker-${k + 1}`, measured.filter((s) => s.worker === `soak-worker-${k + 1}`).length]));

  const date = startedAt.toISOString().replace(/:/g, '-').slice(0, 16);
  const command = `npm run soak -- --seconds ${opts.seconds} --rate ${opts.rate} --workers ${opts.workers} --model ${opts.model} --warmup ${opts.warmup} --max-new-tokens ${opts.maxNewTokens}`;
  const result = {
    command,
    date: startedAt.toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version },
    model: { dir: opts.model === modelDir ? modelDir : `${opts.model} (synthetic, seed 1)`, config: manifest.config, int8_mib: mib(manifest.int8_bytes), synthetic: manifest.synthetic },
    settings: { seconds: opts.seconds, rate_per_s: opts.rate, workers: opts.workers, warmup_s: opts.warmup, mix: MIX, max_new_tokens: opts.maxNewTokens, client_deadline_ms: CLIENT_DEADLINE_MS },
    verdict: {
      ok,
      sent,
      answered: measured.filter((s) => typeof s.status === 'number').length,
      lost,
      duplicated_answers: duplicatedAnswers,
      jobs_run_twice: jobsRunTwice,
      errors: errors.length,
      error_rate: sent === 0 ? 0 : errors.length / sent,
      achieved_rate_per_s: round(sent / (sendingMs / 1000)),
      p99_stable: p99Stable,
      p99_best_minute_ms: bestP99,
      p99_worst_minute_ms: worstP99,
      memory_bounded: memory.every((m) => m.ok),
      exit_codes: exitCodes,
    },
    latency_ms: { p50: round(percentile(okMs, 50)), p99: round(percentile(okMs, 99)), max: round(Math.max(...okMs)), by_kind: byKind },
    other_cpu_max_cores: round(Math.max(0, ...perMinute.map((m) => m.cpuOthers ?? 0))),
    per_minute: perMinute,
    memory,
    rss_timeline_mib: rssTimeline.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 't' ? v : mib(v)]))),
    answers_by_worker: workersUsed,
    first_errors: errors.slice(0, 20).map((s) => ({ id: s.id, kind: s.kind, status: s.status, code: s.code, ms: round(s.ms) })),
    logs: logDir,
  };

  mkdirSync(opts.out, { recursive: true });
  const stem = join(opts.out, `soak-${date}`);
  writeFileSync(`${stem}.json.tmp`, `${JSON.stringify(result, null, 2)}\n`);
  renameSync(`${stem}.json.tmp`, `${stem}.json`);
  writeFileSync(`${stem}.md.tmp`, markdown(result));
  renameSync(`${stem}.md.tmp`, `${stem}.md`);

  say(`${ok ? 'PASS' : 'FAIL'}: ${sent} requests in ${opts.seconds} s at ${opts.rate}/s — lost ${lost}, duplicated ${duplicatedAnswers} (jobs run twice ${jobsRunTwice}), errors ${errors.length}`);
  say(
    `latency p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms; ` +
      (bestP99 === null ? 'no full minute to compare p99 across' : `p99 per full minute ${bestP99}–${worstP99} ms (${p99Stable ? 'stable' : 'NOT stable'})`),
  );
  for (const m of memory) say(`${m.process}: RSS ${m.start_mib} → ${m.end_mib} MiB (max ${m.max_mib}, growth ${m.growth_mib}, bound ${m.bound_mib})${m.ok ? '' : ' — OVER'}`);
  say(`exit codes ${JSON.stringify(exitCodes)}`);
  const busiest = perMinute.reduce((a, m) => ((m.cpuOthers ?? 0) > (a.cpuOthers ?? 0) ? m : a), perMinute[0] as MinuteStats);
  if ((busiest.cpuOthers ?? 0) > 0.25) {
    say(`note: other processes on this machine used up to ${busiest.cpuOthers} cores (minute ${busiest.minute}); latency then is not that of a quiet machine`);
  }
  say(`wrote ${stem}.json and ${stem}.md`);
  return ok ? 0 : 1;
}

type Result = {
  command: string;
  date: string;
  machine: { cpus: number; cpu: string | undefined; memory_gib: number; node: string };
  model: { dir: string; config: Record<string, number>; int8_mib: number; synthetic: boolean };
  settings: { seconds: number; rate_per_s: number; workers: number; warmup_s: number; mix: Kind[]; max_new_tokens: number };
  verdict: Record<string, unknown> & { ok: boolean; exit_codes: Record<string, number | null> };
  latency_ms: { p50: number; p99: number; max: number; by_kind: Record<string, { requests: number; p50_ms: number; p99_ms: number; max_ms: number }> };
  other_cpu_max_cores: number;
  per_minute: MinuteStats[];
  memory: Array<{ process: string; start_mib: number; max_mib: number; end_mib: number; growth_mib: number; bound_mib: number; ok: boolean }>;
  answers_by_worker: Record<string, number>;
};

function markdown(r: Result): string {
  const v = r.verdict;
  const lines = [
    `# Soak ${r.date.slice(0, 16).replace('T', ' ')} UTC — ${v.ok ? 'PASS' : 'FAIL'}`,
    '',
    `\`${r.command}\``,
    '',
    `Machine: ${r.machine.cpus} × ${r.machine.cpu ?? 'cpu'}, ${r.machine.memory_gib} GiB, Node ${r.machine.node}. Model: ${r.model.dir} — ${r.model.config.n_layer} layers, ` +
      `${r.model.config.n_embd} wide, INT8 ${r.model.int8_mib} MiB${r.model.synthetic ? ' (synthetic weights)' : ''}. Loopback only: a private redis-server, the built gateway and ` +
      `${r.settings.workers} workers as processes; an open-loop client at ${r.settings.rate_per_s} requests/s after a ${r.settings.warmup_s} s warm-up; mix per 10 requests: ` +
      `${countMix(r.settings.mix)}; generate: ${r.settings.max_new_tokens} new tokens, sampled.`,
    '',
    '| | |',
    '|---|---|',
    `| requests sent (measured) | ${v.sent as number} (${v.achieved_rate_per_s as number}/s) |`,
    `| answered | ${v.answered as number} |`,
    `| lost (no answer) | ${v.lost as number} |`,
    `| duplicated (an answer or token twice; a job run twice) | ${v.duplicated_answers as number}; ${v.jobs_run_twice as number} |`,
    `| errors (not a 200 with its own id and prompt) | ${v.errors as number} (rate ${v.error_rate as number}) |`,
    `| latency p50 / p99 / max | ${r.latency_ms.p50} / ${r.latency_ms.p99} / ${r.latency_ms.max} ms |`,
    v.p99_best_minute_ms === null
      ? '| p99 per full minute | (no full minute: run longer than 60 s) |'
      : `| p99 per full minute, best – worst | ${v.p99_best_minute_ms as number} – ${v.p99_worst_minute_ms as number} ms (${v.p99_stable ? 'stable' : 'NOT stable'}: within ${P99_SPREAD_BOUND}× or ${P99_SLACK_MS} ms of the best) |`,
    `| memory | ${v.memory_bounded ? 'bounded' : 'OVER the bound'} (growth ≤ max(${mib(RSS_GROWTH_BOUND)} MiB, 15% of the start) per process) |`,
    `| exit codes after SIGTERM | ${Object.entries(v.exit_codes).map(([k, c]) => `${k} ${c}`).join(', ')} |`,
    `| other processes' CPU, busiest minute | ${r.other_cpu_max_cores} cores |`,
    `| answers by worker | ${Object.entries(r.answers_by_worker).map(([k, n]) => `${k} ${n}`).join(', ')} |`,
    '',
    '## Per minute',
    '',
    `CPU columns: cores busy with the soak's own processes (client, Redis, gateway, workers) and with anything else on this ${r.machine.cpus}-core machine.`,
    '',
    '| minute | requests | errors | p50 ms | p99 ms | p99 predict | p99 generate | p99 stream | p99 compare | CPU soak | CPU others |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.per_minute.map(
      (m) =>
        `| ${m.minute}${m.full ? '' : ' (partial)'} | ${m.requests} | ${m.errors} | ${m.p50} | ${m.p99} | ${m.p99ByKind.predict ?? '–'} | ${m.p99ByKind.generate ?? '–'} | ${m.p99ByKind.stream ?? '–'} | ${m.p99ByKind.compare ?? '–'} | ${m.cpuOurs ?? '–'} | ${m.cpuOthers ?? '–'} |`,
    ),
    '',
    '## By kind (whole run)',
    '',
    '| kind | requests | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|',
    ...Object.entries(r.latency_ms.by_kind).map(([k, s]) => `| ${k} | ${s.requests} | ${s.p50_ms} | ${s.p99_ms} | ${s.max_ms} |`),
    '',
    '## Memory (RSS, MiB; sampled every 5 s from the end of the warm-up)',
    '',
    '| process | start | max | end | growth | bound |',
    '|---|---|---|---|---|---|',
    ...r.memory.map((m) => `| ${m.process} | ${m.start_mib} | ${m.max_mib} | ${m.end_mib} | ${m.growth_mib} | ${m.bound_mib}${m.ok ? '' : ' **over**'} |`),
    '',
  ];
  return lines.join('\n');
}

function countMix(mix: Kind[]): string {
  const c: Record<string, number> = {};
  for (const k of mix) c[k] = (c[k] ?? 0) + 1;
  return Object.entries(c)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
}

function stopAll(): void {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
}
process.once('SIGINT', () => {
  stopAll();
  process.exit(130);
});

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    say(`error: ${err.message}`);
    stopAll();
    process.exit(2);
  },
);
