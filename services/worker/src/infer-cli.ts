#!/usr/bin/env node
/**
 * `npm run infer -- "Artificial intelligence is"`: the next token of a prompt from the INT8 artifact,
 * with the top-k and the latency; `--json` for scripts. Exit 0 on success, 1 when the model or the
 * prompt cannot be used (with the reason), 2 on a usage error.
 */
import { ArtifactError } from '@gpt2-int8/contract/manifest';
import { INFER_USAGE, parseInferArgs, UsageError } from './cli-args.js';
import { ClientError } from './client-error.js';
import { formatInferResult, infer } from './infer.js';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseInferArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`infer: ${err.message}\n\n${INFER_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(INFER_USAGE);
    return 0;
  }
  const { args } = parsed;
  try {
    const result = await infer(args);
    process.stdout.write(args.json ? `${JSON.stringify(result)}\n` : formatInferResult(result));
    return 0;
  } catch (err) {
    if (err instanceof ArtifactError || err instanceof ClientError) {
      const code = err instanceof ClientError ? `${err.code}: ` : '';
      if (args.json) process.stdout.write(`${JSON.stringify({ error: { code: err instanceof ClientError ? err.code : 'MODEL_UNAVAILABLE', message: err.message } })}\n`);
      process.stderr.write(`infer: ${code}${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`infer: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
