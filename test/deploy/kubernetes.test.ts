/**
 * The Kubernetes manifests (deploy/k8s), offline: every object of every kustomization validates
 * against the Kubernetes API's schemas and KEDA's CRD schema with strict fields
 * (test/deploy/k8s-files.ts), and what they say agrees with the code, which stays the one source of
 * truth: the variables each container sets are ones its service reads and parse with its own config
 * reader; the gateway's port and probe paths are its own; the workers' probes are the image's
 * healthcheck; the quantizer's command and the images are compose's; the artifact is written where
 * it is read; KEDA watches the list BullMQ keeps the queue's waiting jobs in, on the Redis the workers
 * use; grace periods outlast the drains the services are configured for.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createRedis } from '@gpt2-int8/contract/redis';
import { readGatewayConfig } from '../../services/gateway/src/config.js';
import { readWorkerConfig } from '../../services/worker/src/config.js';
import { envNamesIn, finalStage, healthcheck, loadCompose, parseDockerfile, ROOT, SERVICE_ENV_SOURCES } from './deploy-files.js';
import { K8S_DIR, type K8sObject, kustomize, kustomizations, validate } from './k8s-files.js';

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: { name: string; key: string } } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }[];
  terminationGracePeriodSeconds?: number;
}
type Workload = K8sObject & { spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };

const DEFAULT = K8S_DIR;
const BASE = join(K8S_DIR, 'base');
const SENTINEL = join(K8S_DIR, 'overlays/sentinel');
const NAMESPACE = 'gpt2-int8';

function find<T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string, name: string): T {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o as T;
}
const pod = (w: K8sObject) => (w as Workload).spec.template.spec;
const container = (w: K8sObject) => pod(w).containers[0] as Container;

/** A placeholder for secret values: URL-safe, as the README asks of Redis passwords. */
const secretValue = (name: string, key: string) => `secret-${name}-${key}`.replace(/[^\w-]/g, '-');

/**
 * A container's environment as the kubelet builds it: envFrom ConfigMaps, then env in order with
 * $(NAME) expanded from what came before; Secrets as placeholders. Also the names only used to
 * build others ($(NAME)).
 */
function containerEnv(objects: K8sObject[], c: Container): { env: Record<string, string>; set: string[]; helpers: Set<string> } {
  const env: Record<string, string> = {};
  const set: string[] = [];
  const helpers = new Set<string>();
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) {
      const data = (find(objects, 'ConfigMap', from.configMapRef.name) as K8sObject & { data: Record<string, string> }).data;
      Object.assign(env, data);
      set.push(...Object.keys(data));
    }
  }
  for (const e of c.env ?? []) {
    set.push(e.name);
    if (e.value !== undefined) {
      env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => {
        helpers.add(name);
        return env[name] ?? whole;
      });
    } else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = secretValue(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
    }
  }
  return { env, set, helpers };
}

const read = (files: readonly string[]) => new Set([...SERVICE_ENV_SOURCES.common, ...files].flatMap(envNamesIn));
const READS: Record<string, Set<string>> = {
  gateway: read(SERVICE_ENV_SOURCES.gateway),
  worker: read(SERVICE_ENV_SOURCES.worker),
  quantizer: new Set(SERVICE_ENV_SOURCES.quantizer.flatMap(envNamesIn)),
};

