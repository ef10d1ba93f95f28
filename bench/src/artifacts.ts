/**
 * The models a benchmark runs on, built through the quantizer's own command line into the bench
 * cache (bench/.cache): a synthetic checkpoint per preset, then its artifact. Both steps are skipped
 * when their output is already there, so only the first run pays for them; `rebuild` re-quantizes
 * (e.g. after the quantizer changed without a version bump).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { QUANTIZER_CLI, ROOT } from './paths.js';

export interface EnsureOptions {
  cacheDir: string;
  rebuild?: boolean;
  /** Called with a short line when something is actually built (not when reused). */
  log?: (line: string) => void;
}

/** Runs a Node program of this repository to its end; resolves with its stdout, rejects with the tail of its stderr. */
export function runNodeScript(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${script} ${args[0] ?? ''} failed (exit ${code}):\n${err.slice(-2000)}`));
    });
  });
}

export function runQuantizer(args: string[]): Promise<string> {
  return runNodeScript(QUANTIZER_CLI, args);
}

/** Quantizes `model` (an HF directory) into `outDir`, with the quantizer's `options`, unless an up-to-date artifact is there. */
export async function ensureQuantized(model: string, outDir: string, opts: EnsureOptions, options: readonly string[] = []): Promise<string> {
  const args = ['quantize', '--model', model, '--out', outDir, '--report-reps', '1', ...options, ...(opts.rebuild ? ['--force'] : [])];
  const out = await runQuantizer(args);
  const summary = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { reused?: boolean };
  if (summary.reused === false) opts.log?.(`quantized ${model} → ${outDir}`);
  return outDir;
}

/** Where the seeded synthetic checkpoint of `preset` and its artifact are kept in the cache. */
export function syntheticPaths(preset: string, seed: number, cacheDir: string): { checkpoint: string; artifact: string } {
  const base = join(cacheDir, `synthetic-${preset}-seed${seed}`);
  return { checkpoint: join(base, 'checkpoint'), artifact: join(base, 'artifact') };
}

/** The artifact of a seeded synthetic checkpoint of `preset`: random weights, true shapes. */
export async function ensureSyntheticArtifact(preset: string, seed: number, opts: EnsureOptions): Promise<string> {
  const { checkpoint, artifact } = syntheticPaths(preset, seed, opts.cacheDir);
  if (!existsSync(join(checkpoint, 'config.json'))) {
    opts.log?.(`building a synthetic ${preset} checkpoint (first run only)`);
    await runQuantizer(['make-model', '--preset', preset, '--seed', String(seed), '--out', checkpoint]);
  }
  return ensureQuantized(checkpoint, artifact, opts);
}

/** The artifact of the trained student-tiny checkpoint, or undefined when it is absent. */
export async function ensureStudentArtifact(studentDir: string, opts: EnsureOptions): Promise<string | undefined> {
  if (!existsSync(join(studentDir, 'config.json'))) return undefined;
  return ensureQuantized(studentDir, join(opts.cacheDir, 'student-tiny', 'artifact'), opts);
}

/**
 * The peer of an artifact: its own model.fp32.onnx quantized as onnxruntime's `quantize_dynamic`
 * does by default (the quantizer's `ort-standard` command), kept beside the artifact and rebuilt
 * when the FP32 model it came from changes. Returns the model's path.
 */
export async function ensureOrtStandard(artifactDir: string, opts: EnsureOptions): Promise<string> {
  const dir = join(artifactDir, '..', 'ort-standard');
  const model = join(dir, 'model.int8.onnx');
  const stampFile = join(dir, 'source.json');
  const manifest = await readManifest(artifactDir);
  const stamp = JSON.stringify({ fp32_sha256: manifest.files['model.fp32.onnx'].sha256 });
  const current = await readFile(stampFile, 'utf8').catch(() => '');
  if (current === stamp && existsSync(model) && !opts.rebuild) return model;
  opts.log?.(`building the ORT-standard peer of ${artifactDir}`);
  await runQuantizer(['ort-standard', '--in', join(artifactDir, 'model.fp32.onnx'), '--out', model]);
  await writeFile(stampFile, stamp);
  return model;
}
