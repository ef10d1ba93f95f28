/**
 * Service-level figures through the real gateway, workers and Redis: throughput and latency at each
 * concurrency for each worker count, the queue hop (end-to-end p50 − the worker's inference p50 at
 * concurrency 1), scaling from 1 to 2 workers, and the micro-batching gain at high concurrency
 * (MAX_BATCH=8 against MAX_BATCH=1, same worker count). Configurations alternate within each round
 * (and the order reverses every other round) so drift on a shared machine hits them all alike.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ARTIFACT_FILES } from '@gpt2-int8/contract/manifest';
import { LEGACY_PROMPTS } from '@gpt2-int8/contract/prompts';
import { median, percentile } from '@gpt2-int8/contract/stats';
import { decode } from '@gpt2-int8/runtime/tokenizer';
import { WORKER_PROCESS_ENV } from '@gpt2-int8/contract/worker-process';
import { runNodeScript } from './artifacts.js';
import { cpuByRole } from './cpu-share.js';
import { GENERATE_TOKENS, type LoadRun, predictSequential, predictTogether, type RawRun, runLoad, type Workload } from './load.js';
import { proseTokens } from './model-bench.js';
import { ROOT } from './paths.js';
import { mappedFileRss, processMemory, startGroup } from './processes.js';
import { round } from './summary.js';

const SESSION_RSS_SCRIPT = join(ROOT, 'bench/dist/session-rss.js');

export interface ServiceSettings {
  workers: number[];
  concurrency: number[];
  durationS: number;
  warmupS: number;
  rounds: number;
  /** MAX_BATCH of the main runs (the worker's default, 8). */
  maxBatch: number;
  batchWindowMs?: number;
  /** The micro-batching comparison: this many workers at this concurrency, MAX_BATCH=maxBatch vs 1. */
  batchWorkers: number;
  batchConcurrency: number;
  /** Concurrency of the generation scaling runs (1 and 2 workers; 0 = not run). */
  generateConcurrency: number;
}

export interface GroupPlan {
  id: string;
  workers: number;
  maxBatch: number;
  concurrency: number[];
  /** What its load asks for (predict unless said). */
  workload?: Workload;
}

export interface CombinedRun {
  concurrency: number;
  rounds: LoadRun[];
  /** Median over rounds, with the lowest and highest round. */
  throughput_rps: { median: number; min: number; max: number };
  /** Percentiles of all rounds' responses pooled. */
  latency_ms: { p50: number; p90: number; p99: number };
  timings_ms: { queue: number; tokenize: number; inference: number; total: number };
  ok: number;
  failed: number;
  /** Cores each role used during the runs (median over rounds): where the 2 cores went. */
  cpu_cores: Record<string, number>;
}

export interface GroupResult extends GroupPlan {
  runs: CombinedRun[];
  /** VmRSS of each worker at the end of each round (bytes). */
  worker_rss_bytes: number[];
}

export interface ServiceBenchResult {
  preset: string;
  model_dir: string;
  settings: ServiceSettings;
  prompts: readonly string[];
  groups: GroupResult[];
  queue_hop: { group: string; e2e_p50_ms: number; inference_p50_ms: number; hop_ms: number; gateway_total_p50_ms: number; queue_p50_ms: number; tokenize_p50_ms: number } | null;
  scaling: {
    concurrency: number;
    one_worker_rps: number;
    two_workers_rps: number;
    ratio: number;
    /** The same with MAX_BATCH=1: how the workers themselves scale when nothing is batched. */
    unbatched?: { one_worker_rps: number; two_workers_rps: number; ratio: number };
    /** Greedy generations of GENERATE_TOKENS tokens: the workers' share of the machine is larger. */
    generate?: { concurrency: number; max_new_tokens: number; one_worker_rps: number; two_workers_rps: number; ratio: number };
  } | null;
  batching: { workers: number; concurrency: number; batched_rps: number; unbatched_rps: number; gain: number; batched_c1_p50_ms?: number; unbatched_c1_p50_ms?: number } | null;
}

/**
 * The configurations: every worker count at every concurrency with MAX_BATCH=maxBatch; then with
 * MAX_BATCH=1 the batching comparison's worker count (at concurrency 1, to show a lone request is
 * not slower, and at the comparison's concurrency), and — when 1 and 2 workers are both run — 1 and
 * 2 workers at the highest concurrency, for scaling without batching, and 1 and 2 workers under a
 * load of generations, for scaling when the requests are heavier than the gateway's share of them.
 */
