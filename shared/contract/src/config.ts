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

/** Settings read by more than one service, with defaults that work on a developer's machine. */
export interface CommonConfig {
  redisUrl: string;
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
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    modelDir: r.string('MODEL_DIR', 'models/current'),
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    logPretty: r.bool('LOG_PRETTY', env.NODE_ENV !== 'production' && process.stdout.isTTY === true),
    queueName: r.string('QUEUE_NAME', 'infer'),
  };
}
