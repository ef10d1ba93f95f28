/**
 * The README's Deployment section matches the deployment files: its table lists every variable the
 * services read and every variable docker-compose.yml substitutes, and its instructions name what
 * the compose file has (services, the port, the checkpoint mount, the scaled service). And what a
 * newcomer reads first holds for a fresh clone: the prompt limit is the API's, no path points outside
 * the repository, every npm script and picture it names exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '@gpt2-int8/contract/api';
import { envNamesIn, loadCompose, rawCompose, ROOT, SERVICE_ENV_SOURCES, serviceVolumes } from './deploy-files.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = (() => {
  const start = readme.indexOf('\n## Deployment\n');
  if (start < 0) return '';
  const next = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, next < 0 ? undefined : next);
})();
const tableVariables = new Set([...section.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string));

describe('README: Deployment', () => {
  it('comes after "The quantizer", which it leaves in place', () => {
    expect(section).not.toBe('');
    expect(readme.indexOf('## The quantizer')).toBeGreaterThan(0);
    expect(readme.indexOf('## The quantizer')).toBeLessThan(readme.indexOf('## Deployment'));
  });

  it('its table lists every environment variable the services read', () => {
    const read = Object.values(SERVICE_ENV_SOURCES).flat().flatMap(envNamesIn);
    expect(read.length).toBeGreaterThan(20);
    for (const name of read) expect(tableVariables.has(name), `${name} is missing from the README table`).toBe(true);
  });

  it('its table lists every variable docker-compose.yml substitutes, and nothing that does not exist', () => {
    // From the parsed file, so comments do not count.
    const substituted = [...JSON.stringify(rawCompose()).matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] as string);
    for (const name of substituted) expect(tableVariables.has(name), `${name} is missing from the README table`).toBe(true);
    const known = new Set([...Object.values(SERVICE_ENV_SOURCES).flat().flatMap(envNamesIn), ...substituted]);
    for (const name of tableVariables) expect(known.has(name), `the README lists ${name}, which nothing reads`).toBe(true);
  });

  it('its instructions match the compose file', () => {
    const compose = loadCompose({});
    for (const name of Object.keys(rawCompose().services)) expect(section).toContain(`\`${name}\``);
    expect(compose.services.gateway?.ports).toEqual(['6006:6006']);
    expect(section).toContain('http://localhost:6006');
    expect(section).toContain('docker compose up --scale worker=4');
    expect(compose.services.worker).toBeDefined();
    // MODEL_SOURCE examples under the checkpoint mount point at it.
    const mount = serviceVolumes(compose.services.quantizer as never).find((v) => v.readOnly && !v.named);
    const examples = [...section.matchAll(/MODEL_SOURCE=(\/\S+)/g)].map((m) => m[1] as string);
    expect(examples.length).toBeGreaterThan(0);
    for (const e of examples) expect(e.startsWith(`${mount?.target}/`), e).toBe(true);
    expect(section).toContain(`\`${mount?.source}\``);
    expect(section).toContain((compose.services.quantizer?.command as string[]).join(' '));
    expect(section).toContain(`(${compose.services.worker?.stop_grace_period?.replace('s', ' s')})`);
  });

  it('says plainly that the images are not built here, and what is proven instead', () => {
    expect(section).toMatch(/images are not built or run in CI here/);
    expect(section).toContain('test/deploy/');
  });
});

describe('README: what a newcomer reads first', () => {
  it('states the prompt limit the API enforces', () => {
    expect(readme).toContain(`1 to ${LIMITS.promptChars.toLocaleString('en-US')} characters`);
    expect(readme).toContain('`LIMITS.promptChars`');
  });

  it('points at nothing outside the repository, and at no "old project" a newcomer never saw', () => {
    // A path like ../shared/models exists beside one checkout, not in a clone.
    expect(readme).not.toMatch(/\.\.\/[\w.-]+\//);
    expect(readme).not.toMatch(/old project/i);
  });

  it('names only npm scripts that exist, and pictures that exist', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const named = [...readme.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1] as string);
    expect(named).toContain('screenshot');
    for (const name of named) expect(scripts, `npm run ${name}`).toHaveProperty([name]);
    for (const [, path] of readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)) expect(existsSync(join(ROOT, path as string)), path).toBe(true);
  });
});
