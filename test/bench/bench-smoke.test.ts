/**
 * The bench's commands as a user runs them (the built bench/dist programs), on tiny models so
 * they finish in seconds: the outputs must be well-formed — files written, every table and every
 * target row present with a number. No timing is asserted: targets are met in the benchmark itself.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEGACY_PROMPTS, VALIDATION_PROMPTS } from '@gpt2-int8/contract/prompts';
import type { BenchResult } from '../../bench/src/bench-report.js';
import type { CompareResult } from '../../bench/src/compare.js';
import { TARGET_IDS } from '../../bench/src/targets.js';
import { tinyArtifact } from '../support/tiny-artifact.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, script), ...args], { cwd: ROOT, env: { ...process.env, LOG_PRETTY: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;
beforeAll(() => {
  execFileSync('npx', ['tsc', '-b', 'bench', 'services/quantizer', 'services/worker', 'services/gateway', 'scripts'], { cwd: ROOT, stdio: 'pipe' });
  dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-bench-test-'));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);

describe('npm run compare', () => {
  it('prints the five legacy prompts, the validation set, sizes and agreement, and writes the same as JSON', async () => {
    const json = join(dir, 'compare.json');
    const r = await run('bench/dist/compare-cli.js', ['--model-dir', tinyArtifact(), '--reps', '1', '--json', json]);
    expect(r.code, r.stderr).toBe(0);
    for (const heading of ['## The five legacy prompts', '## Validation prompts', '## Sizes', '## Agreement']) expect(r.stdout).toContain(heading);
    expect(r.stdout).toContain('| prompt | FP32 next token | INT8 next token | same? | FP32 ms | INT8 ms | speedup |');
    for (const p of LEGACY_PROMPTS) expect(r.stdout).toContain(JSON.stringify(p));
    expect(r.stdout).toMatch(/synthetic \(random\) weights/);

    const result = JSON.parse(readFileSync(json, 'utf8')) as CompareResult;
    expect(result.legacy.rows.map((x) => x.prompt)).toEqual([...LEGACY_PROMPTS]);
    expect(result.prompt_set.rows.length + result.prompt_set.skipped.length).toBe(VALIDATION_PROMPTS.length);
    for (const row of [...result.legacy.rows, ...result.prompt_set.rows]) {
      expect(finite(row.fp32_ms.median) && finite(row.int8_ms.median) && finite(row.speedup)).toBe(true);
      expect(typeof row.same).toBe('boolean');
    }
    expect(result.sizes.int8_bytes).toBeLessThan(result.sizes.fp32_bytes);
    expect(result.sample_text.positions).toBeGreaterThan(200);
    for (const a of [result.legacy.agreement, result.prompt_set.agreement, result.sample_text]) {
      expect(a.top1_agreement).toBeGreaterThanOrEqual(0);
      expect(a.top1_agreement).toBeLessThanOrEqual(1);
      expect(finite(a.top5_overlap) && finite(a.mean_kl)).toBe(true);
    }
  });

  it('takes the larger prompt set from a file, one prompt per line', async () => {
    const file = join(dir, 'prompts.txt');
    writeFileSync(file, 'The cat sat on the\n\nOnce upon a time\n');
    const r = await run('bench/dist/compare-cli.js', ['--model-dir', tinyArtifact(), '--reps', '1', '--prompts', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`## Prompts from ${file} (2)`);
    expect(r.stdout).toContain('"Once upon a time"');
  });

  it('refuses a bad option with the usage', async () => {
    const r = await run('bench/dist/compare-cli.js', ['--reps', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--reps must be a positive whole number');
    expect(r.stderr).toContain('usage: npm run compare');
  });
});

describe('npm run bench', () => {
  it('--quick on tiny models runs every section and writes results with every target row measured', async () => {
    const out = join(dir, 'results');
    const args = ['--quick', '--presets', 'tiny', '--service-preset', 'tiny', '--duration', '1', '--workers', '1,2', '--concurrency', '1,32', '--generation-presets', 'tiny', '--generation-tokens', '8'];
    const r = await run('bench/dist/bench-cli.js', [...args, '--cache-dir', join(dir, 'cache'), '--out-dir', out, '--name', 'smoke']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, 'smoke.json'))).toBe(true);
    expect(existsSync(join(out, 'smoke.md'))).toBe(true);
    // The progress display: elapsed time and an estimate of what remains.
    expect(r.stderr).toMatch(/\[\d\d:\d\d elapsed · ~\d\d:\d\d left · \d+\/\d+\]/);

    const result = JSON.parse(readFileSync(join(out, 'smoke.json'), 'utf8')) as BenchResult;
    expect(result.model.map((m) => m.preset)).toEqual(['tiny']);
    const m = result.model[0];
    expect(m?.latency.map((l) => l.prompt_tokens)).toEqual([1, 8, 128]);
    expect(finite(m?.decode.peer_ratio) && finite(m?.latency[0]?.peer_ratio)).toBe(true);
    expect(finite(m?.generation.cached_tokens_per_s) && finite(m?.generation.recompute_tokens_per_s)).toBe(true);
    expect(finite(m?.load_ms.fp32.median) && finite(m?.load_ms.int8.median)).toBe(true);
    expect(result.worker_rss?.rss_bytes).toBeGreaterThan(0);
    // Judged on the median of fresh worker processes, each one's figure kept.
    const samples = [...(result.worker_rss?.rss_samples_bytes ?? [])].sort((a, b) => a - b);
    expect(samples).toHaveLength(result.worker_rss?.processes ?? -1);
    expect(result.worker_rss?.rss_bytes).toBe(samples[Math.floor(samples.length / 2)]);
    const groups = result.service?.groups.map((g) => `${g.workers}w/${g.maxBatch}/${g.workload ?? 'predict'}`);
    expect(groups).toEqual(['1w/8/predict', '2w/8/predict', '1w/1/predict', '2w/1/predict', '1w/8/generate', '2w/8/generate']);
    expect(finite(result.service?.scaling?.generate?.ratio)).toBe(true);
    for (const g of result.service?.groups ?? []) {
      for (const run of g.runs) {
        expect(run.ok).toBeGreaterThan(0);
        expect(finite(run.throughput_rps.median) && finite(run.latency_ms.p50) && finite(run.latency_ms.p99)).toBe(true);
        expect(Object.keys(run.cpu_cores).sort()).toEqual(['client', 'gateway', 'redis', 'workers']);
      }
    }

    // Generation: on and off, every concurrency, tokens arriving.
    expect(result.generation?.cells.map((c) => `${c.mode}/${c.concurrency}`)).toEqual(['on/1', 'on/8', 'on/32', 'off/1', 'off/8', 'off/32']);
    for (const c of result.generation?.cells ?? []) {
      expect(c.tokens_per_s, `${c.mode}/${c.concurrency}`).toBeGreaterThan(0);
      expect(finite(c.ttft_ms.p50) && finite(c.itl_ms.p99)).toBe(true);
      expect(c.failed).toBe(0);
    }
    expect(result.targets.map((t) => t.id)).toEqual(TARGET_IDS);
    for (const t of result.targets) {
      expect(finite(t.measured), t.id).toBe(true);
      expect(typeof t.pass, t.id).toBe('boolean');
    }
    // Each step with the CPU other processes used meanwhile (the machine may be shared).
    expect(result.steps.length).toBeGreaterThanOrEqual(6);
    for (const s of result.steps) expect(s.others_cores === null || s.others_cores >= 0).toBe(true);
    const md = readFileSync(join(out, 'smoke.md'), 'utf8');
    expect(md).toContain('## Background load');
    expect(md).toContain('## Generation');
    expect(r.stdout).toBe(md);
    expect(md).toContain('## Targets');
    for (const t of result.targets) expect(md).toMatch(new RegExp(`\\| ${t.what.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\|[^\\n]*\\*\\*(PASS|FAIL)\\*\\*`));
  }, 240_000);
});

describe('npm run bench:variants', () => {
  it('measures every graph variant against its own FP32 model and writes the tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-variants-'));
    try {
      const r = await run('bench/dist/variants-cli.js', ['--preset', 'tiny', '--reps', '1', '--agreement-windows', '2', '--cache-dir', join(dir, 'cache'), '--results-dir', join(dir, 'results')]);
      expect(r.code, r.stderr).toBe(0);
      for (const variant of ['default', 'logits all', 'per-tensor', 'one activation pass', 'int4']) expect(r.stdout).toMatch(new RegExp(`^\\| ${variant} \\| 0\\.\\d{3} \\|`, 'm'));
      const json = JSON.parse(readFileSync(join(dir, 'results', readdirSync(join(dir, 'results')).find((f) => f.endsWith('.json')) as string), 'utf8')) as { rows: unknown[] };
      // The 9 variants of bench/src/variants-cli.ts but 'int8 blocks 128', wider than the tiny preset's 64 channels.
      expect(json.rows).toHaveLength(8);
      expect(r.stdout).toContain('Not run (a block wider than the model\'s 64 channels): int8 blocks 128.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // It quantizes and times ten graphs (nine variants and the ORT-standard peer): 54 s alone on a
    // busy 2-core machine (with one variant fewer), past the 60 s default once the other test files share the cores.
  }, 180_000);
});

describe('npm run bench:decode', () => {
  it('times a decode step under each malloc setting: present.* fed back, logits only, the slot cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-decode-'));
    try {
      const r = await run('bench/dist/decode-cli.js', ['--preset', 'tiny', '--contexts', '4,9', '--reps', '2', '--cache-dir', join(dir, 'cache')]);
      expect(r.code, r.stderr).toBe(0);
      const rows = r.stdout.split('\n').filter((l) => /^\| (glibc default|mmap threshold 256 KiB|workers') /.test(l));
      expect(rows).toHaveLength(6);
      for (const row of rows) expect(row).toMatch(/\| (4|9)( \| \d+\.\d{2} \/ \d+\.\d{2}){3} \|$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('npm run bench:lone', () => {
  it('times sequential predicts with MAX_BATCH=8 and 1 in each round, and their difference', async () => {
    const r = await run('bench/dist/lone-cli.js', ['--model-dir', tinyArtifact(), '--requests', '5', '--rounds', '2']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\| [12] \| (8|1) \|/.test(l));
    expect(rows.map((l) => l.split('|')[2]?.trim())).toEqual(['8', '1', '8', '1']);
    for (const row of rows) expect(row).toMatch(/( \| -?\d+\.\d{2}){4} \|$/);
    expect(r.stdout).toMatch(/MAX_BATCH=8 minus MAX_BATCH=1 in each round: -?\d+\.\d{2}, -?\d+\.\d{2} ms \(mean -?\d+\.\d{2}\)/);
  }, 120_000);

  it('--through-start: starts the product as npm start does, times paced and back-to-back predicts, counts Redis commands', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'bench-lone-start-'));
    try {
      const r = await run('bench/dist/lone-cli.js', ['--through-start', '--preset', 'tiny', '--cache-dir', cache, '--requests', '4', '--workers', '1', '--redis-commands']);
      expect(r.code, r.stderr).toBe(0);
      const rows = r.stdout.split('\n').filter((l) => /^\| (after 200 ms idle|back to back|all) \|/.test(l));
      expect(rows).toHaveLength(3);
      for (const row of rows) expect(row).toMatch(/ \| [24]( \| -?\d+\.\d{2}){6} \|$/);
      expect(r.stdout).toMatch(/client p50 − inference p50 after 200 ms idle: -?\d+\.\d{2} ms/);
      expect(r.stdout).toMatch(/GET \/healthz from the same client paced the same way: client p50 \d+\.\d{2} ms/);
      const cpu = /CPU time per predict, ms .*: (.*)/.exec(r.stdout)?.[1] ?? '';
      for (const role of ['gateway', 'worker', 'redis-server', 'client']) expect(cpu).toMatch(new RegExp(`${role}[^,]* \\d+\\.\\d{2}`));
      expect(r.stdout).toMatch(/Redis commands per predict over 4 more .*: \d+\.\d/);
      expect(r.stdout).toMatch(/^\| EVALSHA \| \d+\.\d \|$/m);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('npm run bench:memory', () => {
  it("reports the quantizer's peak and a worker's and the gateway's memory at each step", async () => {
    const cache = mkdtempSync(join(tmpdir(), 'bench-memory-'));
    try {
      const r = await run('bench/dist/memory-cli.js', ['--preset', 'tiny', '--rounds', '1', '--cache-dir', cache]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Quantizer peak resident memory \(VmHWM\), quantizing the checkpoint as the quantizer job does: \*\*\d+\.\d MB\*\*/);
      const rows = r.stdout.split('\n').filter((l) => /^\| 1 \|/.test(l));
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatch(/^\| 1( \| \d+\.\d){6} \|$/);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 120_000);
});
