/**
 * The page: wires the form to the API and the views. One request at a time; a new one (or Stop)
 * aborts the previous, which makes the gateway drop its queued job.
 */
import { ApiError, compare, generateStream, modelInfo, predict, readiness, type ModelInfoResponse } from './api.js';
import { byId, h } from './dom.js';
import { chineseErrorDetail } from './error-detail.js';
import { detectLang, hasKey, lang, setLang, t, tn } from './i18n.js';
import { GenerateView, compareView, modelCard, predictView } from './views.js';

const form = byId<HTMLFormElement>('ask');
const prompt = byId<HTMLTextAreaElement>('prompt');
const result = byId('result');
const errorBox = byId('error');
const stopButton = byId<HTMLButtonElement>('stop');
const actionButtons = ['predict', 'generate', 'compare'].map((id) => byId<HTMLButtonElement>(id));

/** What is on screen, so a language switch can redraw it in the other language. */
let shown: (() => HTMLElement) | undefined;
let shownError: ApiError | Error | undefined;
let model: ModelInfoResponse | undefined;
let modelLoaded = false;
let inFlight: AbortController | undefined;

function show(render: () => HTMLElement): void {
  shown = render;
  result.replaceChildren(render());
}

function showError(err: unknown): void {
  shownError = err instanceof Error ? err : new Error(String(err));
  renderError();
}

function renderError(): void {
  const err = shownError;
  errorBox.hidden = err === undefined;
  if (!err) return errorBox.replaceChildren();
  const code = err instanceof ApiError ? err.code : 'other';
  const titleKey = code === 'NETWORK' ? 'error.network' : `error.${code}`;
  const title = hasKey(titleKey) ? t(titleKey) : t('error.other');
  // The API's message names the field and the problem, in English; in Chinese, said again in
  // Chinese when its form is known (error-detail.ts), else shown as given.
  const detail = code === 'NETWORK' ? '' : lang() === 'zh' ? (chineseErrorDetail(code, err.message) ?? err.message) : err.message;
  errorBox.replaceChildren(h('strong', {}, title));
  if (detail) errorBox.append(h('span', { class: 'detail', 'data-testid': 'error-detail' }, ` — ${detail}`));
  if (err instanceof ApiError && code !== 'NETWORK') errorBox.append(h('code', { class: 'code' }, code));
}

function clearError(): void {
  shownError = undefined;
  renderError();
}

function busy(on: boolean, streaming = false): void {
  result.setAttribute('aria-busy', String(on));
  for (const b of actionButtons) b.disabled = on;
  stopButton.hidden = !streaming;
}

function numberInput(id: string): number | undefined {
  const raw = byId<HTMLInputElement>(id).value.trim();
  if (raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** Runs one request: aborts any previous one, shows progress, reports errors. */
async function run(task: (signal: AbortSignal) => Promise<void>, streaming = false, onError?: () => void): Promise<void> {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  clearError();
  busy(true, streaming);
  if (!streaming) show(() => h('p', { class: 'muted' }, t('result.working')));
  try {
    await task(controller.signal);
  } catch (err) {
    if ((err as Error).name !== 'AbortError') {
      showError(err);
      if (onError) onError();
      else show(() => h('p', { class: 'muted' }, t('result.empty')));
    }
  } finally {
    if (inFlight === controller) {
      inFlight = undefined;
      busy(false);
    }
  }
}

function doPredict(): void {
  const text = prompt.value;
  void run(async (signal) => {
    const r = await predict({ prompt: text, top_k: 10 }, signal);
    show(() => predictView(r));
  });
}

function doCompare(): void {
  const text = prompt.value;
  void run(async (signal) => {
    const r = await compare({ prompt: text, top_k: 5 }, signal);
    show(() => compareView(r));
  });
}

function doGenerate(): void {
  const text = prompt.value;
  const maxTokens = numberInput('max-tokens');
  const temperature = numberInput('temperature');
  const topK = numberInput('top-k');
  const topP = numberInput('top-p');
  const seed = numberInput('seed');
  const view = new GenerateView(text);
  void run(async (signal) => {
    shown = () => view.el;
    result.replaceChildren(view.el);
    signal.addEventListener('abort', () => view.stopped(), { once: true });
    const r = await generateStream(
      {
        prompt: text,
        ...(maxTokens !== undefined ? { max_new_tokens: maxTokens } : {}),
        ...(temperature !== undefined ? { temperature } : {}),
        ...(topK !== undefined && (temperature ?? 0) > 0 ? { top_k: topK } : {}),
        ...(topP !== undefined && (temperature ?? 0) > 0 ? { top_p: topP } : {}),
        ...(seed !== undefined ? { seed } : {}),
      },
      (token) => view.add(token),
      signal,
    );
    view.finish(r);
    shown = () => GenerateView.done(r);
  }, true, () => {
    // Keep what was streamed before a failure; with nothing streamed, there is nothing to show.
    if (view.tokens === 0) show(() => h('p', { class: 'muted' }, t('result.empty')));
    else view.stopped();
  });
}

function renderModel(): void {
  const card = byId('model-card');
  if (!modelLoaded) return;
  card.replaceChildren(modelCard(model));
  byId('synthetic-banner').hidden = !model?.synthetic;
}

async function loadModel(): Promise<void> {
  try {
    model = await modelInfo();
    modelLoaded = true;
    renderModel();
  } catch {
    // Shown by the status line; try again below.
  }
  // No artifact yet (the quantizer is still running): check again until there is one.
  if (!model) setTimeout(() => void loadModel(), 5000);
}

async function refreshStatus(): Promise<void> {
  const el = byId('status');
  try {
    const r = await readiness();
    el.dataset.state = r.ready ? 'ready' : 'not-ready';
    el.textContent = r.ready ? tn('status.ready', r.workers ?? 0) : t('status.notReady', { reason: r.reason ?? '' });
  } catch {
    el.dataset.state = 'not-ready';
    el.textContent = t('status.unreachable');
  }
}

function switchLang(): void {
  setLang(lang() === 'en' ? 'zh' : 'en');
  if (shown) result.replaceChildren(shown());
  renderError();
  renderModel();
  void refreshStatus();
}

// Enter predicts (it is the form's submit), Shift+Enter is a new line, Ctrl/Cmd+Enter generates.
form.addEventListener('submit', (e) => {
  e.preventDefault();
  doPredict();
});
prompt.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' || e.shiftKey || e.isComposing) return;
  e.preventDefault();
  if (e.ctrlKey || e.metaKey) doGenerate();
  else doPredict();
});
byId('generate').addEventListener('click', doGenerate);
byId('compare').addEventListener('click', doCompare);
stopButton.addEventListener('click', () => inFlight?.abort());
byId('lang').addEventListener('click', switchLang);

setLang(detectLang(), false);
void loadModel();
void refreshStatus();
setInterval(() => void refreshStatus(), 10_000);
prompt.focus();
