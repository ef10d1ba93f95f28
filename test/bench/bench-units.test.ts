/** The bench's pure pieces: interleaving, the progress estimate, the service plan, the targets, the soak's verdict. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CpuShare } from '../../bench/src/cpu-share.js';
import { numberIn } from '../../bench/src/cli-args.js';
import { cell, quoted } from '../../bench/src/markdown.js';
import { clock, Progress } from '../../bench/src/progress.js';
import { planGroups, type ServiceSettings } from '../../bench/src/service-bench.js';
import { type Sample, type SoakRun, soakMarkdown, soakResult } from '../../bench/src/soak-report.js';
import { interleaved, summarize } from '../../bench/src/summary.js';
import type { ModelBenchResult } from '../../bench/src/model-bench.js';
import { evaluateTargets, TARGET_IDS } from '../../bench/src/targets.js';

describe('interleaved', () => {
  it('runs warm-ups first, then alternates the order every repetition (ABBA) and times each run', async () => {
    const calls: string[] = [];
    const fn = (name: string) => async () => {
      calls.push(name);
    };
    const samples = await interleaved([fn('A'), fn('B')], 4, 1);
    expect(calls.join('')).toBe('AB' + 'AB' + 'BA' + 'AB' + 'BA');
    expect(samples.map((s) => s.length)).toEqual([4, 4]);
    expect(samples.flat().every((x) => x >= 0)).toBe(true);
  });

  it('summarizes samples with a median and a p10–p90 spread', () => {
    const s = summarize([5, 1, 3, 2, 4]);
    expect(s).toMatchObject({ n: 5, median: 3, min: 1, max: 5 });
    expect(s.p10).toBeCloseTo(1.4);
    expect(s.p90).toBeCloseTo(4.6);
  });
});

describe('Progress', () => {
  it('estimates what remains from the plan, scaled by how the finished steps compared to it', async () => {
    const out = Object.assign(new PassThrough(), { isTTY: false });
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const p = new Progress(out);
    p.plan([
      { id: 'a', label: 'step a', estimateS: 0.01 },
      { id: 'b', label: 'step b', estimateS: 100 },
    ]);
    expect(p.remainingS()).toBeCloseTo(100.01, 1);
    await p.step('a', async () => new Promise((r) => setTimeout(r, 30)));
    // A tiny step running long barely moves the estimate (it is smoothed towards the plan)...
    expect(p.remainingS()).toBeGreaterThan(99);
    expect(p.remainingS()).toBeLessThan(101);
    p.finish();
    expect(text).toContain('step a done in');
    expect(text).toMatch(/\[00:00 elapsed · ~\d\d:\d\d left · 1\/2\]/);
  });

  it('formats durations as mm:ss, and h:mm:ss past the hour', () => {
    expect(clock(75)).toBe('01:15');
    expect(clock(3725)).toBe('1:02:05');
  });
});

describe('planGroups', () => {
  const settings: ServiceSettings = { workers: [1, 2, 4], concurrency: [1, 8, 32], durationS: 10, warmupS: 2, rounds: 2, maxBatch: 8, batchWorkers: 1, batchConcurrency: 32, generateConcurrency: 8 };

  it('runs every worker count at every concurrency, plus the MAX_BATCH=1 comparison and 1 vs 2 workers generating', () => {
    const groups = planGroups(settings);
    expect(groups.map((g) => [g.workers, g.maxBatch, g.concurrency, g.workload ?? 'predict'])).toEqual([
      [1, 8, [1, 8, 32], 'predict'],
      [2, 8, [1, 8, 32], 'predict'],
      [4, 8, [1, 8, 32], 'predict'],
      [1, 1, [1, 32], 'predict'],
      [2, 1, [32], 'predict'],
      [1, 8, [8], 'generate'],
      [2, 8, [8], 'generate'],
    ]);
    expect(planGroups({ ...settings, generateConcurrency: 0 }).some((g) => g.workload === 'generate')).toBe(false);
  });

  it('adds the comparison concurrency to the batched group when it is not in the list', () => {
    const groups = planGroups({ ...settings, workers: [2], concurrency: [1], batchWorkers: 2, batchConcurrency: 16 });
    expect(groups.map((g) => [g.workers, g.maxBatch, g.concurrency])).toEqual([
      [2, 8, [1, 16]],
      [2, 1, [1, 16]],
    ]);
  });
});

describe('evaluateTargets', () => {
  it('lists every target, unmeasured (null, no verdict) when its section did not run', () => {
    const rows = evaluateTargets({ models: [], targetPreset: undefined, workerRss: null, service: null });
    expect(rows.map((r) => r.id)).toEqual(TARGET_IDS);
    expect(rows.every((r) => r.measured === null && r.pass === null && r.shown === 'not measured')).toBe(true);
  });

  it('judges at-most and at-least targets, and the RSS limit in bytes', () => {
    const rows = evaluateTargets({
      models: [],
      targetPreset: undefined,
      workerRss: { preset: 'small', model_dir: '/x', processes: 3, rss_bytes: 300e6, rss_samples_bytes: [290e6, 300e6, 310e6], short_predicts: 10, rss_after_long_bytes: 500e6, peak_rss_bytes: 600e6, long_predicts: 19, int8_bytes: 160e6, limit_bytes: 310e6 },
      service: {
        preset: 'distil',
        model_dir: '/x',
        settings: { workers: [1, 2], concurrency: [1, 32], durationS: 1, warmupS: 1, rounds: 1, maxBatch: 8, batchWorkers: 1, batchConcurrency: 32, generateConcurrency: 8 },
        prompts: [],
        groups: [],
        queue_hop: { group: '1w-batch8', e2e_p50_ms: 10, inference_p50_ms: 7.5, hop_ms: 2.5, gateway_total_p50_ms: 9, queue_p50_ms: 1, tokenize_p50_ms: 0.1 },
        scaling: { concurrency: 32, one_worker_rps: 100, two_workers_rps: 185, ratio: 1.85, generate: { concurrency: 8, max_new_tokens: 32, one_worker_rps: 5, two_workers_rps: 9.5, ratio: 1.9 } },
        batching: { workers: 1, concurrency: 32, batched_rps: 140, unbatched_rps: 100, gain: 1.4 },
      },
    });
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(by.queue_hop_ms).toMatchObject({ measured: 2.5, pass: false });
    expect(by.scaling_2w_1w).toMatchObject({ measured: 1.85, pass: true });
    expect(by.scaling_2w_1w?.shown).toContain('generating 32 tokens: 1.90 (9.50 / 5.00 req/s)');
    expect(by.batching_gain).toMatchObject({ measured: 1.4, pass: false });
    expect(by.worker_rss).toMatchObject({ measured: 300, pass: true });
  });
});

describe('evaluateTargets against the ORT-standard peer', () => {
  const figure = (int8: number, peer: number) => {
    const ms = (median: number) => ({ n: 5, median, p10: median, p90: median, min: median, max: median });
    return { fp32_ms: ms(3 * int8), int8_ms: ms(int8), ratio: 1 / 3, pair_ratio_p10: 0.3, pair_ratio_p90: 0.4, peer_ms: ms(peer), peer_ratio: int8 / peer, peer_pair_ratio_p10: 0, peer_pair_ratio_p90: 0 };
  };
  const model = (preset: string, r: number) =>
    ({ preset, sizes: { fp32_bytes: 100, int8_bytes: 27, ratio: 0.27, peer_bytes: 33 }, latency: [1, 8, 128].map((n) => ({ prompt_tokens: n, ...figure(r * n, n) })), decode: { context: 128, ...figure(r, 1) }, generation: { ratio: 0.1, cached_ms_per_token: { median: 1 }, recompute_ms_per_token: { median: 10 }, prompt_tokens: 112, new_tokens: 16, context: 128 } }) as unknown as ModelBenchResult;

  it('judges each peer ratio on the worse of distil and small, and the default variant\'s agreement', () => {
    const agreement = [
      { variant: 'default', positions: 4096, windows: 64, window: 64, top1_agreement: 0.9885, top5_overlap: 0.98, mean_kl: 4.5e-4, max_kl: 0.1, int8_bytes: 1 },
      { variant: 'ORT-standard', positions: 4096, windows: 64, window: 64, top1_agreement: 0.95, top5_overlap: 0.94, mean_kl: 5e-3, max_kl: 0.5, int8_bytes: 1 },
    ];
    const rows = evaluateTargets({ models: [model('distil', 0.8), model('small', 0.9)], targetPreset: 'small', workerRss: null, service: null, agreement });
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(by.peer_ratio_1).toMatchObject({ measured: 0.9, pass: false });
    expect(by.peer_ratio_1?.shown).toContain('distil 0.800');
    expect(by.peer_ratio_decode).toMatchObject({ measured: 0.9, pass: false });
    expect(by.peer_ratio_128).toMatchObject({ measured: 0.9, pass: true });
    expect(by.agreement_top1).toMatchObject({ measured: 0.9885, pass: true });
    expect(by.agreement_kl).toMatchObject({ measured: 4.5e-4, pass: false });
    expect(by.agreement_kl?.source).toContain('ORT-standard 95.00%');
  });
});

describe('markdown cells', () => {
  it('keeps a value in one cell: pipes escaped, line breaks visible', () => {
    expect(cell('a|b\nc')).toBe('a\\|b⏎c');
    expect(quoted('def f():\n    return')).toBe('"def f():\\n    return"');
  });
});

describe('CpuShare', () => {
  it("reads other processes' CPU between two samples as cores (never negative), and null without samples", async () => {
    const cpu = new CpuShare(() => []);
    const a = cpu.sample();
    await new Promise((r) => setTimeout(r, 50));
    const b = cpu.sample();
    const others = cpu.othersCores(a, b);
    expect(others).not.toBeNull();
    expect(others as number).toBeGreaterThanOrEqual(0);
    expect(cpu.othersCores(undefined, b)).toBeNull();
  });
});

describe('soak verdict', () => {
  const MiB = 2 ** 20;
  // Two full minutes at 1 request/s: every answer 10 ms, except minute 2's slowest at 50 ms.
  const samples = (): Sample[] =>
    Array.from({ length: 120 }, (_, i) => ({ i, id: `soak-${i}`, kind: 'predict', measured: true, sentAt: i * 1000, ms: i === 100 ? 50 : 10, status: 200, ok: true, duplicated: false, worker: 'soak-worker-1' }));
  const run = (over: Partial<SoakRun> = {}): SoakRun => ({
    command: 'npm run soak',
    startedAt: new Date('2026-01-01T00:00:00Z'),
    machine: { cpu: 'cpu', cores: 2, flags: [], memory_gb: 1, kernel: 'k', node: 'v20', onnxruntime: '1', load: [0, 0, 0], git: null },
    model: { dir: 'tiny (synthetic, seed 1)', config: { n_layer: 2, n_embd: 64 }, int8_bytes: MiB, synthetic: true },
    settings: { seconds: 120, rate: 1, workers: 1, warmup: 0, maxNewTokens: 8 },
    samples: samples(),
    due: 120,
    sendingMs: 120_000,
    rss: [
      { t: 0, gateway: 100 * MiB, 'worker-1': 500 * MiB },
      { t: 120, gateway: 110 * MiB, 'worker-1': 560 * MiB },
    ],
    cpu: [],
    jobsRun: new Map(),
    exitCodes: { gateway: 0, 'worker-1': 0 },
    workerIds: ['soak-worker-1'],
    logs: '/tmp',
    ...over,
  });
  const share = new CpuShare(() => []);

  it('passes a clean run: within 2× or 25 ms of the best minute, memory under max(64 MiB, 15%)', () => {
    const r = soakResult(run(), share);
    expect(r.verdict).toMatchObject({ ok: true, sent: 120, answered: 120, lost: 0, p99_stable: true, memory_bounded: true });
    expect(r.answers_by_worker).toEqual({ 'soak-worker-1': 120 });
    expect(r.memory.map((m) => [m.process, m.growth_mib, m.bound_mib])).toEqual([
      ['gateway', 10, 64],
      ['worker-1', 60, 75],
    ]);
    expect(soakMarkdown(r)).toContain('# Soak 2026-01-01 00:00 UTC — PASS');
  });

  it('fails on a lost, duplicated or failed request, a job run twice, a drifting p99, memory growth or an unclean exit', () => {
    const fails = [
      run({ samples: samples().slice(1) }),
      run({ samples: samples().map((x) => (x.i === 3 ? { ...x, duplicated: true } : x)) }),
      run({ samples: samples().map((x) => (x.i === 3 ? { ...x, status: 503, ok: false } : x)) }),
      run({ jobsRun: new Map([['soak-3', 2]]) }),
      run({ samples: samples().map((x) => (x.i >= 60 ? { ...x, ms: 80 } : x)) }),
      run({ rss: [{ t: 0, 'worker-1': 100 * MiB }, { t: 120, 'worker-1': 170 * MiB }] }),
      run({ exitCodes: { gateway: 0, 'worker-1': null } }),
    ].map((r) => soakResult(r, share).verdict);
    expect(fails.map((v) => v.ok)).toEqual(fails.map(() => false));
    expect(fails[0]).toMatchObject({ lost: 1 });
    expect(fails[1]).toMatchObject({ duplicated_answers: 1 });
    expect(fails[2]).toMatchObject({ errors: 1 });
    expect(fails[3]).toMatchObject({ jobs_run_twice: 1 });
    expect(fails[4]).toMatchObject({ p99_stable: false, p99_best_minute_ms: 10, p99_worst_minute_ms: 80 });
    expect(fails[5]).toMatchObject({ memory_bounded: false });
  });

  it('checks numeric options against their range', () => {
    expect(numberIn('warmup', undefined, 15, 0, 600)).toBe(15);
    expect(numberIn('warmup', '0', 15, 0, 600)).toBe(0);
    expect(() => numberIn('workers', '2.5', 2, 1, 32, true)).toThrow(/whole number from 1 to 32/);
    expect(() => numberIn('rate', '0', 20, 0.1, 1000)).toThrow(/from 0.1 to 1000/);
  });
});
