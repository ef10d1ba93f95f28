/**
 * The Dockerfiles, checked without a Docker engine: a linter (dockerfile-utils, the parser behind
 * VS Code's Dockerfile support), and the image contract — multi-stage on the official
 * Node image that `engines` asks for, production dependencies only, non-root, an init as PID 1,
 * exec-form commands, a healthcheck — plus what a build would trip over: every file copied from
 * the build stage exists after `npm run build`, everything the commands run is copied, and every
 * package the code imports is installed by the runtime's `npm ci --omit=dev`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import {
  copies,
  type Dockerfile,
  execForm,
  finalStage,
  healthcheck,
  instructions,
  loadCompose,
  parseDockerfile,
  ROOT,
  serviceCommand,
  type Stage,
  stageEnv,
  workdir,
} from './deploy-files.js';

interface PackageJson {
  workspaces?: string[];
  engines?: { node?: string; npm?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const pkg = (dir: string): PackageJson => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as PackageJson;
const rootPkg = pkg('.');
const WORKSPACE_NAMES: Record<string, string> = Object.fromEntries(
  (rootPkg.workspaces ?? []).map((dir) => [(JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { name: string }).name, dir]),
);

/**
 * The packages a program can load: follows relative imports and workspace packages
 * (@gpt2-int8/x/y → <workspace>/dist/y.js) through the built JavaScript, and collects the other
 * bare specifiers' package names (their own dependencies come with them from npm).
 */
