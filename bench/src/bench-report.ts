/** The bench's result file (JSON) and its Markdown summary. */
import type { AgreementRow } from './agreement-bench.js';
import type { MachineInfo } from './machine.js';
import { machineMarkdown } from './machine.js';
import { fixed, mb, table } from './markdown.js';
import { GENERATE_TOKENS } from './load.js';
import type { ModelBenchResult } from './model-bench.js';
import { clock, type StepRecord } from './progress.js';
import type { ServiceBenchResult, WorkerRss } from './service-bench.js';
import { withSpread } from './summary.js';
import type { TargetRow } from './targets.js';
import { GENERATION_HEADER, type GenerationBenchResult, generationTable } from './generation-bench.js';

function generationSection(g: GenerationBenchResult | null | undefined): string {
  if (!g) return '';
  return [
    '## Generation (one worker, streamed greedy generations, continuous batching on and off)',
    '',
    `C clients each sending its next request when the previous one ends, ${g.settings.rounds} round(s), on and off alternating. tokens/s: tokens that arrived in the window (the first ${g.settings.skipS} s of each ${Object.entries(g.settings.duration_s).map(([n, d]) => `${d} s (${n} tokens)`).join(', ')} run skipped), median of rounds [each round]. TTFT: request sent → first token event, every request (the first C, sent at once, included); ITL: gap between a request's successive token events, those starting in the window (client side, through the gateway); percentiles pooled over rounds. Requests running at the end of a run are dropped; their tokens until then count.`,
    '',
    table(GENERATION_HEADER, generationTable(g), ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
    '',
  ].join('\n');
}

export interface BenchResult {
  kind: 'bench';
  name: string;
  started_at: string;
  finished_at: string;
  duration_s: number;
  command: string;
  options: Record<string, unknown>;
  machine: MachineInfo;
  load_after: number[];
  model: ModelBenchResult[];
  worker_rss: WorkerRss | null;
  /** Agreement with FP32 on student-tiny (null when the checkpoint is absent or the model section did not run). */
  agreement: { window: number; text: string; rows: AgreementRow[] } | null;
  service: ServiceBenchResult | null;
  /** Absent in results written before the generation section existed. */
  generation?: GenerationBenchResult | null;
  targets: TargetRow[];
  /** Each step's duration and the CPU other processes used meanwhile (a shared machine). */
  steps: StepRecord[];
  notes: string[];
}

export function agreementSection(a: BenchResult['agreement']): string {
  if (!a) return '';
  const first = a.rows[0];
  return [
    '### Agreement with FP32 on trained weights (student-tiny)',
    '',
    `Every position of ${first?.windows ?? 0} consecutive ${a.window}-token windows of ${a.text} (${first?.positions ?? 0} positions), each window one pass from an empty cache, graphs with logits for every position.`,
    '',
    table(
      ['variant', 'positions', 'top-1 agreement', 'top-5 overlap', 'mean KL (nats)', 'max KL', 'INT8 MB'],
      a.rows.map((r) => [r.variant, String(r.positions), `${(100 * r.top1_agreement).toFixed(2)}%`, `${(100 * r.top5_overlap).toFixed(2)}%`, r.mean_kl.toExponential(2), r.max_kl.toExponential(2), mb(r.int8_bytes)]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  ].join('\n');
}

function modelSection(models: ModelBenchResult[], rss: WorkerRss | null): string {
  if (models.length === 0 && !rss) return '';
  const out = ['## Model level (1 intra-op thread)', ''];
  if (models.some((m) => m.artifact.synthetic)) out.push('Synthetic (random) weights with the true shapes: fine for speed and size, meaningless for predictions.', '');
  out.push(
    '### Next-token latency: FP32, the project\'s INT8 and the ORT-standard peer',
    '',
    'One forward pass of the prompt without cache, and one KV-cache decode step (one new token against the cached context, fetching the logits and the new position\'s keys and values, as the worker does). ' +
      'The peer is the same FP32 graph quantized as onnxruntime\'s `quantize_dynamic` does by default (per-tensor uint8 activations through DynamicQuantizeLinear, per-tensor int8 weights; ONNX Runtime fuses them into DynamicQuantizeMatMul). ' +
      'The three models run interleaved (ABBA). ms: median (p10–p90); ratios of medians, [p10–p90 of the per-run ratios].',
    '',
    table(
      ['preset', 'prompt', 'FP32 ms', 'INT8 ms', 'ORT-standard ms', 'INT8 / FP32', 'INT8 / ORT-standard'],
      models.flatMap((m) => [...m.latency.map((l) => ({ label: `${l.prompt_tokens} tokens`, l })), { label: `decode step at ${m.decode.context}`, l: m.decode }].map(({ label, l }) => [
        m.preset,
        label,
        withSpread(l.fp32_ms),
        withSpread(l.int8_ms),
        withSpread(l.peer_ms),
        `${fixed(l.ratio, 3)} [${fixed(l.pair_ratio_p10, 2)}–${fixed(l.pair_ratio_p90, 2)}]`,
        `${fixed(l.peer_ratio, 3)} [${fixed(l.peer_pair_ratio_p10, 2)}–${fixed(l.peer_pair_ratio_p90, 2)}]`,
      ])),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '### Generation with and without the KV cache (INT8, greedy)',
    '',
    table(
      ['preset', 'prompt → context', 'with cache ms/token', 'tokens/s', 'recompute ms/token', 'tokens/s', 'cache / recompute', 'prefill ms', 'same tokens'],
      models.map((m) => {
        const g = m.generation;
        return [
          m.preset,
          `${g.prompt_tokens} + ${g.new_tokens} → ${g.context}`,
          withSpread(g.cached_ms_per_token),
          fixed(g.cached_tokens_per_s, 1),
          withSpread(g.recompute_ms_per_token),
          fixed(g.recompute_tokens_per_s, 1),
          fixed(g.ratio, 3),
          fixed(g.prefill_ms.median),
          g.identical_tokens ? 'yes' : 'no',
        ];
      }),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    ),
    '',
    '### Artifact sizes and session load time',
    '',
    table(
      ['preset', 'FP32', 'INT8', 'INT8 / FP32', 'ORT-standard', 'load FP32 ms', 'load INT8 ms'],
      models.map((m) => [m.preset, mb(m.sizes.fp32_bytes), mb(m.sizes.int8_bytes), fixed(m.sizes.ratio, 3), mb(m.sizes.peer_bytes), withSpread(m.load_ms.fp32, 0), withSpread(m.load_ms.int8, 0)]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  if (rss) {
    out.push(
      '### Worker memory',
      '',
      `Real worker processes (\`services/worker/dist/main.js\`, MAX_BATCH=8, COMPARE_FP32=false) on the ${rss.preset} INT8 artifact (${mb(rss.int8_bytes)}; target ≤ ${mb(rss.limit_bytes)}), VmRSS from /proc: the median of ${rss.processes} fresh processes, each one's figure in brackets (the same code measures up to ±10 MB apart from one process to the next); peak: the highest.`,
      '',
      table(
        ['after', 'VmRSS', 'peak (VmHWM)'],
        [
          [`loading and ${rss.short_predicts} short predicts`, `**${mb(rss.rss_bytes)}** (${rss.rss_samples_bytes.map(mb).join(', ')})`, ''],
          [`${rss.long_predicts} more: ~120-token prompts, alone and in batches of 8`, mb(rss.rss_after_long_bytes), mb(rss.peak_rss_bytes)],
          ...(rss.session_only_rss_bytes !== undefined ? [['baseline: a bare Node process with only the INT8 session, after 10 short prompts', mb(rss.session_only_rss_bytes), '']] : []),
          ...(rss.tables_rss_bytes !== undefined && rss.tables_rss_after_long_bytes !== undefined
            ? [['of the worker\'s VmRSS, pages of the mapped lookup tables (`model.int8.onnx.data`: file-backed, shared by a host\'s workers), after the short / the long predicts', `${mb(rss.tables_rss_bytes)} / ${mb(rss.tables_rss_after_long_bytes)}`, '']]
            : []),
        ],
        ['l', 'r', 'r'],
      ),
      '',
    );
  }
  return out.join('\n');
}

function serviceSection(s: ServiceBenchResult | null): string {
  if (!s) return '';
  const st = s.settings;
  const out = [
    '## Service level (gateway → Redis/BullMQ → workers)',
    '',
    `${s.preset} INT8 artifact, 1 thread per worker, autocannon on the same machine (it shares the 2 cores), cycling the five legacy prompts: POST /api/predict, or (load "generate") ` +
      `POST /api/generate of ${GENERATE_TOKENS} greedy tokens; ` +
      `${st.durationS} s per run after a ${st.warmupS} s warm-up, ${st.rounds} round(s) with the configurations alternating (order reversed every other round). ` +
      'Throughput: median over rounds (min–max); latency: client-side, all rounds pooled; inference and queue: the medians of the responses\' timings_ms; ' +
      'CPU: cores used by each role during a run (/proc/<pid>/stat; client = the bench process running autocannon), median over rounds.',
    '',
    table(
      ['load', 'workers', 'MAX_BATCH', 'concurrency', 'req/s', 'p50 ms', 'p99 ms', 'inference p50 ms', 'queue p50 ms', 'ok', 'failed', 'CPU cores: workers / gateway / redis / client'],
      s.groups.flatMap((g) =>
        g.runs.map((r) => [
          g.workload ?? 'predict',
          String(g.workers),
          String(g.maxBatch),
          String(r.concurrency),
          `${fixed(r.throughput_rps.median, 1)} (${fixed(r.throughput_rps.min, 1)}–${fixed(r.throughput_rps.max, 1)})`,
          fixed(r.latency_ms.p50),
          fixed(r.latency_ms.p99),
          fixed(r.timings_ms.inference),
          fixed(r.timings_ms.queue),
          String(r.ok),
          String(r.failed),
          ['workers', 'gateway', 'redis', 'client'].map((k) => fixed(r.cpu_cores[k] ?? Number.NaN)).join(' / '),
        ]),
      ),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  ];
  if (s.queue_hop) {
    const h = s.queue_hop;
    out.push(
      `- Queue hop (${h.group}, concurrency 1): end-to-end p50 ${fixed(h.e2e_p50_ms)} ms − worker inference p50 ${fixed(h.inference_p50_ms)} ms = **${fixed(h.hop_ms)} ms** ` +
        `(gateway-measured total p50 ${fixed(h.gateway_total_p50_ms)} ms; BullMQ queue wait p50 ${fixed(h.queue_p50_ms)} ms, whole ms; tokenize p50 ${fixed(h.tokenize_p50_ms, 3)} ms).`,
    );
  }
  if (s.scaling) {
    const u = s.scaling.unbatched;
    const g = s.scaling.generate;
    out.push(
      `- Scaling at concurrency ${s.scaling.concurrency}, MAX_BATCH=${st.maxBatch}: 2 workers ${fixed(s.scaling.two_workers_rps, 1)} req/s ÷ 1 worker ${fixed(s.scaling.one_worker_rps, 1)} req/s = **${fixed(s.scaling.ratio)}**` +
        (u ? `; with MAX_BATCH=1: ${fixed(u.two_workers_rps, 1)} ÷ ${fixed(u.one_worker_rps, 1)} req/s = ${fixed(u.ratio)}` : '') +
        (g ? `; generating ${g.max_new_tokens} tokens at concurrency ${g.concurrency}: ${fixed(g.two_workers_rps, 2)} ÷ ${fixed(g.one_worker_rps, 2)} req/s = **${fixed(g.ratio)}**.` : '.'),
    );
  }
  if (s.batching) {
    const b = s.batching;
    out.push(
      `- Micro-batching at concurrency ${b.concurrency}, ${b.workers} worker(s): MAX_BATCH=${st.maxBatch} ${fixed(b.batched_rps, 1)} req/s ÷ MAX_BATCH=1 ${fixed(b.unbatched_rps, 1)} req/s = **${fixed(b.gain)}×**` +
        (b.batched_c1_p50_ms !== undefined && b.unbatched_c1_p50_ms !== undefined ? `; a lone request (concurrency 1) p50 ${fixed(b.batched_c1_p50_ms)} ms with batching vs ${fixed(b.unbatched_c1_p50_ms)} ms without.` : '.'),
    );
  }
  const rss = s.groups.flatMap((g) => g.worker_rss_bytes);
  if (rss.length) out.push(`- Worker VmRSS during these runs: ${mb(Math.min(...rss))}–${mb(Math.max(...rss))}.`);
  out.push('');
  return out.join('\n');
}

function backgroundSection(steps: StepRecord[]): string {
  const known = steps.filter((s) => s.others_cores !== null);
  if (known.length === 0) return '';
  return [
    '## Background load',
    '',
    'CPU used by other processes on the machine while each step ran (machine busy time from /proc/stat minus the bench and the services it started), in cores of the ' +
      'machine\'s total. Near 0: measured in quiet; approaching 1 on a 2-core machine: someone else had a core.',
    '',
    table(
      ['step', 'seconds', 'other processes (cores)'],
      steps.map((s) => [s.label, s.seconds.toFixed(1), s.others_cores === null ? 'n/a' : s.others_cores.toFixed(2)]),
      ['l', 'r', 'r'],
    ),
    '',
  ].join('\n');
}

export function targetsTable(rows: TargetRow[]): string {
  return table(
    ['what', 'target', 'measured', 'result', 'measured on', 'anchor'],
    rows.map((r) => [r.what, r.target, r.shown, r.pass === null ? '—' : r.pass ? '**PASS**' : '**FAIL**', r.source, r.anchor]),
  );
}

export function benchMarkdown(r: BenchResult): string {
  const out = [
    `# Benchmark ${r.name}`,
    '',
    `\`${r.command}\` — started ${r.started_at}, took ${clock(r.duration_s)}.`,
    '',
    machineMarkdown(r.machine),
    `- load average at the end: ${r.load_after.join(' / ')}`,
    '',
    ...r.notes.map((n) => `> **Note:** ${n}\n`),
    modelSection(r.model, r.worker_rss),
    agreementSection(r.agreement),
    serviceSection(r.service),
    generationSection(r.generation),
    '## Targets',
    '',
    targetsTable(r.targets),
    '',
    backgroundSection(r.steps),
  ];
  return out.join('\n');
}