export function planGroups(s: ServiceSettings): GroupPlan[] {
  const groups: GroupPlan[] = s.workers.map((w) => ({ id: `${w}w-batch${s.maxBatch}`, workers: w, maxBatch: s.maxBatch, concurrency: [...s.concurrency] }));
  const add = (workers: number, maxBatch: number, conc: number[]) => {
    let g = groups.find((x) => x.workers === workers && x.maxBatch === maxBatch);
    if (!g) {
      g = { id: `${workers}w-batch${maxBatch}`, workers, maxBatch, concurrency: [] };
      groups.push(g);
    }
    for (const c of conc) if (!g.concurrency.includes(c)) g.concurrency.push(c);
    g.concurrency.sort((a, b) => a - b);
  };
  if (s.maxBatch !== 1) {
    add(s.batchWorkers, s.maxBatch, [s.batchConcurrency]);
    add(s.batchWorkers, 1, [1, s.batchConcurrency]);
    const top = Math.max(...s.concurrency);
    if (s.workers.includes(1) && s.workers.includes(2)) {
      add(1, 1, [top]);
      add(2, 1, [top]);
    }
  }
  if (s.generateConcurrency > 0 && s.workers.includes(1) && s.workers.includes(2)) {
    for (const workers of [1, 2]) groups.push({ id: `${workers}w-generate`, workers, maxBatch: s.maxBatch, concurrency: [s.generateConcurrency], workload: 'generate' });
  }
  return groups;
}

/** Seconds one round of a group is expected to take (for the progress estimate). */
export function groupEstimateS(g: GroupPlan, s: ServiceSettings, loadS: number): number {
  return 2 + loadS * (1 + 0.6 * (g.workers - 1)) + s.warmupS + 1 + g.concurrency.length * (s.durationS + 0.5) + 1;
}

function combine(concurrency: number, runs: RawRun[]): CombinedRun {
  const all = (k: 'latencies' | 'inference' | 'queue' | 'tokenize' | 'total') => runs.flatMap((r) => r[k]);
  const lat = all('latencies');
  const tps = runs.map((r) => r.throughput_rps).sort((a, b) => a - b);
  const p = (xs: number[], q: number) => round(percentile(xs, q), 3);
  return {
    concurrency,
    rounds: runs.map(({ latencies: _l, inference: _i, queue: _q, tokenize: _t, total: _x, ...run }) => run),
    throughput_rps: { median: round(percentile(tps, 50), 2), min: tps[0] ?? Number.NaN, max: tps[tps.length - 1] ?? Number.NaN },
    latency_ms: { p50: p(lat, 50), p90: p(lat, 90), p99: p(lat, 99) },
    timings_ms: { queue: p(all('queue'), 50), tokenize: p(all('tokenize'), 50), inference: p(all('inference'), 50), total: p(all('total'), 50) },
    ok: runs.reduce((a, r) => a + r.ok, 0),
    failed: runs.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0),
    cpu_cores: Object.fromEntries(Object.keys(runs[0]?.cpu_cores ?? {}).map((k) => [k, round(percentile(runs.map((r) => r.cpu_cores?.[k] ?? 0), 50), 2)])),
  };
}

