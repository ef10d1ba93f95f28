/**
 * The soak's verdict and report (`npm run soak`, soak-cli.ts): from every request's sample, the
 * services' RSS every few seconds, CPU samples and the workers' job counts to soak-<date>.json and
 * its markdown. The bounds a run must keep are here.
 */
import { percentile } from '@gpt2-int8/contract/stats';
import type { CpuSample, CpuShare } from './cpu-share.js';
import { type MachineInfo, machineMarkdown } from './machine.js';
import { table } from './markdown.js';

export type Kind = 'predict' | 'generate' | 'stream' | 'compare';
const KINDS: readonly Kind[] = ['predict', 'generate', 'stream', 'compare'];
/** The load, ten requests at a time. */
export const MIX: readonly Kind[] = ['predict', 'predict', 'predict', 'predict', 'predict', 'generate', 'generate', 'stream', 'stream', 'compare'];
/** How often the services' RSS and the CPU are sampled. */
export const RSS_EVERY_MS = 5000;
/** A request not answered by then counts as lost. */
export const CLIENT_DEADLINE_MS = 60_000;
/** A process's resident memory may grow this much over the measured run (or 15% of its start). */
const RSS_GROWTH_BOUND = 64 * 2 ** 20;
/** Every full minute's p99 within this factor of the best minute's (or within P99_SLACK_MS of it). */
const P99_SPREAD_BOUND = 2;
const P99_SLACK_MS = 25;

export interface Sample {
  i: number;
  id: string;
  kind: Kind;
  measured: boolean;
  /** ms since the measured phase began (negative during the warm-up). */
  sentAt: number;
  ms: number;
  status: number | 'timeout' | 'network';
  /** A 200 carrying this request's id and prompt (for a stream: each token once, then done). */
  ok: boolean;
  /** The same answer or token delivered twice. */
  duplicated: boolean;
  code?: string;
  worker?: string;
}

export interface SoakSettings {
  seconds: number;
  rate: number;
  workers: number;
  warmup: number;
  maxNewTokens: number;
}

/** What a run recorded. Times `t` are seconds since the measured phase began. */
export interface SoakRun {
  command: string;
  startedAt: Date;
  machine: MachineInfo;
  model: { dir: string; config: Record<string, number>; int8_bytes: number; synthetic: boolean };
  settings: SoakSettings;
  /** Every request, the warm-up's too. */
  samples: Sample[];
  /** Requests due in the measured phase. */
  due: number;
  sendingMs: number;
  rss: Array<{ t: number } & Record<string, number>>;
  cpu: Array<{ t: number; sample: CpuSample | undefined }>;
  /** Jobs the workers ran, by request id (from their log lines). */
  jobsRun: Map<string, number>;
  exitCodes: Record<string, number | null>;
  workerIds: string[];
  logs: string;
}

interface MinuteStats {
  minute: number;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
  p99ByKind: Partial<Record<Kind, number>>;
  full: boolean;
  /** Cores busy with the soak's own processes, and with everything else on the machine. */
  cpuOurs?: number;
  cpuOthers?: number;
}

const round = (x: number) => Math.round(x * 10) / 10;
const mib = (b: number | undefined) => (b === undefined ? NaN : Math.round((b / 2 ** 20) * 10) / 10);

function minutes(samples: Sample[], seconds: number, cpu: SoakRun['cpu'], share: CpuShare): MinuteStats[] {
  const out: MinuteStats[] = [];
  for (let m = 0; m * 60_000 < seconds * 1000; m++) {
    const inMinute = samples.filter((s) => s.sentAt >= m * 60_000 && s.sentAt < (m + 1) * 60_000);
    const ms = (kind?: Kind) => inMinute.filter((s) => s.ok && (kind === undefined || s.kind === kind)).map((s) => s.ms);
    const p99ByKind: Partial<Record<Kind, number>> = {};
    for (const k of KINDS) if (ms(k).length > 0) p99ByKind[k] = round(percentile(ms(k), 99));
    const from = cpu.filter((c) => c.t <= m * 60).at(-1) ?? cpu[0];
    const to = cpu.filter((c) => c.t <= (m + 1) * 60).at(-1) ?? cpu.at(-1);
    out.push({
      minute: m + 1,
      requests: inMinute.length,
      errors: inMinute.filter((s) => !s.ok).length,
      p50: round(percentile(ms(), 50)),
      p99: round(percentile(ms(), 99)),
      p99ByKind,
      full: (m + 1) * 60_000 <= seconds * 1000,
      cpuOurs: share.ownCores(from?.sample, to?.sample) ?? undefined,
      cpuOthers: share.othersCores(from?.sample, to?.sample) ?? undefined,
    });
  }
  return out;
}

export type SoakResult = ReturnType<typeof soakResult>;

