#!/usr/bin/env node
/**
 * A baseline for the worker's memory: a bare Node process that loads only the INT8 session of an
 * artifact and runs a few short prompts, then prints its VmRSS as JSON. What the worker holds
 * beyond this is the worker's own (queue client, batcher, buffers), not ONNX Runtime's.
 *   node bench/dist/session-rss.js <artifact dir>
 */
import { join } from 'node:path';
import { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { ARTIFACT_FILES, readManifest } from '@gpt2-int8/contract/manifest';
import { LEGACY_PROMPTS } from '@gpt2-int8/contract/prompts';
import { encode } from '@gpt2-int8/runtime/tokenizer';
import { promptLogits } from '@gpt2-int8/runtime/next-token-logits';
import { processMemory } from './processes.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/dist/session-rss.js <artifact dir>\n');
  process.exit(2);
}
const manifest = await readManifest(dir);
const session = await Gpt2Session.load(join(dir, ARTIFACT_FILES.int8), manifest.config, { threads: 1 });
for (let i = 0; i < 10; i++) await promptLogits(session, encode(LEGACY_PROMPTS[i % LEGACY_PROMPTS.length] as string));
await new Promise((r) => setTimeout(r, 300));
const mem = processMemory(process.pid);
process.stdout.write(`${JSON.stringify({ rss_bytes: mem.rss, peak_rss_bytes: mem.hwm, predicts: 10 })}\n`);
