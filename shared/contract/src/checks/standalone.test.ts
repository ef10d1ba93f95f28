import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { tinyArtifact } from '../../../../test/support/tiny-artifact.js';
import { JobDataSchema } from '../job-schema.js';
import { ManifestSchema } from '../manifest-schema.js';
import { Check as isJobData } from './job-data.generated.js';
import { Check as isManifest } from './manifest.generated.js';
import { STANDALONE_CHECKS, standaloneCheckSource } from './standalone.js';

const here = fileURLToPath(new URL('.', import.meta.url));

describe('standalone checkers', () => {
  // TypeBox's own interpreted check is the reference: the generated modules, with their patterns and
  // formats written out as source, must accept and refuse exactly what it does.
  it.each(Object.entries(STANDALONE_CHECKS))('%s is what its schema generates now', (file, { schema, name }) => {
    const committed = readFileSync(join(here, file), 'utf8');
    expect(committed, `${file} is out of date: run npm run generate:checks`).toBe(standaloneCheckSource(schema, name));
  });

  type Damage = (m: Record<string, any>) => unknown;
  const damaged: [string, Damage][] = [
    ['created_at not a date-time', (m) => ({ ...m, created_at: '2026-13-45T99:00:00Z' })],
    ['a source sha256 that is not hex', (m) => ({ ...m, source: { ...m.source, sha256: 'z'.repeat(64) } })],
    ['an unknown key in source', (m) => ({ ...m, source: { ...m.source, extra: 1 } })],
    ['a file hash in upper case', (m) => ({ ...m, files: { ...m.files, 'report.json': { ...m.files['report.json'], sha256: 'A'.repeat(64) } } })],
    ['format 1', (m) => ({ ...m, format_version: 1 })],
    ['no config', ({ config: _, ...m }) => m],
  ];
  const realManifest = () => JSON.parse(readFileSync(join(tinyArtifact(), 'manifest.json'), 'utf8')) as Record<string, any>;
  it('manifest: accepts one the quantizer wrote', () => {
    const m = realManifest();
    expect(Value.Check(ManifestSchema, m)).toBe(true);
    expect(isManifest(m)).toBe(true);
  });
  it.each(damaged)('manifest: refuses %s', (_, damage) => {
    const m = damage(realManifest());
    expect(Value.Check(ManifestSchema, m)).toBe(false);
    expect(isManifest(m)).toBe(false);
  });

  const predict = { kind: 'predict', request_id: 'r1', prompt: 'Hello', enqueued_at: 1, top_k: 5 };
  const generate = { ...predict, kind: 'generate', max_new_tokens: 4, temperature: 0, top_k: 0, top_p: 1, seed: 1, stop: [], stream: false };
  const jobs: [string, unknown, boolean][] = [
    ['predict', predict, true],
    ['predict with a reply channel', { ...predict, reply_to: 'q:replies:g' }, true],
    ['generate', generate, true],
    ['an empty prompt', { ...predict, prompt: '' }, false],
    ['top_k 0 on predict', { ...predict, top_k: 0 }, false],
    ['an unknown kind', { ...predict, kind: 'train' }, false],
    ['top_p 0', { ...generate, top_p: 0 }, false],
    ['a string', 'predict', false],
  ];
  it.each(jobs)('job data: %s', (_, value, valid) => {
    expect(isJobData(value)).toBe(valid);
    expect(Value.Check(JobDataSchema, value)).toBe(valid);
  });
});
