#!/usr/bin/env node
/**
 * npm run bench:decode -- [--preset small|distil|tiny] [--contexts 127,511] [--reps N] [--cache-dir DIR]
 *
 * What one KV-cache decode step costs (INT8, batch 1, 1 thread) under three glibc malloc settings
 * — glibc's default, a 256 KiB mmap threshold, and the workers' own (shared/contract/src/worker-process.ts)
 * — each measured three ways: the grown cache in a fresh buffer fed back as the next past
 * (Gpt2Session.step: optimum's way, or the new positions appended to a copy of the past), fetching
 * the logits only (what the model itself costs), and the worker's slot cache
 * (shared/runtime/src/kv-decoder.ts: the new positions written into its own buffers). The gap
 * between the first two columns is that copy, and the allocator decides whether each fresh buffer
 * is page-faulted in anew. Each setting runs in its own process (glibc reads its
 * tunables at start-up), settings interleaved over two rounds.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Gpt2Session, type KvCache } from '@gpt2-int8/runtime/gpt2-session';
import { startDecoding } from '@gpt2-int8/runtime/kv-decoder';
import { ARTIFACT_FILES, readManifest } from '@gpt2-int8/contract/manifest';
import { Rng } from '@gpt2-int8/runtime/prng';
import { WORKER_PROCESS_ENV } from '@gpt2-int8/contract/worker-process';
import { ensureSyntheticArtifact, runNodeScript } from './artifacts.js';
import { intList, positiveInt, runMain, UsageError } from './cli-args.js';
import { machineInfo, machineMarkdown } from './machine.js';
import { fixed, table } from './markdown.js';
import { DEFAULT_CACHE_DIR } from './paths.js';
import { summarize } from './summary.js';

const USAGE = 'usage: npm run bench:decode -- [--preset small|distil|tiny] [--contexts 127,511] [--reps N] [--cache-dir DIR]';
const SETTINGS: Record<string, string | undefined> = {
  'glibc default': undefined,
  'mmap threshold 256 KiB': 'glibc.malloc.mmap_threshold=262144',
  [`workers' (${WORKER_PROCESS_ENV.GLIBC_TUNABLES.replace('glibc.malloc.', '')})`]: WORKER_PROCESS_ENV.GLIBC_TUNABLES,
};

interface ChildResult {
  context: number;
  all_outputs_ms: number;
  logits_only_ms: number;
  /** The worker's way (shared/runtime/src/kv-decoder.ts): the cache in slot buffers, new positions fetched. */
  slot_cache_ms: number;
}

/** In the child: median step times at each context, over `reps` steps after warm-ups. */
async function measure(artifact: string, contexts: number[], reps: number): Promise<ChildResult[]> {
  const manifest = await readManifest(artifact);
  const session = await Gpt2Session.load(join(artifact, ARTIFACT_FILES.int8), manifest.config, { threads: 1 });
  const { n_layer, n_head, n_embd } = manifest.config;
  const rng = new Rng(1);
  const results: ChildResult[] = [];
  for (const context of contexts) {
    const tensor = () => new ort.Tensor('float32', Float32Array.from({ length: n_head * context * (n_embd / n_head) }, () => rng.normal() * 0.5), [1, n_head, context, n_embd / n_head]);
    const cache: KvCache = { keys: Array.from({ length: n_layer }, tensor), values: Array.from({ length: n_layer }, tensor), length: context };
    const input = { inputIds: [[464]], attentionMask: [Array<number>(context + 1).fill(1)] };
    const all: number[] = [];
    const logitsOnly: number[] = [];
    for (let i = 0; i < reps + 3; i++) {
      let t = performance.now();
      await session.step(input, cache);
      if (i >= 3) all.push(performance.now() - t);
      t = performance.now();
      await session.run(input, cache);
      if (i >= 3) logitsOnly.push(performance.now() - t);
    }
    // The worker's way, from a prompt of `context` tokens (the cache then grows by one a step).
    const decoding = await startDecoding(session, Array.from({ length: context }, (_, i) => (i * 131 + 7) % manifest.config.vocab_size));
    const slots: number[] = [];
    for (let i = 0; i < reps + 3; i++) {
      const t = performance.now();
      await decoding.next(464);
      if (i >= 3) slots.push(performance.now() - t);
    }
    results.push({ context, all_outputs_ms: summarize(all).median, logits_only_ms: summarize(logitsOnly).median, slot_cache_ms: summarize(slots).median });
  }
  await session.release();
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { preset: { type: 'string' }, contexts: { type: 'string' }, reps: { type: 'string' }, 'cache-dir': { type: 'string' }, child: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const contexts = intList('contexts', values.contexts, [127, 511]);
  const reps = positiveInt('reps', values.reps, 20);
  if (values.child !== undefined) {
    process.stdout.write(`${JSON.stringify(await measure(values.child, contexts, reps))}\n`);
    return;
  }
  const preset = values.preset ?? 'small';
  if (!['tiny', 'distil', 'small'].includes(preset)) throw new UsageError(`--preset must be tiny, distil or small, got "${preset}"`);
  const artifact = await ensureSyntheticArtifact(preset, 1, { cacheDir: values['cache-dir'] ?? DEFAULT_CACHE_DIR, log: (l) => process.stderr.write(`${l}\n`) });
  const runs = new Map<string, ChildResult[][]>(Object.keys(SETTINGS).map((k) => [k, []]));
  for (let round = 0; round < 2; round++) {
    for (const [name, tunables] of Object.entries(SETTINGS)) {
      process.stderr.write(`round ${round + 1}/2: ${name}\n`);
      const env = { ...process.env };
      delete env.GLIBC_TUNABLES;
      if (tunables !== undefined) env.GLIBC_TUNABLES = tunables;
      const out = await runNodeScript(process.argv[1] as string, ['--child', artifact, '--contexts', contexts.join(','), '--reps', String(reps)], env);
      runs.get(name)?.push(JSON.parse(out.trim()) as ChildResult[]);
    }
  }
  const rows = [...runs].flatMap(([name, rounds]) =>
    contexts.map((context, i) => {
      const pick = (k: 'all_outputs_ms' | 'logits_only_ms' | 'slot_cache_ms') => rounds.map((r) => fixed(r[i]?.[k] ?? Number.NaN)).join(' / ');
      return [name, String(context), pick('all_outputs_ms'), pick('logits_only_ms'), pick('slot_cache_ms')];
    }),
  );
  const machine = machineInfo();
  process.stdout.write(
    [
      `# One KV-cache decode step, ${preset} INT8, batch 1, 1 thread`,
      '',
      machineMarkdown(machine),
      '',
      `Median of ${reps} steps per cell, one cell per round (round 1 / round 2).`,
      '',
      table(['malloc setting', 'cached positions', 'grown cache fed back ms', 'logits only ms', 'slot cache (the worker) ms'], rows, ['l', 'r', 'r', 'r', 'r']),
      '',
    ].join('\n'),
  );
}

runMain(main, USAGE);
