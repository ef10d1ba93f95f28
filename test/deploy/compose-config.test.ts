/**
 * `docker-compose config` (Debian's docker-compose package; no Docker engine needed) accepts
 * docker-compose.yml, and resolves each service's environment exactly as the deploy tests'
 * own reading does (so the entrypoint test runs what compose would run).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMPOSE_FILE, type ComposeFile, type Env, loadCompose, ROOT, serviceEnv } from './deploy-files.js';

function findDockerCompose(): string | undefined {
  const r = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? 'docker-compose' : undefined;
}

const dockerCompose = findDockerCompose();
if (!dockerCompose) {
  process.stderr.write('SKIPPED: docker-compose is not installed here (`apt-get install docker-compose`; .ci/run installs it) — docker-compose.yml was not validated by compose itself.\n');
}

const tmp = mkdtempSync(join(tmpdir(), 'gpt2-int8-compose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `docker-compose config` with exactly these variables: no .env file, nothing from this shell. */
function composeConfig(vars: Env): ComposeFile {
  const envFile = join(tmp, 'empty.env');
  writeFileSync(envFile, '');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, ...vars } as NodeJS.ProcessEnv;
  const out = execFileSync(dockerCompose as string, ['--env-file', envFile, '--project-directory', ROOT, '-f', COMPOSE_FILE, 'config'], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parse(out) as ComposeFile;
}

describe.skipIf(!dockerCompose)('docker-compose config', () => {
  it('accepts docker-compose.yml (and --quiet reports no problem)', () => {
    const r = spawnSync(dockerCompose as string, ['-f', COMPOSE_FILE, 'config', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each([
    ['no variables set', {}],
    ['everything set', { MODEL_SOURCE: '/checkpoints/my-model', HF_TOKEN: 'hf_x', HF_ENDPOINT: 'http://hub.internal', REDIS_PASSWORD: 'pw', RATE_LIMIT_PER_MINUTE: '0', WORKER_THREADS: '2', LOG_LEVEL: 'debug', QUEUE_NAME: 'q' }],
  ] as const)('resolves every service environment as the tests read it (%s)', (_label, vars: Env) => {
    const theirs = composeConfig(vars);
    const ours = loadCompose(vars);
    expect(Object.keys(theirs.services).sort()).toEqual(Object.keys(ours.services).sort());
    for (const [name, service] of Object.entries(ours.services)) {
      expect(serviceEnv(theirs.services[name] as never), name).toEqual(serviceEnv(service));
      if (service.command) expect((theirs.services[name] as { command: unknown }).command, name).toEqual(service.command);
    }
  });
});