describe('deploy/k8s: the manifests', () => {
  const roots = kustomizations();

  it('are three ways to apply it: with the bundled Redis, the app alone (external Redis), Redis behind Sentinel', () => {
    expect(roots.map((d) => relative(K8S_DIR, d))).toEqual(['', 'base', 'overlays/sentinel', 'redis']);
    const kinds = (dir: string) => kustomize(dir).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    const app = ['ConfigMap/gpt2-int8-config', 'Deployment/gpt2-int8-gateway', 'Deployment/gpt2-int8-worker', 'Job/gpt2-int8-quantizer', 'Namespace/gpt2-int8', 'PersistentVolumeClaim/gpt2-int8-models', 'PodDisruptionBudget/gpt2-int8-gateway', 'PodDisruptionBudget/gpt2-int8-worker', 'ScaledObject/gpt2-int8-worker', 'Service/gpt2-int8-gateway', 'TriggerAuthentication/gpt2-int8-redis'];
    expect(kinds(BASE)).toEqual(app);
    expect(kinds(SENTINEL)).toEqual(app);
    expect(kinds(DEFAULT)).toEqual([...app, 'Service/redis', 'StatefulSet/redis'].sort());
  });

  it.each(kustomizations().map((d) => [relative(ROOT, d)]))('%s: every object is valid for the Kubernetes API and KEDA, with no unknown field', (dir) => {
    const objects = kustomize(join(ROOT, dir));
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.flatMap(validate)).toEqual([]);
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(NAMESPACE);
  });

  it('the strict validation does catch mistakes', () => {
    const deployment = structuredClone(find(kustomize(BASE), 'Deployment', 'gpt2-int8-gateway')) as Workload & { spec: Record<string, unknown> };
    deployment.spec.replica = 2;
    (container(deployment).ports as { containerPort: unknown }[])[0] = { containerPort: '6006' };
    const errors = validate(deployment).join('\n');
    expect(errors).toContain('/spec/replica: not a field');
    expect(errors).toMatch(/containerPort must be integer/);
    const scaled = structuredClone(find(kustomize(BASE), 'ScaledObject', 'gpt2-int8-worker')) as K8sObject & { spec: { triggers: { metadata: Record<string, unknown> }[] } };
    (scaled.spec.triggers[0] as { metadata: Record<string, unknown> }).metadata.listLength = 10;
    expect(validate(scaled).join('\n')).toMatch(/listLength must be string/);
  });

  it.each([['default', DEFAULT], ['sentinel', SENTINEL]])('%s: names agree — selectors, Services, the volume claim, Secrets and ConfigMaps, the scale target', (_label, dir) => {
    const objects = kustomize(dir);
    const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)) as Workload[];
    for (const w of workloads.filter((x) => x.kind !== 'Job')) {
      for (const [k, v] of Object.entries(w.spec.selector.matchLabels)) expect(w.spec.template.metadata.labels[k], `${w.metadata.name} ${k}`).toBe(v);
    }
    const podsOf = (selector: Record<string, string>) => workloads.filter((w) => Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
    for (const s of objects.filter((o) => o.kind === 'Service') as (K8sObject & { spec: { selector: Record<string, string>; ports: { targetPort: string }[] } })[]) {
      const targets = podsOf(s.spec.selector);
      expect(targets.length, s.metadata.name).toBe(1);
      for (const p of s.spec.ports) expect(container(targets[0] as Workload).ports?.map((x) => x.name), s.metadata.name).toContain(p.targetPort);
    }
    for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget') as (K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } })[]) {
      expect(podsOf(pdb.spec.selector.matchLabels).map((w) => w.kind), pdb.metadata.name).toEqual(['Deployment']);
    }
    const claims = workloads.flatMap((w) => (pod(w).volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [])));
    for (const c of claims) find(objects, 'PersistentVolumeClaim', c);
    // One Secret (made by hand, see base/config.yaml) holds the Redis password for everyone, KEDA too.
    const secretRefs = workloads.flatMap((w) => pod(w).containers.flatMap((c) => (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional ? [`${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`] : []))));
    expect(new Set(secretRefs)).toEqual(new Set(['gpt2-int8-redis/password']));
    const auth = find(objects, 'TriggerAuthentication', 'gpt2-int8-redis') as K8sObject & { spec: { secretTargetRef: { parameter: string; name: string; key: string }[] } };
    expect(auth.spec.secretTargetRef).toEqual([{ parameter: 'password', name: 'gpt2-int8-redis', key: 'password' }]);
    const scaled = find(objects, 'ScaledObject', 'gpt2-int8-worker') as K8sObject & { spec: { scaleTargetRef: { name: string; kind?: string }; triggers: { authenticationRef: { name: string } }[] } };
    expect(find(objects, 'Deployment', scaled.spec.scaleTargetRef.name)).toBeDefined();
    expect(scaled.spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
    for (const t of scaled.spec.triggers) expect(t.authenticationRef.name).toBe(auth.metadata.name);
  });

  it.each([['default', DEFAULT], ['sentinel', SENTINEL]])('%s: each container sets only variables its service reads, and its settings parse', (_label, dir) => {
    const objects = kustomize(dir);
    const scaled = find(objects, 'ScaledObject', 'gpt2-int8-worker') as K8sObject & { spec: { triggers: { metadata: Record<string, string> }[] } };
    const kedaReads = new Set(scaled.spec.triggers.flatMap((t) => Object.entries(t.metadata).filter(([k]) => k.endsWith('FromEnv')).map(([, v]) => v)));
    const services = { gateway: 'Deployment/gpt2-int8-gateway', worker: 'Deployment/gpt2-int8-worker', quantizer: 'Job/gpt2-int8-quantizer' } as const;
    const building = new Set<string>();
    for (const [service, ref] of Object.entries(services)) {
      const [kind, name] = ref.split('/') as [string, string];
      const { set, helpers, env } = containerEnv(objects, container(find(objects, kind, name)));
      for (const h of helpers) building.add(h);
      for (const variable of set) {
        const used = READS[service]?.has(variable) || helpers.has(variable) || (service === 'worker' && kedaReads.has(variable));
        expect(used, `${service} sets ${variable}, which nothing reads`).toBe(true);
      }
      if (service === 'gateway') readGatewayConfig(env);
      if (service === 'worker') readWorkerConfig(env);
    }
    // The ConfigMap is shared; every key in it is read by the gateway or the workers, or builds one
    // of their variables (REDIS_ADDRESS, into REDIS_URL).
    const data = (find(objects, 'ConfigMap', 'gpt2-int8-config') as K8sObject & { data: Record<string, string> }).data;
    for (const key of Object.keys(data)) expect(READS.gateway?.has(key) || READS.worker?.has(key) || building.has(key), key).toBe(true);
  });

  it('ports and probes are the services own: the gateway port and /healthz, /readyz; the workers the image healthcheck', () => {
    const objects = kustomize(DEFAULT);
    const gateway = container(find(objects, 'Deployment', 'gpt2-int8-gateway'));
    const config = readGatewayConfig(containerEnv(objects, gateway).env);
    expect(gateway.ports).toEqual([{ name: 'http', containerPort: config.port }]);
    const routes = readFileSync(join(ROOT, 'services/gateway/src/routes/health.ts'), 'utf8');
    expect(gateway.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(gateway.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    for (const path of ['/healthz', '/readyz']) expect(routes).toMatch(new RegExp(`app\\.get\\(\\s*'${path}'`));

    const worker = container(find(objects, 'Deployment', 'gpt2-int8-worker'));
    const imageCheck = healthcheck(finalStage(parseDockerfile('Dockerfile.worker')))?.command;
    expect(worker.readinessProbe?.exec?.command).toEqual(imageCheck);
    expect(worker.livenessProbe?.exec?.command).toEqual([...(imageCheck ?? []), '--alive']);
    expect(worker.ports).toBeUndefined();

    // The images and the quantizer's command are compose's.
    const compose = loadCompose({});
    expect(gateway.image).toBe(compose.services.gateway?.image);
    expect(worker.image).toBe(compose.services.worker?.image);
    const quantizer = container(find(objects, 'Job', 'gpt2-int8-quantizer'));
    expect(quantizer.image).toBe(compose.services.quantizer?.image);
    expect(quantizer.command).toEqual(compose.services.quantizer?.command);
    expect(gateway.command ?? worker.command).toBeUndefined(); // the images' CMD
  });

  it('the quantizer writes the artifact where the workers and the gateway read it', () => {
    const objects = kustomize(DEFAULT);
    const modelDir = (find(objects, 'ConfigMap', 'gpt2-int8-config') as K8sObject & { data: Record<string, string> }).data.MODEL_DIR as string;
    const job = find(objects, 'Job', 'gpt2-int8-quantizer');
    expect(container(job).command?.at(-1)).toBe(modelDir);
    const mountOf = (w: K8sObject) => {
      const m = (container(w).volumeMounts ?? []).find((v) => modelDir.startsWith(`${v.mountPath}/`));
      const volume = pod(w).volumes?.find((v) => v.name === m?.name);
      return { claim: volume?.persistentVolumeClaim?.claimName, readOnly: m?.readOnly === true };
    };
    expect(mountOf(job)).toEqual({ claim: 'gpt2-int8-models', readOnly: false });
    expect(mountOf(find(objects, 'Deployment', 'gpt2-int8-worker'))).toEqual({ claim: 'gpt2-int8-models', readOnly: true });
    expect(mountOf(find(objects, 'Deployment', 'gpt2-int8-gateway'))).toEqual({ claim: 'gpt2-int8-models', readOnly: true });
    const pvc = find(objects, 'PersistentVolumeClaim', 'gpt2-int8-models') as K8sObject & { spec: { accessModes: string[] } };
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']); // workers on many nodes
  });

  it("KEDA reads the length of BullMQ's wait list of the queue the services use, on the Redis the workers use", () => {
    for (const dir of [DEFAULT, SENTINEL]) {
      const objects = kustomize(dir);
      const worker = container(find(objects, 'Deployment', 'gpt2-int8-worker'));
      const { env } = containerEnv(objects, worker);
      const config = readWorkerConfig(env);
      // BullMQ's own name for the list, for the queue the gateway and workers open (no custom
      // prefix); the connection is never used.
      const conn = createRedis('redis://127.0.0.1:1', 'producer', { lazyConnect: true, retryStrategy: () => null });
      conn.on('error', () => undefined);
      const queue = new Queue(config.queueName, { connection: conn });
      queue.on('error', () => undefined);
      const waitKey = queue.toKey('wait');
      conn.disconnect();
      expect(waitKey).toBe(`bull:${config.queueName}:wait`);
      for (const file of ['services/gateway/src/queue/job-client.ts', 'services/worker/src/worker-service.ts']) expect(readFileSync(join(ROOT, file), 'utf8')).not.toMatch(/prefix:/);
      const scaled = find(objects, 'ScaledObject', 'gpt2-int8-worker') as K8sObject & { spec: { minReplicaCount: number; triggers: { type: string; metadata: Record<string, string> }[] } };
      expect(scaled.spec.triggers).toHaveLength(1);
      const trigger = scaled.spec.triggers[0] as { type: string; metadata: Record<string, string> };
      expect(trigger.metadata.listName).toBe(waitKey);
      // Never zero workers: the gateway queues nothing without a ready worker, so the list could not grow.
      expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      if (config.redis.sentinel) {
        expect(trigger.type).toBe('redis-sentinel');
        expect(env[trigger.metadata.addressesFromEnv as string]).toBe(config.redis.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(','));
        expect(env[trigger.metadata.sentinelMasterFromEnv as string]).toBe(config.redis.sentinel.masterName);
      } else {
        expect(trigger.type).toBe('redis');
        const address = env[trigger.metadata.addressFromEnv as string];
        expect(new URL(config.redis.url).host).toBe(address);
        // The bundled Redis's Service, fully qualified: KEDA's operator resolves it from its own namespace.
        const service = find(objects, 'Service', 'redis') as K8sObject & { spec: { ports: { port: number }[] } };
        expect(address).toBe(`redis.${NAMESPACE}.svc.cluster.local:${service.spec.ports[0]?.port}`);
      }
    }
  });

  it('grace periods outlast the drains; disruption budgets keep a gateway and evict one worker at a time', () => {
    const objects = kustomize(DEFAULT);
    const worker = find(objects, 'Deployment', 'gpt2-int8-worker');
    const workerConfig = readWorkerConfig(containerEnv(objects, container(worker)).env);
    expect(pod(worker).terminationGracePeriodSeconds).toBeGreaterThan(workerConfig.shutdownTimeoutMs / 1000);
    const gateway = find(objects, 'Deployment', 'gpt2-int8-gateway') as Workload;
    const gatewayConfig = readGatewayConfig(containerEnv(objects, container(gateway)).env);
    const preStop = container(gateway).lifecycle?.preStop?.exec?.command;
    expect(preStop?.[0]).toBe('sleep');
    // main.ts gives requests in flight REQUEST_TIMEOUT_MS, and exits by itself 5 s later.
    expect(pod(gateway).terminationGracePeriodSeconds).toBeGreaterThan(Number(preStop?.[1]) + gatewayConfig.requestTimeoutMs / 1000 + 5);
    const budget = (name: string) => (find(objects, 'PodDisruptionBudget', name) as K8sObject & { spec: { minAvailable?: number; maxUnavailable?: number } }).spec;
    expect(budget('gpt2-int8-gateway')).toMatchObject({ minAvailable: 1 });
    expect(gateway.spec.replicas).toBeGreaterThan(1);
    expect(budget('gpt2-int8-worker')).toMatchObject({ maxUnavailable: 1 });
    // The ScaledObject owns the worker count; a replicas field would fight it on every apply.
    expect((worker as Workload).spec.replicas).toBeUndefined();
  });

  it('docs/scaling-out.md states the autoscaling settings the manifests have', () => {
    const doc = readFileSync(join(ROOT, 'docs/scaling-out.md'), 'utf8');
    const scaled = find(kustomize(DEFAULT), 'ScaledObject', 'gpt2-int8-worker') as K8sObject & { spec: { minReplicaCount: number; maxReplicaCount: number; triggers: { metadata: Record<string, string> }[] } };
    const t = scaled.spec.triggers[0]?.metadata as Record<string, string>;
    expect(doc).toContain(`\`${t.listName}\``);
    expect(doc).toContain(`\`listLength: "${t.listLength}"\``);
    expect(doc).toContain(`\`maxReplicaCount: ${scaled.spec.maxReplicaCount}\``);
  });
});
