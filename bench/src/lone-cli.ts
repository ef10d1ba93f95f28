#!/usr/bin/env node
/**
 * npm run bench:lone -- [--requests N] [--rounds N] [--preset distil|small|tiny | --model-dir DIR] [--cache-dir DIR]
 * npm run bench:lone -- --through-start [--requests N] [--workers N] [--log-level L] [--redis-commands] [--preset P] [--cache-dir DIR]
 *
 * With --through-start, a lone predict's overhead through `npm start` itself (lone-start.ts).
 * Otherwise, the target "a lone request must not get measurably slower" with micro-batching on
 * (docs/performance.md): one worker behind a real gateway and a private redis-server, `--requests`
 * sequential predicts (after 100 warm-ups) with MAX_BATCH=8 and with MAX_BATCH=1, alternating over
 * `--rounds`. Per run: the medians of the client's time, of the gateway's total and of the worker's
 * inference, and the gateway's total minus inference — what the queue adds, without the HTTP of the
 * client, which is what makes autocannon's figure too noisy here to resolve a few tenths of a
 * millisecond.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { LEGACY_PROMPTS } from '@gpt2-int8/contract/prompts';
import { ensureSyntheticArtifact, syntheticPaths } from './artifacts.js';
import { positiveInt, runMain, UsageError } from './cli-args.js';
import { loadAverage, machineInfo, machineMarkdown } from './machine.js';
import { predict } from './load.js';
import { throughStart } from './lone-start.js';
import { fixed, table } from './markdown.js';
import { DEFAULT_CACHE_DIR } from './paths.js';
import { startGroup, startRedis } from './processes.js';
import { summarize } from './summary.js';

const USAGE = [
  'usage: npm run bench:lone -- [--requests N] [--rounds N] [--preset distil|small|tiny | --model-dir DIR] [--cache-dir DIR]',
  '       npm run bench:lone -- --through-start [--requests N (200)] [--workers N (2)] [--log-level L (warn)] [--redis-commands] [--preset P (tiny)] [--cache-dir DIR]',
].join('\n');
const WARMUPS = 100;
const BATCH_SETTINGS = [8, 1] as const;

interface Run {
  maxBatch: number;
  round: number;
  client_ms: number;
  gateway_ms: number;
  inference_ms: number;
}

async function sequentialPredicts(url: string, count: number): Promise<{ client: number[]; gateway: number[]; inference: number[] }> {
  const out = { client: [] as number[], gateway: [] as number[], inference: [] as number[] };
  for (let i = 0; i < WARMUPS + count; i++) {
    const started = performance.now();
    const body = await predict(url, LEGACY_PROMPTS[i % LEGACY_PROMPTS.length] as string);
    const elapsed = performance.now() - started;
    if (i < WARMUPS) continue;
    out.client.push(elapsed);
    out.gateway.push(body.timings_ms.total);
    out.inference.push(body.timings_ms.inference);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' },
      rounds: { type: 'string' },
      preset: { type: 'string' },
      'model-dir': { type: 'string' },
      'cache-dir': { type: 'string' },
      'through-start': { type: 'boolean' },
      workers: { type: 'string' },
      'log-level': { type: 'string' },
      'redis-commands': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const through = values['through-start'] === true;
  const requests = positiveInt('requests', values.requests, through ? 200 : 1500);
  const rounds = positiveInt('rounds', values.rounds, 3);
  const preset = values.preset ?? (through ? 'tiny' : 'distil');
  if (!['distil', 'small', 'tiny'].includes(preset)) throw new UsageError(`--preset must be distil, small or tiny, got ${preset}`);
  const cacheDir = values['cache-dir'] ?? DEFAULT_CACHE_DIR;
  if (through) {
    // npm start quantizes MODEL_SOURCE into MODEL_DIR itself: it gets the checkpoint, not an artifact.
    if (values['model-dir'] !== undefined || values.rounds !== undefined) throw new UsageError('--through-start takes --preset, not --model-dir, and no --rounds');
    await ensureSyntheticArtifact(preset, 1, { cacheDir, log: (l) => process.stderr.write(`${l}\n`) });
    const { checkpoint, artifact } = syntheticPaths(preset, 1, cacheDir);
    const workers = positiveInt('workers', values.workers, 2);
    const logLevel = values['log-level'] ?? 'warn';
    const machine = machineInfo();
    const report = await throughStart({ modelSource: checkpoint, modelDir: artifact, workers, requests, logLevel, redisCommands: values['redis-commands'] === true });
    process.stdout.write(
      [
        `# A lone predict through npm start: the synthetic ${preset} INT8 artifact, WORKERS=${workers}, LOG_LEVEL=${logLevel}`,
        '',
        machineMarkdown(machine),
        `- load average at the end (1/5/15 min): ${loadAverage().join(' / ')}`,
        '',
        report,
      ].join('\n'),
    );
    return;
  }
  const modelDir = values['model-dir'] ?? (await ensureSyntheticArtifact(preset, 1, { cacheDir, log: (l) => process.stderr.write(`${l}\n`) }));
  const redis = await startRedis();
  const runs: Run[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const maxBatch of BATCH_SETTINGS) {
        process.stderr.write(`round ${round}/${rounds}: MAX_BATCH=${maxBatch}, ${requests} sequential predicts\n`);
        const group = await startGroup({ redisUrl: redis.url, modelDir, workers: 1, maxBatch, queueName: `bench-lone-${randomUUID().slice(0, 8)}` });
        try {
          const t = await sequentialPredicts(group.url, requests);
          runs.push({ maxBatch, round, client_ms: summarize(t.client).median, gateway_ms: summarize(t.gateway).median, inference_ms: summarize(t.inference).median });
        } finally {
          await group.stop();
        }
      }
    }
  } finally {
    await redis.stop();
  }
  const rows = runs.map((r) => [String(r.round), String(r.maxBatch), fixed(r.client_ms), fixed(r.gateway_ms), fixed(r.inference_ms), fixed(r.gateway_ms - r.inference_ms)]);
  const added = (maxBatch: number) => runs.filter((r) => r.maxBatch === maxBatch).map((r) => r.gateway_ms - r.inference_ms);
  const pairs = added(8).map((a, i) => a - (added(1)[i] as number));
  process.stdout.write(
    [
      `# A lone request with and without micro-batching, 1 worker on ${values['model-dir'] ?? `the synthetic ${preset} INT8 artifact`}`,
      '',
      machineMarkdown(machineInfo()),
      '',
      `${requests} sequential predicts per run after ${WARMUPS} warm-ups, the five legacy prompts in turn; medians, ms.`,
      '',
      table(['round', 'MAX_BATCH', 'client', 'gateway total', 'worker inference', 'gateway total − inference'], rows, ['r', 'r', 'r', 'r', 'r', 'r']),
      '',
      `Gateway total − inference, MAX_BATCH=8 minus MAX_BATCH=1 in each round: ${pairs.map((d) => fixed(d)).join(', ')} ms (mean ${fixed(pairs.reduce((s, d) => s + d, 0) / pairs.length)}).`,
      '',
    ].join('\n'),
  );
}

runMain(main, USAGE);
