#!/usr/bin/env node
/**
 * npm run compare -- [--model-dir DIR] [--prompts FILE] [--json FILE] [--reps N] [--threads N]
 * Markdown to stdout, progress and notes to stderr.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { VALIDATION_PROMPTS } from '@gpt2-int8/contract/prompts';
import { ensureStudentArtifact, ensureSyntheticArtifact } from './artifacts.js';
import { positiveInt, runMain, UsageError } from './cli-args.js';
import { compareMarkdown, runCompare } from './compare.js';
import { DEFAULT_CACHE_DIR, DEFAULT_STUDENT_DIR } from './paths.js';

const USAGE = `usage: npm run compare -- [options]
  --model-dir DIR   an artifact directory (model.fp32.onnx, model.int8.onnx, manifest.json);
                    default: the trained student-tiny (${DEFAULT_STUDENT_DIR}) quantized into the bench cache
  --prompts FILE    the larger prompt set, one prompt per line (default: the built-in validation prompts)
  --json FILE       also write the full result as JSON
  --reps N          timed runs per prompt and model (default 10; medians, FP32 and INT8 interleaved)
  --threads N       intra-op threads per session (default 1)
  --student DIR     where the student-tiny checkpoint is (default above)
  --cache-dir DIR   where built models are kept (default bench/.cache)
  --rebuild         re-quantize the cached artifact even if it looks up to date`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      'model-dir': { type: 'string' },
      prompts: { type: 'string' },
      json: { type: 'string' },
      reps: { type: 'string' },
      threads: { type: 'string' },
      student: { type: 'string' },
      'cache-dir': { type: 'string' },
      rebuild: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const reps = positiveInt('reps', values.reps, 10);
  const threads = positiveInt('threads', values.threads, 1);
  const cacheDir = resolve(values['cache-dir'] ?? DEFAULT_CACHE_DIR);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const notes: string[] = [];

  let modelDir: string;
  let modelLabel: string;
  if (values['model-dir']) {
    modelDir = resolve(values['model-dir']);
    modelLabel = modelDir;
  } else {
    const studentDir = resolve(values.student ?? DEFAULT_STUDENT_DIR);
    const student = await ensureStudentArtifact(studentDir, { cacheDir, rebuild: values.rebuild, log });
    if (student) {
      modelDir = student;
      modelLabel = 'student-tiny (trained weights)';
    } else {
      const absent = `the trained student-tiny checkpoint is absent (${studentDir}); falling back to a synthetic distil model, whose random weights make the agreement figures meaningless.`;
      log(`NOTE: ${absent}`);
      notes.push(absent);
      modelDir = await ensureSyntheticArtifact('distil', 1, { cacheDir, rebuild: values.rebuild, log });
      modelLabel = 'synthetic distil (random weights)';
    }
  }

  let prompts: readonly string[] = VALIDATION_PROMPTS;
  let promptsLabel = 'validation prompts';
  if (values.prompts) {
    const text = await readFile(resolve(values.prompts), 'utf8').catch((err: Error) => {
      throw new UsageError(`--prompts: cannot read ${values.prompts}: ${err.message}`);
    });
    prompts = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    if (prompts.length === 0) throw new UsageError(`--prompts: ${values.prompts} has no non-empty lines`);
    promptsLabel = `prompts from ${values.prompts}`;
  }

  const tty = process.stderr.isTTY === true;
  const result = await runCompare({
    modelDir,
    modelLabel,
    prompts,
    promptsLabel,
    reps,
    warmups: 1,
    threads,
    notes,
    onProgress: (done, total) => {
      if (tty) process.stderr.write(`\r\x1b[2Kmeasuring prompt ${done}/${total}`);
      if (tty && done === total) process.stderr.write('\r\x1b[2K');
    },
  });
  process.stdout.write(compareMarkdown(result));
  if (values.json) {
    const path = resolve(values.json);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
    log(`wrote ${path}`);
  }
}

runMain(main, USAGE);
