/**
 * docker-compose.yml, read statically: the deployment contract (services, start order,
 * the shared models volume, scalable workers, healthchecks, restart policies, Redis persistence
 * and password, environment passthrough), and that every variable it sets is one a service reads.
 */
import { describe, expect, it } from 'vitest';
import { readGatewayConfig } from '../../services/gateway/src/config.js';
import { readWorkerConfig } from '../../services/worker/src/config.js';
import {
  type ComposeService,
  dependsOn,
  durationSeconds,
  envNamesIn,
  loadCompose,
  rawCompose,
  serviceEnv,
  SERVICE_ENV_SOURCES,
  serviceVolumes,
} from './deploy-files.js';

const compose = loadCompose({});
const services = compose.services;
const svc = (name: string): ComposeService => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no ${name} service`);
  return s;
};

describe('docker-compose.yml', () => {
  it('has the four services, and the two volumes it declares', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway', 'quantizer', 'redis', 'worker']);
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['models', 'redis-data']);
  });

  it('redis: the official image, append-only file on a volume, a healthcheck, a password from REDIS_PASSWORD', () => {
    const redis = svc('redis');
    expect(redis.image).toMatch(/^redis:\d/);
    const command = redis.command as string[];
    expect(command[0]).toBe('redis-server');
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
    expect(serviceVolumes(redis)).toContainEqual({ source: 'redis-data', target: '/data', readOnly: false, named: true });
    expect(redis.healthcheck?.test?.[0]).toMatch(/^CMD/);
    expect(String(redis.healthcheck?.test)).toContain('ping');
    // Without a password: an empty --requirepass (no password); with one, it is set.
    expect(command[command.indexOf('--requirepass') + 1]).toBe('');
    const secured = loadCompose({ REDIS_PASSWORD: 's3cret' }).services.redis as ComposeService;
    expect((secured.command as string[])[(secured.command as string[]).indexOf('--requirepass') + 1]).toBe('s3cret');
    expect(serviceEnv(secured).REDIS_PASSWORD).toBe('s3cret'); // for the healthcheck's redis-cli
  });

  it('quantizer: one-shot from the worker image, writes the models volume, checkpoints mounted read-only, hub settings passed through', () => {
    const q = svc('quantizer');
    expect(q.build?.dockerfile).toBe('Dockerfile.worker');
    expect(q.command).toEqual(['node', 'services/quantizer/dist/cli.js', 'ensure', '--out', '/models/current']);
    expect(q.restart).toBe('no');
    expect(q.healthcheck?.disable).toBe(true);
    const volumes = serviceVolumes(q);
    expect(volumes).toContainEqual({ source: 'models', target: '/models', readOnly: false, named: true });
    expect(volumes.find((v) => v.target === '/checkpoints')).toMatchObject({ source: './checkpoints', readOnly: true, named: false });
    expect(serviceVolumes(loadCompose({ CHECKPOINTS_DIR: '/srv/ckpt' }).services.quantizer as ComposeService).find((v) => v.target === '/checkpoints')?.source).toBe('/srv/ckpt');

    const passed = { MODEL_SOURCE: 'hf:gpt2@main', HF_TOKEN: 'hf_secret', HF_ENDPOINT: 'http://mirror.internal:8080', HUB_PROBE_TIMEOUT_MS: '2000' };
    expect(serviceEnv(loadCompose(passed).services.quantizer as ComposeService)).toMatchObject(passed);
    // Unset on the host → empty in the container → the quantizer's own defaults.
    expect(serviceEnv(q)).toMatchObject({ MODEL_SOURCE: '', HF_TOKEN: '', HF_ENDPOINT: '' });
  });

  it('gateway: port 6006, waits for a healthy Redis and a finished quantizer, healthcheck, rate limit on', () => {
    const g = svc('gateway');
    expect(g.build?.dockerfile).toBe('Dockerfile.gateway');
    expect(g.ports).toEqual(['6006:6006']);
    expect(dependsOn(g)).toEqual({ redis: 'service_healthy', quantizer: 'service_completed_successfully' });
    expect(g.healthcheck?.test).toEqual(['CMD', 'node', 'deploy/gateway-healthcheck.mjs']);
    expect(g.restart).toBe('unless-stopped');
    expect(Number(serviceEnv(g).RATE_LIMIT_PER_MINUTE)).toBeGreaterThan(0);
    expect(serviceEnv(loadCompose({ RATE_LIMIT_PER_MINUTE: '0' }).services.gateway as ComposeService).RATE_LIMIT_PER_MINUTE).toBe('0');
    expect(serviceVolumes(g)).toContainEqual({ source: 'models', target: '/models', readOnly: true, named: true });
    // The container port is the gateway's default PORT; compose must not move it away from the mapping.
    expect(serviceEnv(g).PORT).toBeUndefined();
    expect(readGatewayConfig({}).port).toBe(6006);
  });

  it('worker: same dependencies, scalable (no container_name, no ports, no fixed WORKER_ID), models read-only', () => {
    const w = svc('worker');
    expect(w.build?.dockerfile).toBe('Dockerfile.worker');
    expect(w.image).toBe(svc('quantizer').image);
    expect(w.container_name).toBeUndefined();
    expect(w.ports).toBeUndefined();
    expect(serviceEnv(w).WORKER_ID).toBeUndefined();
    expect(dependsOn(w)).toEqual({ redis: 'service_healthy', quantizer: 'service_completed_successfully' });
    expect(serviceVolumes(w)).toEqual([{ source: 'models', target: '/models', readOnly: true, named: true }]);
    expect(w.healthcheck?.test).toEqual(['CMD', 'node', 'deploy/worker-healthcheck.mjs']);
    expect(w.restart).toBe('unless-stopped');
    for (const name of ['WORKER_THREADS', 'MAX_BATCH', 'MAX_BATCH_TOKENS', 'BATCH_WINDOW_MS', 'CONTINUOUS_BATCHING', 'MAX_ACTIVE_SEQUENCES', 'MAX_STEP_TOKENS', 'LOCK_DURATION_MS', 'STALLED_INTERVAL_MS', 'SHUTDOWN_TIMEOUT_MS']) {
      expect(serviceEnv(loadCompose({ [name]: '7777' }).services.worker as ComposeService)[name], name).toBe('7777');
    }
  });

  it('the quantizer writes the artifact where the worker and gateway read it', () => {
    const modelDir = (name: string) => serviceEnv(svc(name)).MODEL_DIR;
    const out = (svc('quantizer').command as string[]).at(-1);
    expect(modelDir('worker')).toBe(out);
    expect(modelDir('gateway')).toBe(out);
    const mountOf = (name: string) => serviceVolumes(svc(name)).find((v) => out?.startsWith(`${v.target}/`));
    expect(mountOf('quantizer')).toMatchObject({ source: 'models', readOnly: false });
    expect(mountOf('worker')).toMatchObject({ source: 'models', readOnly: true });
  });

  it('stop grace periods outlast the drains (else Docker SIGKILLs jobs in flight)', () => {
    const worker = readWorkerConfig({});
    const gateway = readGatewayConfig({});
    expect(durationSeconds(svc('worker').stop_grace_period ?? '10s')).toBeGreaterThan(worker.shutdownTimeoutMs / 1000);
    // main.ts gives in-flight requests REQUEST_TIMEOUT_MS + 5 s.
    expect(durationSeconds(svc('gateway').stop_grace_period ?? '10s')).toBeGreaterThan(gateway.requestTimeoutMs / 1000 + 5);
  });

  it('gateway and workers share Redis and the queue; REDIS_PASSWORD reaches both URLs', () => {
    for (const name of ['gateway', 'worker']) {
      const env = serviceEnv(svc(name));
      expect(new URL(env.REDIS_URL as string).host, name).toBe('redis:6379');
      expect(new URL(env.REDIS_URL as string).password, name).toBe('');
      const secured = serviceEnv(loadCompose({ REDIS_PASSWORD: 'p4ss', QUEUE_NAME: 'q2' }).services[name] as ComposeService);
      expect(new URL(secured.REDIS_URL as string).password, name).toBe('p4ss');
      expect(secured.QUEUE_NAME).toBe('q2');
    }
  });

  it('sets only variables the services read (a misspelt name would be silently ignored)', () => {
    const read = (files: readonly string[]) => new Set([...SERVICE_ENV_SOURCES.common, ...files].flatMap(envNamesIn));
    const known: Record<string, Set<string>> = {
      quantizer: new Set(SERVICE_ENV_SOURCES.quantizer.flatMap(envNamesIn)),
      worker: read(SERVICE_ENV_SOURCES.worker),
      gateway: read(SERVICE_ENV_SOURCES.gateway),
      redis: new Set(['REDIS_PASSWORD']),
    };
    expect(known.worker?.has('WORKER_THREADS')).toBe(true); // the extraction itself works
    expect(known.gateway?.has('CORS_ORIGINS')).toBe(true);
    for (const [name, service] of Object.entries(rawCompose().services)) {
      for (const variable of Object.keys(serviceEnv(service))) {
        expect(known[name]?.has(variable), `${name} sets ${variable}, which it does not read`).toBe(true);
      }
    }
  });
});
