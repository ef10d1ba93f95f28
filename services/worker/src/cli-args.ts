/** Parsing of the `infer` command line (pure, so the usage errors are tested). */
import { LIMITS } from '@gpt2-int8/shared/api';

export interface InferArgs {
  prompt: string;
  modelDir: string;
  topK: number;
  threads: number;
  /** Timed runs after the first (the latency printed is their median). */
  runs: number;
  json: boolean;
}

export type ParsedArgs = { help: true } | { help: false; args: InferArgs };

export const INFER_USAGE = `Usage: npm run infer -- [options] "<prompt>"

Loads the INT8 model from the artifact directory (no Redis, no gateway) and prints the predicted
next token, the top-k tokens with probabilities, and the latency.

Options:
  --model-dir DIR   artifact directory (default: $MODEL_DIR, else models/current)
  --top-k N         how many most likely tokens to list (${LIMITS.topK.min}-${LIMITS.topK.max}, default ${LIMITS.topK.default})
  --threads N       ONNX Runtime intra-op threads (default: $WORKER_THREADS, else 1)
  --runs N          timed runs after a first warm-up run; the median is printed (default 5)
  --json            one JSON object on stdout, for scripts
  -h, --help        this help
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

function intOption(name: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined) throw new UsageError(`${name} needs a value`);
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseInferArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): ParsedArgs {
  const words: string[] = [];
  let modelDir = env.MODEL_DIR?.trim() || 'models/current';
  let topK: number = LIMITS.topK.default;
  let threads = env.WORKER_THREADS?.trim() ? intOption('WORKER_THREADS', env.WORKER_THREADS.trim(), 1, 256) : 1;
  let runs = 5;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '-h':
      case '--help':
        return { help: true };
      case '--json':
        json = true;
        break;
      case '--model-dir': {
        const v = value();
        if (v === undefined || v === '') throw new UsageError('--model-dir needs a directory');
        modelDir = v;
        break;
      }
      case '--top-k':
        topK = intOption('--top-k', value(), LIMITS.topK.min, LIMITS.topK.max);
        break;
      case '--runs':
        runs = intOption('--runs', value(), 1, 1000);
        break;
      case '--threads':
        threads = intOption('--threads', value(), 1, 256);
        break;
      case '--':
        words.push(...argv.slice(i + 1));
        i = argv.length;
        break;
      default:
        if (a.startsWith('-') && a.length > 1) throw new UsageError(`unknown option ${a}`);
        words.push(a);
    }
  }
  // `npm run infer -- Artificial intelligence is` (unquoted) means the same as the quoted prompt.
  const prompt = words.join(' ');
  if (prompt.trim() === '') throw new UsageError('give a prompt, e.g. npm run infer -- "Artificial intelligence is"');
  return { help: false, args: { prompt, modelDir, topK, threads, runs, json } };
}
