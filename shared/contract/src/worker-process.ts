/**
 * Environment for a worker process, set by whatever starts one (npm start, the bench, the soak test,
 * the worker image's Dockerfile, which repeats both values). The figures behind both are in
 * docs/performance.md, "Decisions".
 *
 * GLIBC_TUNABLES: a fixed mmap threshold, because glibc otherwise raises it after large frees and
 * ONNX Runtime's start-up allocations end up in a heap never returned to the system. 1 MiB rather
 * than lower: onnxruntime-node returns every output in a fresh buffer, and the few-hundred-KB outputs
 * of a KV-cache step that feeds present.* back (shared/runtime/src/kv-decoder.ts, graphs without
 * present_new.*) would each be a new mmap above a lower threshold, page-faulted in anew.
 *
 * NODE_OPTIONS: V8's young generation grows to 16 MiB semi-spaces while the worker loads and keeps
 * them, although a serving worker has under 2 MiB of young objects at a time; capped at 2 MiB. It
 * replaces any NODE_OPTIONS the launcher has for the worker.
 */
export const WORKER_PROCESS_ENV = {
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576',
  NODE_OPTIONS: '--max-semi-space-size=2',
} as const;
