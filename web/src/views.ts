/**
 * The result views and the model card, built from API responses. Each returns a fresh element, so
 * switching language re-renders the last result from its data.
 */
import type { CompareResponse, GenerateResponse, ModelInfoResponse, PredictResponse, StreamToken } from './api.js';
import { bytes, h, ms, percent, showToken } from './dom.js';
import { t, tn, type Key } from './i18n.js';

type TokenProb = PredictResponse['top_k'][number];
type Timings = PredictResponse['timings_ms'];

/** Top-k as labelled bars; the bar is decoration, the percentage is the text read aloud. */
export function topKBars(items: TokenProb[], chosenId?: number): HTMLElement {
  const max = Math.max(...items.map((i) => i.prob), 1e-9);
  return h(
    'ol',
    { class: 'bars' },
    ...items.map((item) => {
      const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
      bar.style.width = `${Math.max(1, (item.prob / max) * 100)}%`;
      return h(
        'li',
        { class: item.token_id === chosenId ? 'chosen' : undefined },
        h('span', { class: 'token', title: `id ${item.token_id}` }, showToken(item.token)),
        h('span', { class: 'track' }, bar),
        h('span', { class: 'prob' }, percent(item.prob)),
      );
    }),
  );
}

/** The timing breakdown: the worker's stages, and what the gateway and network added on top. */
export function timingsView(timings: Timings, extra?: string): HTMLElement {
  // A model loaded for this request (compare's FP32, the first time) is its own row, not
  // "Network & gateway".
  const load = timings.load ?? 0;
  const other = Math.max(0, timings.total - timings.queue - timings.tokenize - timings.inference - load);
  const rows: Array<[Key, number]> = [
    ['timings.queue', timings.queue],
    ['timings.tokenize', timings.tokenize],
    ['timings.inference', timings.inference],
    ...(timings.load !== undefined ? [['timings.load', timings.load] as [Key, number]] : []),
    ['timings.other', other],
  ];
  const stack = h('div', { class: 'stack', 'aria-hidden': 'true' });
  for (const [key, value] of rows) {
    const seg = h('span', { class: `seg seg-${key.split('.')[1] ?? ''}`, title: `${t(key)} ${ms(value)}` });
    seg.style.flexGrow = String(Math.max(value, 0.001));
    stack.append(seg);
  }
  return h(
    'div',
    { class: 'timings' },
    h('h3', {}, t('timings.title')),
    stack,
    h(
      'dl',
      { class: 'timing-list' },
      // A div per label/value pair (allowed in <dl>) keeps each pair together when the grid wraps.
      ...rows.map(([key, value]) => h('div', {}, h('dt', { class: `key-${key.split('.')[1] ?? ''}` }, t(key)), h('dd', {}, ms(value)))),
      h('div', { class: 'total' }, h('dt', {}, t('timings.total')), h('dd', {}, ms(timings.total))),
    ),
    extra ? h('p', { class: 'muted' }, extra) : null,
  );
}

function workerLine(worker: string): HTMLElement {
  return h('p', { class: 'worker muted', 'data-testid': 'worker' }, t('result.worker', { worker }));
}

export function predictView(r: PredictResponse): HTMLElement {
  return h(
    'div',
    { class: 'result predict', 'data-testid': 'predict-result' },
    h(
      'p',
      { class: 'continuation' },
      h('span', { class: 'prompt-echo' }, r.prompt),
      h('mark', { class: 'next', 'data-testid': 'next-token' }, r.token),
    ),
    h('p', { class: 'label' }, t('result.nextToken'), ': ', h('code', {}, showToken(r.token))),
    h('h3', {}, t('result.topK', { k: r.top_k.length })),
    topKBars(r.top_k, r.token_id),
    timingsView(r.timings_ms),
    workerLine(r.worker),
  );
}

/**
 * A generation in progress: tokens are appended as they arrive, then finish() adds the rest (or
 * stopped() / cutOff() says why it ended early).
 */
export class GenerateView {
  readonly el: HTMLElement;
  private readonly heading: HTMLElement;
  private readonly text: HTMLElement;
  private readonly status: HTMLElement;
  private readonly announcement: HTMLElement;
  private count = 0;
  /** The status line as a function of the language, so relabel() can say it again after a switch. */
  private statusText = (): string => tn('result.generating', this.count);

  constructor(prompt: string) {
    this.heading = h('h3', {}, t('result.generated'));
    this.text = h('span', { class: 'generated', 'data-testid': 'generated' });
    // Announce progress politely, not every token: the status line is the live region here.
    this.status = h('p', { class: 'gen-status muted', role: 'status', 'data-testid': 'gen-status' }, this.statusText());
    // The text itself is read once, when the generation ends: token by token it would be noise.
    this.announcement = h('p', { class: 'visually-hidden', role: 'status', 'data-testid': 'gen-announcement' });
    this.el = h(
      'div',
      { class: 'result generate', 'data-testid': 'generate-result' },
      this.heading,
      h('p', { class: 'continuation', 'aria-live': 'off' }, h('span', { class: 'prompt-echo' }, prompt), this.text),
      this.status,
      this.announcement,
    );
  }

  get tokens(): number {
    return this.count;
  }

