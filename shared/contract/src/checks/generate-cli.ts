#!/usr/bin/env node
/**
 * `npm run generate:checks`: rewrites the standalone checkers in shared/contract/src/checks from their
 * schemas. Run it after changing job-schema.ts or manifest-schema.ts, then rebuild.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { STANDALONE_CHECKS, standaloneCheckSource } from './standalone.js';

const dir = fileURLToPath(new URL('../../src/checks/', import.meta.url));
for (const [file, { schema, name }] of Object.entries(STANDALONE_CHECKS)) {
  const path = `${dir}${file}`;
  const source = standaloneCheckSource(schema, name);
  const current = await readFile(path, 'utf8').catch(() => '');
  if (current === source) {
    process.stdout.write(`${path}: up to date\n`);
  } else {
    await writeFile(path, source);
    process.stdout.write(`${path}: written\n`);
  }
}
