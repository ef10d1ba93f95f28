/**
 * Environment for a worker process, set by whatever starts one (npm start, the bench, the soak test,
 * the worker image's Dockerfile, which repeats both values).
 *
 * GLIBC_TUNABLES: glibc raises its mmap threshold after large frees, so ONNX Runtime's big start-up
 * allocations end up in a heap it never returns to the system; a fixed threshold keeps them in
 * mmap'ed blocks that are freed for real (GPT-2 small INT8 session: 302 → 262 MB at 256 KiB). Not
 * lower than 1 MiB: onnxruntime-node returns every output in a fresh buffer, and a KV-cache step
 * that feeds present.* back (graphs without present_new.*, such as an imported ONNX export; see
 * shared/src/kv-decoder.ts) gets 2 × n_layer of them (393 KB each for small at 128 positions);
 * mmap'ed, each is page-faulted in anew: such a step at 127 cached positions cost 16.2–16.3 ms at
 * 256 KiB and 11.7–11.8 at 1 MiB (`npm run bench:decode`, the first version of bench/results/decode-small-2026-11-26.md), worker RSS the same
 * within noise. Batched predicts' logits (201 KB a row) stay under it up to 5 rows.
 *
 * NODE_OPTIONS: V8's young generation grows to 16 MiB semi-spaces while the worker loads its modules,
 * the tokenizer and the model, and keeps them, although a serving worker has under 2 MiB of young
 * objects at a time. Capped at 2 MiB: small INT8 worker after loading and 10 predicts 345 → 317 MB
 * median (4 runs each); scavenges while serving about as many as with the default (external memory
 * from ONNX Runtime's tensors triggers them anyway) and predict latency unchanged. It replaces any
 * NODE_OPTIONS the launcher has for the worker.
 */
export const WORKER_PROCESS_ENV = {
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576',
  NODE_OPTIONS: '--max-semi-space-size=2',
} as const;
