/**
 * The gateway's settings: the common ones from shared (REDIS_URL, MODEL_DIR, LOG_*, QUEUE_NAME) plus
 * its own, all from environment variables, parsed once. A bad value throws a ConfigError naming the
 * variable; main.ts turns that into a non-zero exit.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, EnvReader, readCommonConfig, type CommonConfig, type Env } from '@gpt2-int8/contract/config';

export interface GatewayConfig extends CommonConfig {
  port: number;
  host: string;
  /** Longest a request waits for its job (and the longest a drain waits on SIGTERM). */
  requestTimeoutMs: number;
  /** Longest a client may take to send a whole request (headers and body) → 408: slow-client defence. */
  clientTimeoutMs: number;
  /** Jobs waiting in the queue past which new requests get 503 + Retry-After instead of queueing. */
  queueMaxDepth: number;
  bodyLimitBytes: number;
  /** Origins allowed to call the API from a browser; empty means CORS is off (same origin only). */
  corsOrigins: string[];
  /** Requests per minute per client IP on /api/*; 0 turns the limit off (the local default). */
  rateLimitPerMinute: number;
  /** Trust X-Forwarded-For (behind a reverse proxy), so the rate limit sees the real client IP. */
  trustProxy: boolean;
  /** The built web page (index.html and its assets). */
  webDir: string;
  /**
   * API keys (API_KEYS, comma-separated, and API_KEYS_FILE, one per line): when any is set, /api/*
   * and /v1/* need `Authorization: Bearer <key>` (api-keys.ts). Empty: open, as before.
   */
  apiKeys: string[];
}

/** API_KEYS plus the lines of API_KEYS_FILE (blank lines and # comments skipped). */
function apiKeys(r: EnvReader): string[] {
  const keys = r.list('API_KEYS');
  const file = r.string('API_KEYS_FILE', '');
  if (file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`API_KEYS_FILE: cannot read ${JSON.stringify(file)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    keys.push(...text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
  }
  for (const k of keys) {
    // The key must survive the Bearer header: no spaces or control characters.
    if (!/^[\x21-\x7e]+$/.test(k)) throw new ConfigError('API_KEYS / API_KEYS_FILE: a key contains spaces or characters outside printable ASCII');
  }
  return [...new Set(keys)];
}

/**
 * The web package's build output, found from this file's place in the gateway package: both
 * src/config.ts (tests) and dist/config.js (production) sit one level below the package root.
 */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../web/dist', import.meta.url));

function origins(r: EnvReader, name: string): string[] {
  return r.list(name).map((o) => {
    if (o === '*') return o;
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new ConfigError(`${name}: ${JSON.stringify(o)} is not an origin (expected e.g. https://example.com, comma-separated, or *)`);
    }
    // An origin has no path: "https://a.example/" would never match the browser's Origin header.
    if (!['http:', 'https:'].includes(u.protocol) || u.origin !== o.replace(/\/$/, '')) {
      throw new ConfigError(`${name}: ${JSON.stringify(o)} is not an origin (scheme://host[:port], no path)`);
    }
    return u.origin;
  });
}

export function readGatewayConfig(env: Env = process.env): GatewayConfig {
  const r = new EnvReader(env);
  return {
    ...readCommonConfig(env),
    port: r.int('PORT', 6006, { min: 0, max: 65535 }),
    host: r.string('HOST', '0.0.0.0'),
    requestTimeoutMs: r.int('REQUEST_TIMEOUT_MS', 30_000, { min: 100, max: 600_000 }),
    clientTimeoutMs: r.int('CLIENT_TIMEOUT_MS', 30_000, { min: 500, max: 600_000 }),
    queueMaxDepth: r.int('QUEUE_MAX_DEPTH', 256, { min: 1, max: 1_000_000 }),
    bodyLimitBytes: r.int('BODY_LIMIT_BYTES', 64 * 1024, { min: 1024, max: 16 * 1024 * 1024 }),
    corsOrigins: origins(r, 'CORS_ORIGINS'),
    rateLimitPerMinute: r.int('RATE_LIMIT_PER_MINUTE', 0, { min: 0, max: 1_000_000 }),
    trustProxy: r.bool('TRUST_PROXY', false),
    webDir: r.string('WEB_DIR', DEFAULT_WEB_DIR),
    apiKeys: apiKeys(r),
  };
}