export async function runServiceBench(
  preset: string,
  modelDir: string,
  redisUrl: string,
  redisPid: number,
  s: ServiceSettings,
  step: (id: string, fn: (say: (d: string) => void) => Promise<void>) => Promise<void>,
): Promise<ServiceBenchResult> {
  const prompts = LEGACY_PROMPTS;
  const plans = planGroups(s);
  const raw = new Map<string, Map<number, RawRun[]>>(plans.map((g) => [g.id, new Map(g.concurrency.map((c) => [c, []]))]));
  const rss = new Map<string, number[]>(plans.map((g) => [g.id, []]));
  for (let r = 0; r < s.rounds; r++) {
    const order = r % 2 === 0 ? plans : [...plans].reverse();
    for (const g of order) {
      await step(`service-${g.id}-r${r + 1}`, async (say) => {
        say(`starting gateway + ${g.workers} worker(s), MAX_BATCH=${g.maxBatch}`);
        const group = await startGroup({ redisUrl, modelDir, workers: g.workers, maxBatch: g.maxBatch, batchWindowMs: s.batchWindowMs, queueName: `bench-${g.id}-${randomUUID().slice(0, 8)}` });
        try {
          say('warm-up');
          await predictSequential(group.url, prompts, 10);
          await runLoad(group.url, prompts, Math.max(...g.concurrency), s.warmupS, g.workload);
          for (const c of g.concurrency) {
            say(`${g.workload ?? 'predict'} at concurrency ${c} for ${s.durationS} s`);
            const { result, cores } = await cpuByRole({ gateway: [group.gatewayPid], workers: group.workerPids, redis: [redisPid], client: ['self'] }, () =>
              runLoad(group.url, prompts, c, s.durationS, g.workload),
            );
            raw.get(g.id)?.get(c)?.push({ ...result, cpu_cores: cores });
          }
          for (const pid of group.workerPids) rss.get(g.id)?.push(processMemory(pid).rss);
        } finally {
          await group.stop();
        }
      });
    }
  }
  const groups: GroupResult[] = plans.map((g) => ({
    ...g,
    runs: g.concurrency.map((c) => combine(c, raw.get(g.id)?.get(c) ?? [])),
    worker_rss_bytes: rss.get(g.id) ?? [],
  }));
  const find = (workers: number, maxBatch: number, workload: Workload = 'predict') =>
    groups.find((g) => g.workers === workers && g.maxBatch === maxBatch && (g.workload ?? 'predict') === workload);
  const run = (g: GroupResult | undefined, c: number) => g?.runs.find((x) => x.concurrency === c);

  const hopGroup = find(1, s.maxBatch) ?? groups[0];
  const c1 = run(hopGroup, 1);
  const queue_hop =
    hopGroup && c1
      ? {
          group: hopGroup.id,
          e2e_p50_ms: c1.latency_ms.p50,
          inference_p50_ms: c1.timings_ms.inference,
          hop_ms: round(c1.latency_ms.p50 - c1.timings_ms.inference, 3),
          gateway_total_p50_ms: c1.timings_ms.total,
          queue_p50_ms: c1.timings_ms.queue,
          tokenize_p50_ms: c1.timings_ms.tokenize,
        }
      : null;

  const top = Math.max(...s.concurrency);
  const one = run(find(1, s.maxBatch), top);
  const two = run(find(2, s.maxBatch), top);
  const one1 = run(find(1, 1), top);
  const two1 = run(find(2, 1), top);
  const unbatchedScaling = s.maxBatch !== 1 && one1 && two1 ? { one_worker_rps: one1.throughput_rps.median, two_workers_rps: two1.throughput_rps.median, ratio: round(two1.throughput_rps.median / one1.throughput_rps.median, 3) } : undefined;
  const oneGen = run(find(1, s.maxBatch, 'generate'), s.generateConcurrency);
  const twoGen = run(find(2, s.maxBatch, 'generate'), s.generateConcurrency);
  const generateScaling =
    oneGen && twoGen
      ? { concurrency: s.generateConcurrency, max_new_tokens: GENERATE_TOKENS, one_worker_rps: oneGen.throughput_rps.median, two_workers_rps: twoGen.throughput_rps.median, ratio: round(twoGen.throughput_rps.median / oneGen.throughput_rps.median, 3) }
      : undefined;
  const scaling =
    one && two
      ? {
          concurrency: top,
          one_worker_rps: one.throughput_rps.median,
          two_workers_rps: two.throughput_rps.median,
          ratio: round(two.throughput_rps.median / one.throughput_rps.median, 3),
          ...(unbatchedScaling ? { unbatched: unbatchedScaling } : {}),
          ...(generateScaling ? { generate: generateScaling } : {}),
        }
      : null;

  const batched = find(s.batchWorkers, s.maxBatch);
  const unbatched = find(s.batchWorkers, 1);
  const b = run(batched, s.batchConcurrency);
  const u = run(unbatched, s.batchConcurrency);
  const batching =
    b && u && s.maxBatch !== 1
      ? {
          workers: s.batchWorkers,
          concurrency: s.batchConcurrency,
          batched_rps: b.throughput_rps.median,
          unbatched_rps: u.throughput_rps.median,
          gain: round(b.throughput_rps.median / u.throughput_rps.median, 3),
          batched_c1_p50_ms: run(batched, 1)?.latency_ms.p50,
          unbatched_c1_p50_ms: run(unbatched, 1)?.latency_ms.p50,
        }
      : null;

  return { preset, model_dir: modelDir, settings: s, prompts, groups, queue_hop, scaling, batching };
}

