#!/usr/bin/env node
/**
 * npm run bench:memory -- [--preset distil|small|tiny | --model-dir DIR] [--rounds N] [--cache-dir DIR]
 *
 * What to give each process in a deployment (docs/scaling-out.md, deploy/k8s): the quantizer's peak
 * resident memory quantizing the preset's synthetic checkpoint, as the quantizer Job runs it; then,
 * over `--rounds` fresh processes, one worker's resident memory behind a real gateway and a private
 * redis-server as it serves more — loaded, after 10 short predicts, after 16 concurrent 64-token
 * generations of ~100-token prompts (micro-batched), after a compare (the FP32 graph loaded) — and
 * the gateway's.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureSyntheticArtifact } from './artifacts.js';
import { positiveInt, runMain, UsageError } from './cli-args.js';
import { machineInfo, machineMarkdown } from './machine.js';
import { fixed, table } from './markdown.js';
import { DEFAULT_CACHE_DIR, QUANTIZER_CLI, ROOT } from './paths.js';
import { processMemory, startGroup, startRedis } from './processes.js';

const USAGE = 'usage: npm run bench:memory -- [--preset distil|small|tiny | --model-dir DIR] [--rounds N] [--cache-dir DIR]';
const STAGES = ['loaded', '10 predicts', '16 concurrent generations', 'a compare (FP32 loaded)'] as const;
const MB = 1e6;

/** Runs the quantizer to its end, reading its peak resident memory (VmHWM) while it runs. */
function quantizerPeak(checkpoint: string, out: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [QUANTIZER_CLI, 'quantize', '--model', checkpoint, '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let peak = 0;
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const sample = () => {
      try {
        // An exited process not yet reaped has a status file without memory lines (NaN).
        const { hwm } = processMemory(child.pid as number);
        if (Number.isFinite(hwm)) peak = Math.max(peak, hwm);
      } catch {
        // gone between two samples
      }
    };
    const timer = setInterval(sample, 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code === 0) resolve(peak);
      else reject(new Error(`the quantizer failed (exit ${code}):\n${err}`));
    });
  });
}

async function post(url: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { preset: { type: 'string' }, 'model-dir': { type: 'string' }, rounds: { type: 'string' }, 'cache-dir': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const rounds = positiveInt('rounds', values.rounds, 3);
  const preset = values.preset ?? 'distil';
  if (!['distil', 'small', 'tiny'].includes(preset)) throw new UsageError(`--preset must be distil, small or tiny, got ${preset}`);
  const cacheDir = values['cache-dir'] ?? DEFAULT_CACHE_DIR;
  let modelDir = values['model-dir'];
  let quantizer: number | undefined;
  if (modelDir === undefined) {
    modelDir = await ensureSyntheticArtifact(preset, 1, { cacheDir, log: (l) => process.stderr.write(`${l}\n`) });
    const scratch = mkdtempSync(join(tmpdir(), 'bench-memory-'));
    try {
      process.stderr.write(`quantizing the synthetic ${preset} checkpoint again, for the quantizer's peak\n`);
      quantizer = await quantizerPeak(join(cacheDir, `synthetic-${preset}-seed1`, 'checkpoint'), join(scratch, 'current'));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  const redis = await startRedis();
  const rows: string[][] = [];
  const results: { round: number; worker: Record<string, { rss: number; hwm: number }>; gateway: number }[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`round ${round}/${rounds}\n`);
      const group = await startGroup({ redisUrl: redis.url, modelDir, workers: 1, maxBatch: 8, queueName: `bench-memory-${randomUUID().slice(0, 8)}`, workerEnv: () => ({ COMPARE_FP32: 'true' }), gatewayEnv: { REQUEST_TIMEOUT_MS: '300000' } });
      const pid = group.workerPids[0] as number;
      const worker: Record<string, { rss: number; hwm: number }> = {};
      try {
        worker[STAGES[0]] = processMemory(pid);
        for (let i = 0; i < 10; i++) await post(group.url, '/api/predict', { prompt: `The sky is ${i}` });
        worker[STAGES[1]] = processMemory(pid);
        const story = (i: number) => `Once upon a time there was a long story number ${i} `.repeat(8);
        await Promise.all(Array.from({ length: 16 }, (_, i) => post(group.url, '/api/generate', { prompt: story(i), max_new_tokens: 64, temperature: 1, seed: i })));
        worker[STAGES[2]] = processMemory(pid);
        await post(group.url, '/api/compare', { prompt: 'Artificial intelligence is' });
        worker[STAGES[3]] = processMemory(pid);
        const gateway = processMemory(group.gatewayPid).rss;
        results.push({ round, worker, gateway });
        rows.push([String(round), ...STAGES.map((s) => fixed((worker[s]?.rss ?? NaN) / MB, 1)), fixed(Math.max(...Object.values(worker).map((m) => m.hwm)) / MB, 1), fixed(gateway / MB, 1)]);
      } finally {
        await group.stop();
      }
    }
  } finally {
    await redis.stop();
  }
  process.stdout.write(
    [
      `# Memory: the quantizer, a worker and the gateway on ${values['model-dir'] ?? `the synthetic ${preset} INT8 artifact`}`,
      '',
      machineMarkdown(machineInfo()),
      '',
      quantizer === undefined ? 'Quantizer: not measured (--model-dir).' : `Quantizer peak resident memory (VmHWM), quantizing the checkpoint as the quantizer job does: **${fixed(quantizer / MB, 1)} MB**.`,
      '',
      `One worker (MAX_BATCH=8, COMPARE_FP32=true) and the gateway (REQUEST_TIMEOUT_MS=300000: 16 generations at once on GPT-2 small take a while), ${rounds} fresh processes; resident memory (VmRSS) in MB after each step, and the worker's peak (VmHWM).`,
      '',
      table(['round', ...STAGES.map((s) => `worker: ${s}`), 'worker peak', 'gateway'], rows, ['r', 'r', 'r', 'r', 'r', 'r', 'r']),
      '',
    ].join('\n'),
  );
  process.stderr.write(`${JSON.stringify({ preset: values['model-dir'] ?? preset, quantizer_peak_bytes: quantizer, rounds: results })}\n`);
}

runMain(main, USAGE);
