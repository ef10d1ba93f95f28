/** Parsing of the `infer` command line (pure, so the usage errors are tested). */
import { parseArgs } from 'node:util';
import { LIMITS } from '@gpt2-int8/contract/api';

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

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  'model-dir': { type: 'string' },
  'top-k': { type: 'string' },
  runs: { type: 'string' },
  threads: { type: 'string' },
} as const;

export function parseInferArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): ParsedArgs {
  // Not strict, so an unknown option or a missing value is worded here, as a usage error.
  const { values, positionals, tokens } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (!(t.name in OPTIONS)) throw new UsageError(`unknown option ${t.rawName}`);
    if (OPTIONS[t.name as keyof typeof OPTIONS].type === 'string' && (t.value === undefined || t.value === '')) {
      throw new UsageError(t.name === 'model-dir' ? '--model-dir needs a directory' : `${t.rawName} needs a value`);
    }
  }
  if (values.help === true) return { help: true };
  const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);
  const envThreads = env.WORKER_THREADS?.trim();
  const threadsRaw = str(values.threads);
  // `npm run infer -- Artificial intelligence is` (unquoted) means the same as the quoted prompt.
  const prompt = positionals.join(' ');
  const args: InferArgs = {
    prompt,
    modelDir: str(values['model-dir']) ?? (env.MODEL_DIR?.trim() || 'models/current'),
    topK: values['top-k'] === undefined ? LIMITS.topK.default : intOption('--top-k', str(values['top-k']), LIMITS.topK.min, LIMITS.topK.max),
    threads: threadsRaw !== undefined ? intOption('--threads', threadsRaw, 1, 256) : envThreads ? intOption('WORKER_THREADS', envThreads, 1, 256) : 1,
    runs: values.runs === undefined ? 5 : intOption('--runs', str(values.runs), 1, 1000),
    json: values.json === true,
  };
  if (prompt.trim() === '') throw new UsageError('give a prompt, e.g. npm run infer -- "Artificial intelligence is"');
  return { help: false, args };
}