  add(token: StreamToken): void {
    this.count += 1;
    const span = h('span', { class: 'tok', title: `#${token.index} · id ${token.token_id}` }, token.token);
    this.text.append(span);
    this.status.textContent = this.statusText();
  }

  /** Stopped by the user. */
  stopped(): void {
    this.end(() => tn('result.stopped', this.count));
  }

  /** Cut off by a failure (the error box says which). */
  cutOff(): void {
    this.end(() => tn('result.cutOff', this.count));
  }

  /** Its words again in the current language; the tokens streamed so far stay, and so does the stream. */
  relabel(): HTMLElement {
    this.heading.textContent = t('result.generated');
    this.status.textContent = this.statusText();
    return this.el;
  }

  private end(status: () => string): void {
    this.statusText = status;
    this.status.textContent = status();
    this.announcement.textContent = this.text.textContent;
  }

  finish(r: GenerateResponse): void {
    // The final text is authoritative (it is what the worker returned).
    this.text.textContent = r.text;
    this.count = r.tokens.length;
    this.end(() => tn('result.finished', r.tokens.length, { reason: t(`finish.${r.finish_reason}` as Key) }));
    const seconds = r.timings_ms.inference / 1000;
    const rate = seconds > 0 ? (r.tokens.length / seconds).toFixed(1) : '–';
    // Time to first token as the service measured it: queue, tokenize and the first step (prompt included).
    const first = r.timings_ms.per_token?.[0];
    const ttft = first === undefined ? '' : `${t('result.firstToken', { ms: ms(r.timings_ms.queue + r.timings_ms.tokenize + first) })} · `;
    this.el.append(timingsView(r.timings_ms, ttft + t('result.tokensPerSecond', { rate })), workerLine(r.worker));
  }

  static done(r: GenerateResponse): HTMLElement {
    const v = new GenerateView(r.prompt);
    v.finish(r);
    return v.el;
  }
}

export function compareView(r: CompareResponse): HTMLElement {
  const side = (name: 'compare.fp32' | 'compare.int8', p: CompareResponse['int8']) =>
    h(
      'div',
      { class: 'side', 'data-testid': name === 'compare.fp32' ? 'compare-fp32' : 'compare-int8' },
      h('h4', {}, t(name)),
      h('p', { class: 'big' }, h('code', {}, showToken(p.token))),
      h('p', { class: 'muted' }, t('compare.latency', { ms: ms(p.inference_ms) })),
      topKBars(p.top_k, p.token_id),
    );
  const faster = r.speedup >= 1;
  const speed = faster ? t('compare.speedup', { x: r.speedup.toFixed(2) }) : t('compare.slower', { x: (1 / r.speedup).toFixed(2) });
  const method = t('compare.method', { n: r.runs }) + (r.timings_ms.load !== undefined ? ` ${t('compare.loaded', { ms: ms(r.timings_ms.load) })}` : '');
  return h(
    'div',
    { class: 'result compare', 'data-testid': 'compare-result' },
    h('h3', {}, t('compare.title')),
    // Each half has its own colour: the same token is good news, a slowdown is not.
    h(
      'p',
      { class: 'verdict' },
      h('span', { class: r.same ? 'same' : 'different' }, r.same ? t('compare.same') : t('compare.different')),
      ' · ',
      h('strong', { class: faster ? 'faster' : 'slower', 'data-testid': 'speedup' }, speed),
    ),
    h('p', { class: 'muted', 'data-testid': 'compare-method' }, method),
    h('div', { class: 'sides' }, side('compare.fp32', r.fp32), side('compare.int8', r.int8)),
    timingsView(r.timings_ms),
    workerLine(r.worker),
  );
}

export function modelCard(info: ModelInfoResponse | undefined): HTMLElement {
  if (!info) return h('p', { class: 'muted' }, t('card.none'));
  const m = info.manifest;
  const r = info.report;
  const row = (key: Key, value: string, testid?: string) => [h('dt', {}, t(key)), h('dd', { 'data-testid': testid }, value)];
  // From the manifest, like the sizes shown beside it. (report.bytes.ratio is INT8 ÷ FP32, a
  // fraction: shown as "× smaller" it read 0.26× for a model four times smaller.)
  const fraction = m.int8_bytes / m.fp32_bytes;
  return h(
    'dl',
    { class: 'card' },
    ...row('card.source', m.source.id),
    ...row('card.architecture', t('card.architectureValue', { layers: m.config.n_layer, embd: m.config.n_embd, heads: m.config.n_head, ctx: m.config.n_positions })),
    ...row('card.quantization', info.quantization, 'card-quantization'),
    ...row('card.size', t('card.sizeValue', { fp32: bytes(m.fp32_bytes), int8: bytes(m.int8_bytes), factor: (1 / fraction).toFixed(1), percent: `${Math.round(fraction * 100)}%` }), 'card-size'),
    ...(r
      ? [
          ...row('card.agreement', percent(r.top1_agreement), 'card-agreement'),
          ...row('card.overlap', percent(r.top5_overlap)),
          ...row('card.speedup', t('card.speedupValue', { speedup: r.latency_ms.speedup.toFixed(2), fp32: ms(r.latency_ms.fp32), int8: ms(r.latency_ms.int8) }), 'card-speedup'),
        ]
      : [h('dt', {}, ''), h('dd', { class: 'muted' }, t('card.noReport'))]),
  );
}