/** The verdict: nothing lost, duplicated or failed, a stable p99, bounded memory, clean exits. */
export function soakResult(run: SoakRun, share: CpuShare) {
  const s = run.settings;
  const measured = run.samples.filter((x) => x.measured).sort((a, b) => a.i - b.i);
  const answered = new Map<string, number>();
  for (const x of run.samples) if (typeof x.status === 'number') answered.set(x.id, (answered.get(x.id) ?? 0) + 1);
  const lost = measured.filter((x) => typeof x.status !== 'number').length + (run.due - measured.length);
  const duplicatedAnswers = measured.filter((x) => x.duplicated || (answered.get(x.id) ?? 0) > 1).length;
  const jobsRunTwice = [...run.jobsRun.entries()].filter(([id, n]) => n > 1 && id.startsWith('soak-')).length;
  const errors = measured.filter((x) => !x.ok);
  const perMinute = minutes(measured, s.seconds, run.cpu, share);
  const full = perMinute.filter((m) => m.full && m.requests > 0);
  const bestP99 = full.length === 0 ? null : Math.min(...full.map((m) => m.p99));
  const worstP99 = full.length === 0 ? null : Math.max(...full.map((m) => m.p99));
  const p99Stable = bestP99 === null || worstP99 === null || worstP99 <= Math.max(bestP99 * P99_SPREAD_BOUND, bestP99 + P99_SLACK_MS);
  const memory = Object.keys(run.rss[0] ?? {})
    .filter((name) => name !== 't')
    .map((name) => {
      const series = run.rss.map((r) => r[name] as number).filter((x) => Number.isFinite(x));
      const first = series[0] ?? NaN;
      const last = series.at(-1) ?? NaN;
      const bound = Math.max(RSS_GROWTH_BOUND, first * 0.15);
      return { process: name, start_mib: mib(first), max_mib: mib(Math.max(...series)), end_mib: mib(last), growth_mib: mib(last - first), bound_mib: mib(bound), ok: last - first <= bound };
    });
  const ok = lost === 0 && duplicatedAnswers === 0 && jobsRunTwice === 0 && errors.length === 0 && p99Stable && memory.every((m) => m.ok) && Object.values(run.exitCodes).every((c) => c === 0);
  const okMs = (kind?: Kind) => measured.filter((x) => x.ok && (kind === undefined || x.kind === kind)).map((x) => x.ms);
  const byKind = Object.fromEntries(
    KINDS.map((k) => [k, { requests: measured.filter((x) => x.kind === k).length, p50_ms: round(percentile(okMs(k), 50)), p99_ms: round(percentile(okMs(k), 99)), max_ms: round(Math.max(...okMs(k))) }]),
  );
  return {
    command: run.command,
    date: run.startedAt.toISOString(),
    machine: run.machine,
    model: { dir: run.model.dir, config: run.model.config, int8_mib: mib(run.model.int8_bytes), synthetic: run.model.synthetic },
    settings: { seconds: s.seconds, rate_per_s: s.rate, workers: s.workers, warmup_s: s.warmup, mix: MIX, max_new_tokens: s.maxNewTokens, client_deadline_ms: CLIENT_DEADLINE_MS },
    verdict: {
      ok,
      sent: run.due,
      answered: measured.filter((x) => typeof x.status === 'number').length,
      lost,
      duplicated_answers: duplicatedAnswers,
      jobs_run_twice: jobsRunTwice,
      errors: errors.length,
      error_rate: run.due === 0 ? 0 : errors.length / run.due,
      achieved_rate_per_s: round(run.due / (run.sendingMs / 1000)),
      p99_stable: p99Stable,
      p99_best_minute_ms: bestP99,
      p99_worst_minute_ms: worstP99,
      memory_bounded: memory.every((m) => m.ok),
      exit_codes: run.exitCodes,
    },
    latency_ms: { p50: round(percentile(okMs(), 50)), p99: round(percentile(okMs(), 99)), max: round(Math.max(...okMs())), by_kind: byKind },
    other_cpu_max_cores: Math.max(0, ...perMinute.map((m) => m.cpuOthers ?? 0)),
    per_minute: perMinute,
    memory,
    rss_timeline_mib: run.rss.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 't' ? v : mib(v)]))),
    answers_by_worker: Object.fromEntries(run.workerIds.map((id) => [id, measured.filter((x) => x.worker === id).length])),
    first_errors: errors.slice(0, 20).map((x) => ({ id: x.id, kind: x.kind, status: x.status, code: x.code, ms: round(x.ms) })),
    logs: run.logs,
  };
}

