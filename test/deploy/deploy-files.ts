/**
 * Reading the deployment files the way Docker would, for the deploy tests: docker-compose.yml
 * (YAML with merge keys, then compose's `${VAR}` interpolation), and the Dockerfiles (instructions
 * with line continuations, stages, ARG defaults in FROM, exec-form JSON arguments).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');

// ---- compose ----------------------------------------------------------------------------------

export type Env = Record<string, string | undefined>;

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean; interval?: string; timeout?: string; retries?: number; start_period?: string };
  restart?: string;
  stop_grace_period?: string;
  container_name?: string;
  working_dir?: string;
  user?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * Compose's variable substitution: `$$` is a literal `$`; `${VAR}` and `$VAR`; `${VAR:-default}`
 * (unset or empty), `${VAR-default}` (unset); `${VAR:?message}` / `${VAR?message}` (required).
 */
export function interpolate(value: string, env: Env): string {
  return value.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, dollar: string, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (dollar === '$') return '$';
    const name = (braced ?? bare) as string;
    const v = env[name];
    if (op === ':-') return v === undefined || v === '' ? (arg ?? '') : v;
    if (op === '-') return v === undefined ? (arg ?? '') : v;
    if (op === ':?' || op === '?') {
      if (v === undefined || (op === ':?' && v === '')) throw new Error(`required variable ${name} is missing: ${arg}`);
      return v;
    }
    if (v === undefined) throw new Error(`${whole}: unset without a default (compose would warn and substitute "")`);
    return v;
  });
}

function interpolateDeep(value: unknown, env: Env): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, env)]));
  }
  return value;
}

export function composeText(): string {
  return readFileSync(COMPOSE_FILE, 'utf8');
}

/** The compose file as YAML, before interpolation (merge keys resolved, as compose does). */
export function rawCompose(): ComposeFile {
  return parse(composeText(), { merge: true }) as ComposeFile;
}

/** The compose file as compose sees it with these variables (in the shell or .env). */
export function loadCompose(env: Env = {}): ComposeFile {
  return interpolateDeep(rawCompose(), env) as ComposeFile;
}

/** A service's environment as a map (compose allows a map or a list of NAME=value). */
export function serviceEnv(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => {
      const i = e.indexOf('=');
      return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

export interface VolumeMount {
  source: string;
  target: string;
  readOnly: boolean;
  /** A named volume (declared under top-level `volumes:`), not a host path. */
  named: boolean;
}

export function serviceVolumes(service: ComposeService): VolumeMount[] {
  return (service.volumes ?? []).map((spec) => {
    const [source = '', target = '', mode = 'rw'] = spec.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro'), named: !/^[./~]/.test(source) };
  });
}

export function dependsOn(service: ComposeService): Record<string, string> {
  const d = service.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v.condition]));
}

/** "40s", "1m30s", "2m" → seconds. */
export function durationSeconds(d: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(d.trim());
  if (!m || d.trim() === '') throw new Error(`not a compose duration: ${d}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) + Number(m[4] ?? 0) / 1000;
}

// ---- Dockerfiles ------------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  /** The arguments as written (continuations joined). */
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  /** The base image, with ARG defaults substituted. */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  path: string;
  /** ARGs declared before the first FROM, with their defaults. */
  args: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(name: string): Dockerfile {
  const path = join(ROOT, name);
  const lines = readFileSync(path, 'utf8').split('\n');
  const instructions: Instruction[] = [];
  let current: { text: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line)) return; // comments, also inside continuations
    if (current === undefined && line.trim() === '') return;
    const continues = line.endsWith('\\');
    const text = continues ? line.slice(0, -1) : line;
    if (current === undefined) current = { text, line: i + 1 };
    else current.text += ` ${text.trim()}`;
    if (!continues) {
      const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(current.text) as RegExpExecArray;
      instructions.push({ keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: current.line });
      current = undefined;
    }
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`${name}:${ins.line}: cannot read FROM ${ins.args}`);
      const from = (m[1] as string).replace(/\$\{?(\w+)\}?/g, (_w, v: string) => args[v] ?? '');
      stages.push({ name: m[2], from, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === 'ARG') {
        const [k, v = ''] = ins.args.split('=');
        args[k as string] = v;
      }
    } else {
      (stages.at(-1) as Stage).instructions.push(ins);
    }
  }
  return { path, args, stages };
}

export function finalStage(df: Dockerfile): Stage {
  return df.stages.at(-1) as Stage;
}

export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** The JSON array of an exec-form instruction, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec-form array: ${args}`);
  return parsed;
}

