#!/usr/bin/env node
/**
 * npm run bench -- [--only model|service] [--quick] [--name NAME] ...
 * Model-level and service-level benchmarks; writes bench/results/<name>.json and <name>.md and
 * prints the summary with the targets (measured figure, PASS/FAIL). Progress goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { WORKER_PROCESS_ENV } from '@gpt2-int8/contract/worker-process';
import { AGREEMENT_WINDOW, type AgreementRow, measureAgreement } from './agreement-bench.js';
import { ensureOrtStandard, ensureSyntheticArtifact } from './artifacts.js';
import { benchMarkdown, type BenchResult } from './bench-report.js';
import { intList, oneOfList, positiveInt, positiveNumber, runMain, UsageError } from './cli-args.js';
import { loadAverage, machineInfo } from './machine.js';
import { type ModelBenchResult, type ModelBenchSettings, runModelBench } from './model-bench.js';
import { DEFAULT_CACHE_DIR, DEFAULT_RESULTS_DIR, DEFAULT_STUDENT_DIR } from './paths.js';
import { referenceTokens } from './reference-text.js';
import { CpuShare } from './cpu-share.js';
import { type BenchRedis, runningPids, startRedis } from './processes.js';
import { type PlannedStep, Progress } from './progress.js';
import { writeResults } from './results.js';
import { groupEstimateS, measureWorkerRss, planGroups, runServiceBench, type ServiceBenchResult, type ServiceSettings, type WorkerRss } from './service-bench.js';
import { round } from './summary.js';
import { BATCHING_MODES, type GenerationBenchResult, type GenerationSettings, generationStepId, runGenerationBench } from './generation-bench.js';
import { evaluateTargets } from './targets.js';

const PRESETS = ['tiny', 'distil', 'small'] as const;
type Preset = (typeof PRESETS)[number];
const SECTIONS = ['model', 'service', 'generation'] as const;
/** --quick scores 64 windows of the agreement text (4,096 positions) instead of all of it (≈ 17,000). */
const QUICK_AGREEMENT_WINDOWS = 64;

const USAGE = `usage: npm run bench -- [options]
  --only LIST              sections to run, of model, service, generation (default: all)
  --quick                  fewer repetitions and 3 s load runs (≈ 8 minutes on a first run, instead of ≈ 21)
  --name NAME              results go to <out-dir>/NAME.json and NAME.md (default: bench-<date> / quick-<date>)
  --out-dir DIR            default bench/results
  --cache-dir DIR          where the synthetic models are built and kept (default bench/.cache)
  --rebuild                re-quantize the cached artifacts (after the quantizer changed)
  model level:
  --presets LIST           comma-separated, of tiny, distil, small (default distil,small)
  --rss-preset P           the artifact a real worker's RSS is measured on (default small, else the last preset)
  --reps N                 timed next-token runs per model and prompt length (default 20; quick 5)
                           (FP32, INT8 and the ORT-standard peer interleaved, at 1, 8 and 128 tokens
                           and one decode step at 128; agreement on student-tiny when it is present)
  service level:
  --service-preset P       the artifact the workers serve (default distil)
  --workers LIST           worker counts (default 1,2,4)
  --concurrency LIST       autocannon connections (default 1,8,32)
  --duration S             seconds per load run (default 10; quick 3)
  --rounds N               rounds over all configurations (default 3; quick 1)
  --batch-workers N        worker count of the MAX_BATCH=8 vs 1 comparison (default 1)
  --batch-window-ms MS     BATCH_WINDOW_MS for the workers (default: the worker's own default)
  --generate-concurrency N concurrency of the 1 vs 2 workers generation runs (default 8; 0 skips them)
  generation (one worker, streamed greedy generations, continuous batching on and off):
  --generation-presets L   default distil,small
  --generation-tokens L    max_new_tokens values (default 32,128)
  --generation-concurrency L  default 1,8,32
  --generation-rounds N    default 2; quick 1
  --seed N                 seed of the synthetic weights (default 1)`;

function stamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace(/:/g, '-');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      name: { type: 'string' },
      'out-dir': { type: 'string' },
      'cache-dir': { type: 'string' },
      rebuild: { type: 'boolean', default: false },
      presets: { type: 'string' },
      'rss-preset': { type: 'string' },
      reps: { type: 'string' },
      'service-preset': { type: 'string' },
      workers: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      'batch-workers': { type: 'string' },
      'generate-concurrency': { type: 'string' },
      'batch-window-ms': { type: 'string' },
      'generation-presets': { type: 'string' },
      'generation-tokens': { type: 'string' },
      'generation-concurrency': { type: 'string' },
      'generation-rounds': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const quick = values.quick ?? false;
  const sections = oneOfList('only', values.only, SECTIONS, [...SECTIONS]);
  const presets = oneOfList<Preset>('presets', values.presets, PRESETS, ['distil', 'small']);
  const [servicePreset] = oneOfList<Preset>('service-preset', values['service-preset'], PRESETS, ['distil']);
  const [rssPreset] = oneOfList<Preset>('rss-preset', values['rss-preset'], PRESETS, [presets.includes('small') ? 'small' : (presets[presets.length - 1] as Preset)]);
  const seed = positiveInt('seed', values.seed, 1);
  const started = new Date();
  const name = values.name ?? `${quick ? 'quick' : 'bench'}-${stamp(started)}`;
  if (!/^[\w.-]{1,100}$/.test(name)) throw new UsageError(`--name may use letters, digits, . _ - only, got "${name}"`);
  const outDir = resolve(values['out-dir'] ?? DEFAULT_RESULTS_DIR);
  const cacheDir = resolve(values['cache-dir'] ?? DEFAULT_CACHE_DIR);
  const batchWindow = values['batch-window-ms'];
  if (batchWindow !== undefined && !/^\d+$/.test(batchWindow)) throw new UsageError(`--batch-window-ms must be a whole number, got "${batchWindow}"`);

  const modelSettings: ModelBenchSettings = {
    latencyReps: positiveInt('reps', values.reps, quick ? 5 : 20),
    warmups: quick ? 1 : 3,
    generationReps: quick ? 2 : 5,
    loadReps: quick ? 1 : 3,
    promptTokens: [1, 8, 128],
    generationContext: 128,
    generationTokens: 16,
    threads: 1,
  };
  const workers = intList('workers', values.workers, [1, 2, 4]);
  const serviceSettings: ServiceSettings = {
    workers,
    concurrency: intList('concurrency', values.concurrency, [1, 8, 32]),
    durationS: positiveNumber('duration', values.duration, quick ? 3 : 10),
    warmupS: quick ? 1 : 2,
    rounds: positiveInt('rounds', values.rounds, quick ? 1 : 3),
    maxBatch: 8,
    batchWindowMs: batchWindow === undefined ? undefined : Number(batchWindow),
    batchWorkers: positiveInt('batch-workers', values['batch-workers'], 1),
    batchConcurrency: 32,
    generateConcurrency: values['generate-concurrency'] === '0' ? 0 : positiveInt('generate-concurrency', values['generate-concurrency'], 8),
  };
  serviceSettings.batchConcurrency = Math.max(...serviceSettings.concurrency);

  const generationPresets = oneOfList<Preset>('generation-presets', values['generation-presets'], PRESETS, ['distil', 'small']);
  const generationSettings: GenerationSettings = {
    presets: generationPresets,
    tokens: intList('generation-tokens', values['generation-tokens'], [32, 128]),
    concurrency: intList('generation-concurrency', values['generation-concurrency'], [1, 8, 32]),
    durationS: (n) => (quick ? 3 : 6) * (n >= 128 ? 1.5 : 1),
    skipS: 1,
    rounds: positiveInt('generation-rounds', values['generation-rounds'], quick ? 1 : 2),
    maxBatch: 8,
  };
  const runGeneration = sections.includes('generation');
  const runModel = sections.includes('model');
  const runService = sections.includes('service');
  const needed = new Set<Preset>([
    ...(runModel ? presets : []),
    ...(runModel ? [rssPreset as Preset] : []),
    ...(runService ? [servicePreset as Preset] : []),
    ...(runGeneration ? generationPresets : []),
  ]);
  const scale: Record<Preset, number> = { tiny: 0.1, distil: 1, small: 2 };
  const artifactDir = (p: Preset) => join(cacheDir, `synthetic-${p}-seed${seed}`, 'artifact');
  const cached = (p: Preset) => existsSync(join(artifactDir(p), 'manifest.json')) && !values.rebuild;

  const steps: PlannedStep[] = [];
  for (const p of needed) steps.push({ id: `build-${p}`, label: `model cache: ${p}`, estimateS: cached(p) ? 1 : 3 + 15 * scale[p] });
  const student = runModel && existsSync(join(DEFAULT_STUDENT_DIR, 'config.json'));
  if (student) steps.push({ id: 'agreement', label: 'agreement on student-tiny (default INT8, ORT-standard)', estimateS: 100 });
  const repScale = modelSettings.latencyReps / 20;
  if (runModel) for (const p of presets) steps.push({ id: `model-${p}`, label: `model level: ${p}`, estimateS: 2 + scale[p] * (8 + 14 * repScale + (quick ? 3 : 8)) });
  if (runModel) steps.push({ id: 'worker-rss', label: `worker RSS: ${rssPreset}`, estimateS: 6 + 6 * scale[rssPreset as Preset] });
  const plans = runService ? planGroups(serviceSettings) : [];
  const loadS = 1 + 1.5 * scale[servicePreset as Preset];
  for (let r = 0; r < serviceSettings.rounds; r++) {
    const order = r % 2 === 0 ? plans : [...plans].reverse();
    for (const g of order) {
      steps.push({ id: `service-${g.id}-r${r + 1}`, label: `service: ${g.workers} worker(s), MAX_BATCH=${g.maxBatch}${g.workload === 'generate' ? ', generating' : ''}, round ${r + 1}/${serviceSettings.rounds}`, estimateS: groupEstimateS(g, serviceSettings, loadS) });
    }
  }

  for (let r = 0; runGeneration && r < generationSettings.rounds; r++) {
    for (const p of generationPresets) {
      const cellsS = generationSettings.tokens.reduce((a, n) => a + generationSettings.durationS(n) + 2, 0) * generationSettings.concurrency.length;
      for (const mode of BATCHING_MODES) steps.push({ id: generationStepId(p, mode, r), label: `generation: ${p}, continuous batching ${mode}, round ${r + 1}/${generationSettings.rounds}`, estimateS: 6 + 2 * scale[p] + cellsS });
    }
  }

  const machine = machineInfo();
  const progress = new Progress(process.stderr, new CpuShare(runningPids));
  progress.log(`bench ${name}: ${machine.cpu}, ${machine.cores} cores, load ${machine.load.join(' / ')}`);
  if (machine.load[0] !== undefined && machine.load[0] > machine.cores * 0.5) {
    progress.log(`NOTE: the machine is busy (1-minute load ${machine.load[0]} on ${machine.cores} cores): figures will be noisier; ratios are measured interleaved to limit the damage.`);
  }
  progress.plan(steps);

  const artifacts = new Map<Preset, string>();
  const peers = new Map<Preset, string>();
  for (const p of needed) {
    await progress.step(`build-${p}`, async (say) => {
      artifacts.set(p, await ensureSyntheticArtifact(p, seed, { cacheDir, rebuild: values.rebuild, log: (l) => say(l) }));
      if (runModel && presets.includes(p)) peers.set(p, await ensureOrtStandard(artifacts.get(p) as string, { cacheDir, rebuild: values.rebuild, log: (l) => say(l) }));
    });
  }

  const models: ModelBenchResult[] = [];
  let workerRss: WorkerRss | null = null;
  let agreement: AgreementRow[] = [];
  let service: ServiceBenchResult | null = null;
  let generation: GenerationBenchResult | null = null;
  let redis: BenchRedis | undefined;
  try {
    if (runModel) {
      for (const p of presets) {
        await progress.step(`model-${p}`, async (say) => {
          const m = await runModelBench(p, artifacts.get(p) as string, peers.get(p) as string, modelSettings, say);
          models.push(m);
          const l = (n: number) => m.latency.find((x) => x.prompt_tokens === n)?.ratio.toFixed(3) ?? 'n/a';
          const v = (n: number) => m.latency.find((x) => x.prompt_tokens === n)?.peer_ratio.toFixed(3) ?? 'n/a';
          progress.log(`  ${p}: INT8/FP32 latency ${l(8)} (8 tokens), ${l(128)} (128 tokens); KV cache/recompute ${m.generation.ratio.toFixed(3)}; size ratio ${m.sizes.ratio.toFixed(3)}`);
          progress.log(`  ${p}: INT8/ORT-standard ${v(1)} (1 token), ${v(8)} (8), ${v(128)} (128), ${m.decode.peer_ratio.toFixed(3)} (decode step at ${m.decode.context})`);
        });
      }
      if (student) {
        await progress.step('agreement', async (say) => {
          const text = await referenceTokens();
          agreement = await measureAgreement(DEFAULT_STUDENT_DIR, [{ name: 'default', options: [] }, { name: 'ORT-standard', options: 'ort-standard' }], text.tokens, { cacheDir, rebuild: values.rebuild, log: (l) => say(l), say, maxWindows: quick ? QUICK_AGREEMENT_WINDOWS : undefined });
          for (const a of agreement) progress.log(`  agreement, ${a.variant}: top-1 ${(100 * a.top1_agreement).toFixed(2)}%, mean KL ${a.mean_kl.toExponential(2)} over ${a.positions} positions`);
        });
      }
      redis = await startRedis();
      await progress.step('worker-rss', async (say) => {
        const dir = artifacts.get(rssPreset as Preset) as string;
        const manifest = await readManifest(dir);
        workerRss = await measureWorkerRss(rssPreset as string, dir, manifest.int8_bytes, (redis as BenchRedis).url, say);
        progress.log(`  worker RSS (${rssPreset}): ${(workerRss.rss_bytes / 1e6).toFixed(0)} MB (limit ${(workerRss.limit_bytes / 1e6).toFixed(0)} MB)`);
      });
    }
    if (runService) {
      redis ??= await startRedis();
      const r = redis;
      service = await runServiceBench(servicePreset as string, artifacts.get(servicePreset as Preset) as string, r.url, r.pid, serviceSettings, (id, fn) => progress.step(id, fn));
    }
    if (runGeneration) {
      redis ??= await startRedis();
      generation = await runGenerationBench(artifacts as Map<string, string>, redis.url, generationSettings, (id, fn) => progress.step(id, fn));
    }
  } finally {
    await redis?.stop();
  }
  progress.finish();

  const notes: string[] = [];
  if (runModel && !student) notes.push(`${DEFAULT_STUDENT_DIR} is absent: no agreement figures.`);
  if (!presets.includes('small') && runModel) notes.push(`The model targets are specified on the small preset, which was not run; they are judged here on ${presets[presets.length - 1]}.`);
  if (machine.load[0] !== undefined && machine.load[0] > machine.cores * 0.5) notes.push(`The machine was busy when the bench started (1-minute load ${machine.load[0]} on ${machine.cores} cores).`);
  const targetPreset = presets.includes('small') ? 'small' : presets[presets.length - 1];
  const targets = evaluateTargets({ models, targetPreset: runModel ? targetPreset : undefined, workerRss, service, generation, agreement });
  const finished = new Date();
  const result: BenchResult = {
    kind: 'bench',
    name,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    duration_s: round((finished.getTime() - started.getTime()) / 1000, 1),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: { quick, sections, presets, rss_preset: rssPreset, service_preset: servicePreset, seed, model: modelSettings, service: runService ? serviceSettings : null, generation: runGeneration ? generation?.settings ?? null : null },
    machine,
    load_after: loadAverage(),
    model: models,
    worker_rss: workerRss,
    agreement: agreement.length > 0 ? { window: AGREEMENT_WINDOW, text: 'Debian base-files license texts (bench/src/reference-text.ts)', rows: agreement } : null,
    service,
    generation,
    targets,
    steps: progress.records(),
    notes,
  };
  const md = benchMarkdown(result);
  await writeResults(join(outDir, name), result, md);
  process.stdout.write(md);
  process.stderr.write(`\nwrote ${join(outDir, `${name}.json`)} and ${name}.md\n`);
}

/**
 * The model section measures what a worker does, so it runs under the workers' allocator setting
 * (shared/contract/src/worker-process.ts): onnxruntime-node allocates every output afresh, and how glibc
 * serves those buffers changes what a KV-cache step costs. Re-executed once with it when unset.
 */
if (process.env.GLIBC_TUNABLES === WORKER_PROCESS_ENV.GLIBC_TUNABLES) {
  runMain(main, USAGE);
} else {
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: WORKER_PROCESS_ENV.GLIBC_TUNABLES },
  });
  process.exit(child.status ?? 1);
}