function importedPackages(entries: string[]): { packages: Set<string>; files: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = entries.map((e) => resolve(ROOT, e));
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (files.has(file)) continue;
    if (!existsSync(file)) throw new Error(`${relative(ROOT, file)} is imported but does not exist (run npm run build)`);
    files.add(file);
    const src = readFileSync(file, 'utf8');
    const specifiers = [...src.matchAll(/(?:^|[;\s])(?:import|export)\s(?:[^'"]*?\sfrom\s*)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)].map((m) => (m[1] ?? m[2]) as string);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else if (spec.startsWith('node:')) continue;
      else {
        const parts = spec.split('/');
        const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
        const workspace = WORKSPACE_NAMES[name];
        if (workspace) todo.push(join(ROOT, workspace, 'dist', `${spec.slice(name.length + 1)}.js`));
        else packages.add(name);
      }
    }
  }
  return { packages, files };
}

interface Image {
  dockerfile: string;
  /** The workspaces whose production dependencies and dist the image carries. */
  workspaces: string[];
  /** The compose services that run it. */
  services: string[];
}

const IMAGES: Image[] = [
  { dockerfile: 'Dockerfile.worker', workspaces: ['shared/contract', 'shared/runtime', 'services/quantizer', 'services/worker'], services: ['quantizer', 'worker'] },
  { dockerfile: 'Dockerfile.gateway', workspaces: ['shared/contract', 'services/gateway'], services: ['gateway'] },
];

const stage = (df: Dockerfile, name: string): Stage => {
  const s = df.stages.find((st) => st.name === name);
  if (!s) throw new Error(`${df.path} has no stage ${name}`);
  return s;
};
const runText = (s: Stage) => instructions(s, 'RUN').map((i) => i.args).join('\n');

/** Whole packages a stage deletes from node_modules (`rm -rf node_modules/<name> ...`). */
function removedPackages(s: Stage): string[] {
  return [...runText(s).matchAll(/rm -rf ((?:node_modules\/\S+\s*)+)/g)]
    .flatMap((m) => (m[1] as string).trim().split(/\s+/))
    .map((p) => p.replace(/^node_modules\//, ''))
    .filter((p) => p.split('/').length === (p.startsWith('@') ? 2 : 1));
}

/** Every argument of a command that names a file under the working directory. */
const relativeFiles = (argv: string[]) => argv.filter((a) => /^[\w.-]+\/[\w./-]+\.(?:m?js|cjs)$/.test(a));

describe.each(IMAGES)('$dockerfile', ({ dockerfile, workspaces, services }) => {
  const df = parseDockerfile(dockerfile);
  const runtime = finalStage(df);
  const compose = loadCompose({});

  it('passes the linter (dockerfile-utils) with no diagnostics', () => {
    const diagnostics = validate(readFileSync(df.path, 'utf8')).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(diagnostics).toEqual([]);
  });

  it('is multi-stage on the official Node image that engines asks for', () => {
    expect(df.stages.length).toBeGreaterThanOrEqual(3);
    const engineMajor = /(\d+)/.exec(rootPkg.engines?.node ?? '')?.[1];
    for (const s of df.stages) {
      const base = s.from.split(':');
      if (df.stages.some((o) => o.name === s.from)) continue; // FROM an earlier stage
      expect(base[0], `stage ${s.name}`).toBe('node');
      expect(base[1], `stage ${s.name}`).toMatch(new RegExp(`^${engineMajor}[.-]`));
    }
    expect(runtime.name).toBe('runtime');
  });

  it('installs onnxruntime-node without its GPU download, with the repository .npmrc', () => {
    const npm = stage(df, 'npm');
    expect(stageEnv(npm).ONNXRUNTIME_NODE_INSTALL).toBe('skip');
    expect(copies(npm)[0]?.sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', '.npmrc']));
    // npm itself skips the script: package.json denies it, and engine-strict (.npmrc) refuses an npm
    // too old to honour that (allowScripts denials: npm 11.17), rather than letting the script run.
    expect(rootPkg).toMatchObject({ allowScripts: { 'onnxruntime-node': false }, engines: { npm: '>=11.17.0' } });
    expect(readFileSync(join(ROOT, '.npmrc'), 'utf8')).toMatch(/^engine-strict=true$/m);
    const pinned = /npm install -g npm@(\d+)\.(\d+)\.\d+/.exec(runText(npm));
    expect(pinned, 'the image installs a pinned npm').not.toBeNull();
    expect(Number(pinned?.[1]) * 1000 + Number(pinned?.[2])).toBeGreaterThanOrEqual(11_017);
    // npm ci checks every workspace's package.json against the lockfile: all must be copied.
    const copied = copies(npm).flatMap((c) => c.sources);
    for (const ws of rootPkg.workspaces ?? []) expect(copied, ws).toContain(`${ws}/package.json`);
  });

  it('installs production dependencies only, for its own workspaces, into the runtime', () => {
    const deps = runText(stage(df, 'prod-deps'));
    const ci = /npm ci ([^&\n]*)/.exec(deps)?.[1] ?? '';
    expect(ci).toContain('--omit=dev');
    expect([...ci.matchAll(/--workspace\s+(\S+)/g)].map((m) => m[1]).sort()).toEqual([...workspaces].sort());
    expect(copies(runtime)).toContainEqual({ from: 'prod-deps', sources: ['/app/node_modules'], dest: './node_modules' });
    expect(runText(runtime)).not.toMatch(/npm (ci|install)/);
    // And the dist of exactly those workspaces.
    const dists = copies(runtime).filter((c) => c.from === 'build' && c.sources[0]?.endsWith('/dist') && !c.sources[0].startsWith('/app/web'));
    expect(dists.map((c) => c.sources[0]?.replace(/^\/app\/|\/dist$/g, '')).sort()).toEqual([...workspaces].sort());
  });

  it('runs as a non-root user, with an init as PID 1 and exec-form commands', () => {
    const user = instructions(runtime, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    const entrypoint = execForm(instructions(runtime, 'ENTRYPOINT').at(-1)?.args ?? '');
    expect(entrypoint).toEqual(['/usr/bin/tini', '--']);
    expect(runText(runtime)).toMatch(/apt-get install -y --no-install-recommends tini/);
    const cmd = execForm(instructions(runtime, 'CMD').at(-1)?.args ?? '');
    expect(cmd?.[0]).toBe('node');
    expect(instructions(runtime, 'USER').at(-1)?.line).toBeGreaterThan(Math.max(...instructions(runtime, 'RUN').map((i) => i.line)));
  });

  it('has a HEALTHCHECK in exec form, the same as compose runs', () => {
    const hc = healthcheck(runtime);
    expect(hc?.command?.[0]).toBe('node');
    expect(hc?.options).toMatchObject({ interval: expect.any(String), timeout: expect.any(String), 'start-period': expect.any(String), retries: expect.any(String) });
    for (const name of services) {
      const composeHc = compose.services[name]?.healthcheck;
      if (composeHc?.disable) continue;
      expect(composeHc?.test, name).toEqual(['CMD', ...(hc?.command ?? [])]);
    }
  });

  it('copies from the build stage only what `npm run build` produces (so the COPY cannot fail)', () => {
    expect(workdir(runtime)).toBe('/app');
    // The build stage inherits its WORKDIR from the stage it starts from.
    const build = stage(df, 'build');
    expect(workdir(build) ?? workdir(stage(df, build.from))).toBe('/app');
    for (const c of copies(runtime).filter((cp) => cp.from === 'build')) {
      for (const src of c.sources) expect(existsSync(join(ROOT, src.replace(/^\/app\//, ''))), `${src} after npm run build`).toBe(true);
    }
    for (const c of copies(runtime).filter((cp) => cp.from === undefined)) {
      for (const src of c.sources) expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
  });

  it('contains every file its commands run (CMD, HEALTHCHECK and the compose commands)', () => {
    const dests = copies(runtime).map((c) => c.dest.replace(/^\.\//, '').replace(/\/$/, ''));
    const argvs = [execForm(instructions(runtime, 'CMD').at(-1)?.args ?? '[]') ?? [], healthcheck(runtime)?.command ?? []];
    for (const name of services) argvs.push(serviceCommand(compose.services[name] as never, runtime).command);
    for (const file of argvs.flatMap(relativeFiles)) {
      expect(dests.some((d) => file.startsWith(`${d}/`)), `${file} is copied into the image`).toBe(true);
      expect(existsSync(join(ROOT, file)), `${file} exists after the build`).toBe(true);
    }
  });

  it('installs every package its programs import (production dependencies of its workspaces), and removes none of them', () => {
    const argvs = [execForm(instructions(runtime, 'CMD').at(-1)?.args ?? '[]') ?? [], healthcheck(runtime)?.command ?? []];
    for (const name of services) argvs.push(serviceCommand(compose.services[name] as never, runtime).command);
    const { packages } = importedPackages([...new Set(argvs.flatMap(relativeFiles))]);
    const installed = new Set(workspaces.flatMap((ws) => Object.keys(pkg(ws).dependencies ?? {})));
    const removed = removedPackages(stage(df, 'prod-deps'));
    expect(packages.size).toBeGreaterThan(0);
    for (const p of packages) {
      expect(installed.has(p), `${p} is imported but is not a production dependency of ${workspaces.join(', ')}`).toBe(true);
      expect(removed, `${p} is imported but the Dockerfile removes it`).not.toContain(p);
    }
  });

  it('creates /models owned by the runtime user (a fresh named volume takes it, so the quantizer can write)', () => {
    const user = instructions(runtime, 'USER').at(-1)?.args;
    expect(instructions(runtime, 'RUN').map((i) => i.args)).toContainEqual(`mkdir -p /models && chown ${user}:${user} /models`);
  });

  it('runs in production mode with the models volume as MODEL_DIR', () => {
    expect(stageEnv(runtime)).toMatchObject({ NODE_ENV: 'production', MODEL_DIR: '/models/current' });
  });
});

describe('the gateway image', () => {
  const runtime = finalStage(parseDockerfile('Dockerfile.gateway'));
  it('installs no model runtime, which the gateway never imports, without removing anything by hand', () => {
    expect(removedPackages(parseDockerfile('Dockerfile.gateway').stages.find((s) => s.name === 'prod-deps') as Stage)).toEqual([]);
    // What `npm ci --omit=dev --workspace ...` installs: the workspaces' production dependencies
    // and theirs, as the lockfile resolves them.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string> }> };
    const installed = new Set<string>();
    const todo = IMAGES.find((i) => i.dockerfile === 'Dockerfile.gateway')?.workspaces.flatMap((ws) => Object.keys(pkg(ws).dependencies ?? {})) ?? [];
    for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
      if (installed.has(name)) continue;
      installed.add(name);
      const ws = WORKSPACE_NAMES[name];
      todo.push(...Object.keys((ws ? pkg(ws) : lock.packages[`node_modules/${name}`])?.dependencies ?? {}));
    }
    expect(installed.has('fastify') && installed.has('bullmq'), 'the walk reached the gateway\'s real dependencies').toBe(true);
    for (const p of ['onnxruntime-node', 'onnxruntime-common', '@gpt2-int8/runtime']) expect(installed.has(p), p).toBe(false);
    // The pure-JS tokenizer is the gateway's own now: /v1 counts and checks tokens (services/gateway/src/openai/tokenizer.ts).
    expect(installed.has('gpt-tokenizer')).toBe(true);
  });

  it('exposes 6006 and carries the built web page where the gateway looks for it', () => {
    expect(instructions(runtime, 'EXPOSE').map((i) => i.args)).toEqual(['6006']);
    expect(copies(runtime)).toContainEqual({ from: 'build', sources: ['/app/web/dist'], dest: './web/dist' });
    // DEFAULT_WEB_DIR is resolved from services/gateway/dist: ../../../web/dist = /app/web/dist.
    expect(new URL('../../../web/dist', 'file:///app/services/gateway/dist/config.js').pathname).toBe('/app/web/dist');
  });
});

describe('.dockerignore', () => {
  it('keeps local installs, build output, secrets, models and git out of the build context', () => {
    const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['**/node_modules', '**/dist', '**/*.tsbuildinfo', '.git', '**/.env', 'models', 'checkpoints']) expect(lines, p).toContain(p);
  });
});

describe('.npmrc', () => {
  it('sets only what npm knows: no "Unknown project config" warning on every npm command', () => {
    // The parent npm's exported config (npm_config_*) is left out: only the repository's .npmrc is read.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
    const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: ROOT, env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('"gpt2-int8"');
    expect(r.stderr).not.toMatch(/Unknown (project|env) config/);
  });
});
