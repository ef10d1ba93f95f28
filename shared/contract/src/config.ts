/**
 * Configuration comes from environment variables only, parsed once at start-up. Each service
 * declares what it reads with these helpers; a bad value throws a ConfigError naming the variable,
 * and the service's main exits non-zero with that message.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Env = Record<string, string | undefined>;

export class EnvReader {
  constructor(private readonly env: Env = process.env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    const min = range.min ?? Number.MIN_SAFE_INTEGER;
    const max = range.max ?? Number.MAX_SAFE_INTEGER;
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name}=${JSON.stringify(v)} is not a whole number between ${min} and ${max}`);
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new ConfigError(`${name}=${JSON.stringify(v)} is not a boolean (use true or false)`);
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!(choices as readonly string[]).includes(v)) throw new ConfigError(`${name}=${JSON.stringify(v)} must be one of ${choices.join(', ')}`);
    return v as T;
  }

  url(name: string, fallback: string, protocols: readonly string[]): string {
    const v = this.raw(name) ?? fallback;
    let parsed: URL;
    try {
      parsed = new URL(v);
    } catch {
      throw new ConfigError(`${name}=${JSON.stringify(v)} is not a URL`);
    }
    if (!protocols.includes(parsed.protocol)) throw new ConfigError(`${name}=${JSON.stringify(v)} must use ${protocols.join(' or ')}`);
    return v;
  }

  list(name: string): string[] {
    return (this.raw(name) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  }
}

/** A Redis address as `host:port` (a bracketed IPv6 address is allowed: `[::1]:26379`). */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Where the services find Redis. `url` alone: that Redis (REDIS_URL). With `sentinel`, the master
 * is asked of Redis Sentinel and followed when Sentinel promotes a replica; `url` then gives only
 * what to use on the master once found — its scheme (rediss: for TLS), user, password and database
 * — and its host and port are not used.
 */
export interface RedisTarget {
  url: string;
  sentinel?: {
    sentinels: HostPort[];
    masterName: string;
    /** The Sentinels' own password (their `requirepass`), when they have one. */
    password?: string;
  };
}

/** `host:port,host:port,…` as the list of Sentinels (REDIS_SENTINELS). */
export function parseHostPorts(name: string, value: string[]): HostPort[] {
  return value.map((item) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(item);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) throw new ConfigError(`${name}: ${JSON.stringify(item)} is not host:port (expected e.g. sentinel-1:26379,sentinel-2:26379)`);
    return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
  });
}

function readRedisTarget(r: EnvReader): RedisTarget {
  const url = r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']);
  const sentinels = parseHostPorts('REDIS_SENTINELS', r.list('REDIS_SENTINELS'));
  const masterName = r.optionalString('REDIS_MASTER_NAME');
  const password = r.optionalString('REDIS_SENTINEL_PASSWORD');
  if (sentinels.length === 0) {
    if (masterName !== undefined) throw new ConfigError('REDIS_MASTER_NAME is set but REDIS_SENTINELS is not: set both to use Redis Sentinel, or neither to use REDIS_URL');
    if (password !== undefined) throw new ConfigError('REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not');
    return { url };
  }
  if (masterName === undefined) throw new ConfigError('REDIS_SENTINELS is set: REDIS_MASTER_NAME must name the master the Sentinels monitor (their `sentinel monitor <name> ...`)');
  return { url, sentinel: { sentinels, masterName, ...(password !== undefined ? { password } : {}) } };
}

/** Settings read by more than one service, with defaults that work on a developer's machine. */
export interface CommonConfig {
  /** REDIS_URL, or Sentinel (REDIS_SENTINELS, REDIS_MASTER_NAME, REDIS_SENTINEL_PASSWORD) with REDIS_URL's credentials. */
  redis: RedisTarget;
  modelDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** JSON logs in production, readable ones in development. */
  logPretty: boolean;
  /** Prefix of every Redis key and the queue name, so several deployments can share one Redis. */
  queueName: string;
}

export function readCommonConfig(env: Env = process.env): CommonConfig {
  const r = new EnvReader(env);
  return {
    redis: readRedisTarget(r),
    modelDir: r.string('MODEL_DIR', 'models/current'),
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    logPretty: r.bool('LOG_PRETTY', env.NODE_ENV !== 'production' && process.stdout.isTTY === true),
    queueName: r.string('QUEUE_NAME', 'infer'),
  };
}