/** ENV instructions of a stage (both `ENV K=V K2=V2` and the legacy `ENV K V`). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of instructions(stage, 'ENV')) {
    if (!ins.args.includes('=')) {
      const [k, ...v] = ins.args.split(/\s+/);
      env[k as string] = v.join(' ');
      continue;
    }
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      const v = m[2] as string;
      env[m[1] as string] = v.startsWith('"') ? (JSON.parse(v) as string) : v;
    }
  }
  return env;
}

/** The last WORKDIR of a stage. */
export function workdir(stage: Stage): string | undefined {
  return instructions(stage, 'WORKDIR').at(-1)?.args;
}

/** HEALTHCHECK's options and exec-form command. */
export function healthcheck(stage: Stage): { options: Record<string, string>; command: string[] | undefined } | undefined {
  const ins = instructions(stage, 'HEALTHCHECK').at(-1);
  if (!ins) return undefined;
  const m = /^((?:--[\w-]+=\S+\s+)*)CMD\s+(.*)$/.exec(ins.args);
  if (!m) return { options: {}, command: undefined };
  const options = Object.fromEntries([...(m[1] as string).matchAll(/--([\w-]+)=(\S+)/g)].map((o) => [o[1] as string, o[2] as string]));
  return { options, command: execForm(m[2] as string) };
}

export interface CopyInstruction {
  from: string | undefined;
  sources: string[];
  dest: string;
}

export function copies(stage: Stage): CopyInstruction[] {
  return instructions(stage, 'COPY').map((ins) => {
    const from = /--from=(\S+)/.exec(ins.args)?.[1];
    const parts = ins.args.replace(/--[\w-]+=\S+\s*/g, '').trim().split(/\s+/);
    return { from, sources: parts.slice(0, -1), dest: parts.at(-1) as string };
  });
}

/** Where a service's process starts: the compose override, else the image's. */
export function serviceCommand(service: ComposeService, image: Stage): { entrypoint: string[]; command: string[] } {
  const asArray = (v: string[] | string | undefined, what: string): string[] | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === 'string') throw new Error(`${what} should be exec form (a list), got the string ${JSON.stringify(v)}`);
    return v;
  };
  const entrypoint = asArray(service.entrypoint, 'entrypoint') ?? execForm(instructions(image, 'ENTRYPOINT').at(-1)?.args ?? '[]') ?? [];
  const command = asArray(service.command, 'command') ?? execForm(instructions(image, 'CMD').at(-1)?.args ?? '[]') ?? [];
  return { entrypoint, command };
}

/** Where each service reads its environment (the config code is the source of truth). */
export const SERVICE_ENV_SOURCES = {
  /** Read by the worker and the gateway (shared/contract/src/config.ts's readCommonConfig). */
  common: ['shared/contract/src/config.ts'],
  quantizer: ['services/quantizer/src/cli.ts'],
  worker: ['services/worker/src/config.ts'],
  gateway: ['services/gateway/src/config.ts'],
} as const;

/** The names of the environment variables a source file reads through EnvReader or process.env. */
export function envNamesIn(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const names = new Set<string>();
  for (const m of src.matchAll(/\.(?:string|optionalString|int|bool|oneOf|url|list)\(\s*'([A-Z][A-Z0-9_]+)'|origins\(\s*\w+,\s*'([A-Z][A-Z0-9_]+)'|\benv\.([A-Z][A-Z0-9_]+)/g)) {
    names.add((m[1] ?? m[2] ?? m[3]) as string);
  }
  return [...names].sort();
}