/** The lines printed at the end of a run. */
export function soakSummary(r: SoakResult): string[] {
  const v = r.verdict;
  const busiest = r.per_minute.reduce((a, m) => ((m.cpuOthers ?? 0) > (a.cpuOthers ?? 0) ? m : a), r.per_minute[0] as MinuteStats);
  return [
    `${v.ok ? 'PASS' : 'FAIL'}: ${v.sent} requests in ${r.settings.seconds} s at ${r.settings.rate_per_s}/s — lost ${v.lost}, duplicated ${v.duplicated_answers} (jobs run twice ${v.jobs_run_twice}), errors ${v.errors}`,
    `latency p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms; ` +
      (v.p99_best_minute_ms === null ? 'no full minute to compare p99 across' : `p99 per full minute ${v.p99_best_minute_ms}–${v.p99_worst_minute_ms} ms (${v.p99_stable ? 'stable' : 'NOT stable'})`),
    ...r.memory.map((m) => `${m.process}: RSS ${m.start_mib} → ${m.end_mib} MiB (max ${m.max_mib}, growth ${m.growth_mib}, bound ${m.bound_mib})${m.ok ? '' : ' — OVER'}`),
    `exit codes ${JSON.stringify(v.exit_codes)}`,
    ...((busiest.cpuOthers ?? 0) > 0.25 ? [`note: other processes on this machine used up to ${busiest.cpuOthers} cores (minute ${busiest.minute}); latency then is not that of a quiet machine`] : []),
  ];
}

export function soakMarkdown(r: SoakResult): string {
  const v = r.verdict;
  const counts = MIX.reduce<Record<string, number>>((c, k) => ({ ...c, [k]: (c[k] ?? 0) + 1 }), {});
  const dash = (x: number | undefined) => (x === undefined ? '–' : String(x));
  return [
    `# Soak ${r.date.slice(0, 16).replace('T', ' ')} UTC — ${v.ok ? 'PASS' : 'FAIL'}`,
    '',
    `\`${r.command}\``,
    '',
    machineMarkdown(r.machine),
    '',
    `Model: ${r.model.dir} — ${r.model.config.n_layer} layers, ${r.model.config.n_embd} wide, INT8 ${r.model.int8_mib} MiB${r.model.synthetic ? ' (synthetic weights)' : ''}. ` +
      `Loopback only: a private redis-server, the built gateway and ${r.settings.workers} workers as processes; an open-loop client at ${r.settings.rate_per_s} requests/s ` +
      `after a ${r.settings.warmup_s} s warm-up; mix per 10 requests: ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ')}; generate: ${r.settings.max_new_tokens} new tokens, sampled.`,
    '',
    table(
      ['', ''],
      [
        ['requests sent (measured)', `${v.sent} (${v.achieved_rate_per_s}/s)`],
        ['answered', String(v.answered)],
        ['lost (no answer)', String(v.lost)],
        ['duplicated (an answer or token twice; a job run twice)', `${v.duplicated_answers}; ${v.jobs_run_twice}`],
        ['errors (not a 200 with its own id and prompt)', `${v.errors} (rate ${v.error_rate})`],
        ['latency p50 / p99 / max', `${r.latency_ms.p50} / ${r.latency_ms.p99} / ${r.latency_ms.max} ms`],
        v.p99_best_minute_ms === null
          ? ['p99 per full minute', '(no full minute: run longer than 60 s)']
          : ['p99 per full minute, best – worst', `${v.p99_best_minute_ms} – ${v.p99_worst_minute_ms} ms (${v.p99_stable ? 'stable' : 'NOT stable'}: within ${P99_SPREAD_BOUND}× or ${P99_SLACK_MS} ms of the best)`],
        ['memory', `${v.memory_bounded ? 'bounded' : 'OVER the bound'} (growth ≤ max(${mib(RSS_GROWTH_BOUND)} MiB, 15% of the start) per process)`],
        ['exit codes after SIGTERM', Object.entries(v.exit_codes).map(([k, c]) => `${k} ${c}`).join(', ')],
        ["other processes' CPU, busiest minute", `${r.other_cpu_max_cores} cores`],
        ['answers by worker', Object.entries(r.answers_by_worker).map(([k, n]) => `${k} ${n}`).join(', ')],
      ],
    ),
    '',
    '## Per minute',
    '',
    `CPU columns: cores busy with the soak's own processes (client, Redis, gateway, workers) and with anything else on this ${r.machine.cores}-core machine.`,
    '',
    table(
      ['minute', 'requests', 'errors', 'p50 ms', 'p99 ms', 'p99 predict', 'p99 generate', 'p99 stream', 'p99 compare', 'CPU soak', 'CPU others'],
      r.per_minute.map((m) => [`${m.minute}${m.full ? '' : ' (partial)'}`, String(m.requests), String(m.errors), String(m.p50), String(m.p99), ...KINDS.map((k) => dash(m.p99ByKind[k])), dash(m.cpuOurs), dash(m.cpuOthers)]),
    ),
    '',
    '## By kind (whole run)',
    '',
    table(['kind', 'requests', 'p50 ms', 'p99 ms', 'max ms'], Object.entries(r.latency_ms.by_kind).map(([k, x]) => [k, String(x.requests), String(x.p50_ms), String(x.p99_ms), String(x.max_ms)])),
    '',
    `## Memory (RSS, MiB; sampled every ${RSS_EVERY_MS / 1000} s from the end of the warm-up)`,
    '',
    table(['process', 'start', 'max', 'end', 'growth', 'bound'], r.memory.map((m) => [m.process, String(m.start_mib), String(m.max_mib), String(m.end_mib), String(m.growth_mib), `${m.bound_mib}${m.ok ? '' : ' **over**'}`])),
    '',
  ].join('\n');
}
