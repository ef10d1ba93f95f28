/** The bench's pure pieces: interleaving, the progress estimate, the service plan, the targets. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CpuShare } from '../../bench/src/cpu-share.js';
import { cell, quoted } from '../../bench/src/markdown.js';
import { clock, Progress } from '../../bench/src/progress.js';
import { planGroups, type ServiceSettings } from '../../bench/src/service-bench.js';
import { interleaved, summarize } from '../../bench/src/summary.js';
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