export interface WorkerRss {
  preset: string;
  model_dir: string;
  /** How many fresh worker processes were measured; the figures below are their medians. */
  processes: number;
  /** VmRSS after loading and a few short predicts: the figure the target is judged on. */
  rss_bytes: number;
  /** rss_bytes of each process, in order. */
  rss_samples_bytes: number[];
  short_predicts: number;
  /** VmRSS after further long (~120-token) and batched predicts, and the highest peak (VmHWM). */
  rss_after_long_bytes: number;
  peak_rss_bytes: number;
  long_predicts: number;
  int8_bytes: number;
  /** The target: INT8 artifact bytes + 150 MB (10^6 bytes). */
  limit_bytes: number;
  /** A bare Node process holding only the INT8 session, after 10 short prompts (a baseline). */
  session_only_rss_bytes?: number;
  /**
   * Of rss_bytes and rss_after_long_bytes: the pages of the mapped lookup tables
   * (model.int8.onnx.data) — file-backed, shared by the workers of one host, grows with the
   * distinct tokens looked up.
   */
  tables_rss_bytes?: number;
  tables_rss_after_long_bytes?: number;
}

/**
 * The same code's worker measures up to ±10 MB apart from one process to the next (where glibc and
 * V8 happen to place things), so the target is judged on the median of a few fresh processes.
 */
export const RSS_PROCESSES = 3;

/**
 * Real worker processes on `modelDir`, one after another: each loaded, then a few short predicts,
 * and its RSS read from /proc (the target's figure); then long and batched predicts, and its RSS
 * and peak again — the activations of long batched prompts make the second figure much larger.
 */
export async function measureWorkerRss(preset: string, modelDir: string, int8Bytes: number, redisUrl: string, say: (d: string) => void): Promise<WorkerRss> {
  const runs: { short: number; shortTables: number; after: number; afterTables: number; hwm: number }[] = [];
  for (let i = 0; i < RSS_PROCESSES; i++) {
    say(`worker process ${i + 1}/${RSS_PROCESSES}: starting gateway + 1 worker`);
    const group = await startGroup({ redisUrl, modelDir, workers: 1, maxBatch: 8, queueName: `bench-rss-${randomUUID().slice(0, 8)}` });
    try {
      const pid = group.workerPids[0] as number;
      const settle = () => new Promise((r) => setTimeout(r, 300));
      say(`worker process ${i + 1}/${RSS_PROCESSES}: a few short predicts`);
      await predictSequential(group.url, LEGACY_PROMPTS, 10);
      await settle();
      const short = processMemory(pid).rss;
      const shortTables = mappedFileRss(pid, ARTIFACT_FILES.int8Data);
      say(`worker process ${i + 1}/${RSS_PROCESSES}: long and batched predicts`);
      const long = decode(proseTokens(120));
      await predictSequential(group.url, [long], 3);
      await predictTogether(group.url, [...LEGACY_PROMPTS, long], 8);
      await predictTogether(group.url, [long], 8);
      await settle();
      const after = processMemory(pid);
      runs.push({ short, shortTables, after: after.rss, afterTables: mappedFileRss(pid, ARTIFACT_FILES.int8Data), hwm: after.hwm });
    } finally {
      await group.stop();
    }
  }
  say('baseline: the INT8 session alone');
  const bare = await measureSessionRss(modelDir);
  const med = (pick: (r: (typeof runs)[number]) => number) => median(runs.map(pick));
  return {
    session_only_rss_bytes: bare.rss_bytes,
    preset,
    model_dir: modelDir,
    processes: runs.length,
    rss_bytes: med((r) => r.short),
    rss_samples_bytes: runs.map((r) => r.short),
    short_predicts: 10,
    rss_after_long_bytes: med((r) => r.after),
    peak_rss_bytes: Math.max(...runs.map((r) => r.hwm)),
    long_predicts: 19,
    int8_bytes: int8Bytes,
    limit_bytes: int8Bytes + 150e6,
    tables_rss_bytes: med((r) => r.shortTables),
    tables_rss_after_long_bytes: med((r) => r.afterTables),
  };
}

/** The baseline: VmRSS of a bare process holding only the INT8 session after 10 short prompts. */
export async function measureSessionRss(modelDir: string): Promise<{ rss_bytes: number; peak_rss_bytes: number; predicts: number }> {
  // The same process environment a worker gets (its glibc malloc setting), so the baseline compares.
  const out = await runNodeScript(SESSION_RSS_SCRIPT, [modelDir], { ...process.env, ...WORKER_PROCESS_ENV });
  return JSON.parse(out.trim()) as { rss_bytes: number; peak_rss_bytes: number; predicts: number };
}
