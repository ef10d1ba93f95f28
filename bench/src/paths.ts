/** Where the bench finds the repository's built programs, its model cache and its results. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/dist/paths.js sits two levels below it). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const QUANTIZER_CLI = join(ROOT, 'services/quantizer/dist/cli.js');
export const GATEWAY_MAIN = join(ROOT, 'services/gateway/dist/main.js');
export const WORKER_MAIN = join(ROOT, 'services/worker/dist/main.js');
export const START_MAIN = join(ROOT, 'scripts/dist/start.js');

/** Models built for benchmarks (gitignored): built once, reused by every later run. */
export const DEFAULT_CACHE_DIR = join(ROOT, 'bench/.cache');
export const DEFAULT_RESULTS_DIR = join(ROOT, 'bench/results');

/** The small trained GPT-2 kept beside the repository (not in it), for agreement on real text. */
export const DEFAULT_STUDENT_DIR = join(ROOT, '..', 'shared', 'models', 'student-tiny');
