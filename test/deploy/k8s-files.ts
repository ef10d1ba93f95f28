/**
 * The Kubernetes manifests (deploy/k8s) read offline, for the manifest tests:
 *
 * - `kustomize(dir)`: the objects `kubectl apply -k dir` would send, for the subset of kustomize the
 *   manifests use — `resources` (files and directories), `namespace`, and `patches` by path, applied
 *   as JSON merge patches (RFC 7386), which is what kustomize does for custom resources and, for the
 *   maps these patches touch, for built-in kinds too. Anything else in a kustomization, or a patch
 *   that changes a list of a built-in kind (where kustomize's strategic merge would differ), is
 *   refused rather than rendered differently.
 * - `validate(object)`: the object against the Kubernetes API's schema (kubernetes-models) or
 *   KEDA's CRD schema (@kubernetes-models/keda), plus what kubectl's strict field validation adds:
 *   a field the schema does not know (a typo, a field in the wrong place) is an error. The schema
 *   validators read every property they know; a property they never read is unknown.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { ROOT } from './deploy-files.js';

export const K8S_DIR = join(ROOT, 'deploy/k8s');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [key: string]: unknown;
}

type Validated = { prototype: { validate(this: unknown): void } };
/** The kinds the manifests use, each with its schema. */
const MODELS: Record<string, Validated> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};
const CLUSTER_SCOPED = new Set(['Namespace']);
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches', 'namespace']);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Built-in kinds: the core group ("v1") and groups without a dot (apps, batch, policy). */
const builtIn = (apiVersion: string) => !apiVersion.split('/')[0]?.includes('.') || apiVersion === 'v1';

function readYaml(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    return doc.toJS() as K8sObject;
  }).filter((o) => o !== null);
}

function hasArray(v: unknown): boolean {
  return Array.isArray(v) || (isObject(v) && Object.values(v).some(hasArray));
}

/** RFC 7386: objects merge key by key, null removes, anything else (lists too) replaces. */
export function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (isObject(v) && isObject(target[k])) mergePatch(target[k] as Record<string, unknown>, v);
    else target[k] = structuredClone(v);
  }
  return target;
}

/** The objects `kubectl apply -k dir` would create (see above for the subset understood). */
export function kustomize(dir: string): K8sObject[] {
  const k = readYaml(join(dir, 'kustomization.yaml'))[0] as unknown as { resources?: string[]; patches?: { path?: string }[]; namespace?: string };
  for (const key of Object.keys(k)) if (!KUSTOMIZATION_FIELDS.has(key)) throw new Error(`${dir}/kustomization.yaml: "${key}" is not rendered by this test (test/deploy/k8s-files.ts)`);
  const objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const path = join(dir, r);
    objects.push(...(statSync(path).isDirectory() ? kustomize(path) : readYaml(path)));
  }
  for (const p of k.patches ?? []) {
    if (Object.keys(p).join() !== 'path' || p.path === undefined) throw new Error(`${dir}: only patches given by path are rendered here`);
    for (const patch of readYaml(join(dir, p.path))) {
      const target = objects.find((o) => o.apiVersion === patch.apiVersion && o.kind === patch.kind && o.metadata.name === patch.metadata.name);
      if (!target) throw new Error(`${dir}/${p.path}: no ${patch.kind} ${patch.metadata.name} to patch`);
      if (builtIn(patch.apiVersion) && hasArray(patch)) throw new Error(`${dir}/${p.path}: changes a list of a built-in kind, where kustomize's strategic merge differs from the merge rendered here`);
      mergePatch(target, patch);
    }
  }
  if (k.namespace !== undefined) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return objects;
}

/** Every kustomization under deploy/k8s: the ways to apply it. */
export function kustomizations(dir = K8S_DIR): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    if (readdirSync(d).includes('kustomization.yaml')) found.push(d);
    for (const e of readdirSync(d)) if (statSync(join(d, e)).isDirectory()) walk(join(d, e));
  };
  walk(dir);
  return found.sort();
}

/**
 * Schema errors, and fields the schema does not know, as "path: message" lines (none: valid).
 * The validator runs on a proxy of the object that notes every property it reads.
 */
export function validate(object: K8sObject): string[] {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) return [`${object.apiVersion} ${object.kind}: no schema known here`];
  const read = new Map<object, Set<PropertyKey>>();
  const proxies = new Map<object, object>();
  const wrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const known = proxies.get(value);
    if (known) return known;
    const seen = new Set<PropertyKey>();
    read.set(value, seen);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        seen.add(key);
        return wrap(Reflect.get(target, key, receiver));
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  const errors: string[] = [];
  try {
    Model.prototype.validate.call(wrap(object));
  } catch (err) {
    errors.push(...(err as Error).message.split('\n').filter((l) => l.trim() !== ''));
  }
  const unknown = (value: unknown, path: string): void => {
    if (Array.isArray(value)) return value.forEach((v, i) => unknown(v, `${path}/${i}`));
    if (!isObject(value)) return;
    const seen = read.get(value);
    for (const [k, v] of Object.entries(value)) {
      if (seen?.has(k)) unknown(v, `${path}/${k}`);
      else errors.push(`${path}/${k}: not a field of ${object.kind} here`);
    }
  };
  unknown(object, '');
  return errors.map((e) => `${object.kind} ${object.metadata?.name}: ${e}`);
}
