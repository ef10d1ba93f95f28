/**
 * The page: wires the form to the API and the views. One request at a time; a new one (or Stop)
 * aborts the previous, which makes the gateway drop its queued job.
 */
import { ApiError, compare, generateStream, modelInfo, predict, readiness, type ModelInfoResponse } from './api.js';
import { byId, h } from './dom.js';
import { errorDetail } from './error-detail.js';
import { detectLang, hasKey, lang, setLang, t, tn, type Key } from './i18n.js';
import { GenerateView, compareView, modelCard, predictView } from './views.js';

const form = byId<HTMLFormElement>('ask');
const prompt = byId<HTMLTextAreaElement>('prompt');
const result = byId('result');
const errorBox = byId('error');
const stopButton = byId<HTMLButtonElement>('stop');
const predictButton = byId<HTMLButtonElement>('predict');
const generateButton = byId<HTMLButtonElement>('generate');
const compareButton = byId<HTMLButtonElement>('compare');
const actionButtons = [predictButton, generateButton, compareButton];

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

function showNote(key: Key): void {
  show(() => h('p', { class: 'muted' }, t(key)));
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
  // The API's message names the field and the problem, in English; error-detail.ts keeps what it
  // adds to the title, in Chinese too when its form is known.
  const detail = code === 'NETWORK' ? '' : errorDetail(code, err.message, lang());
  errorBox.replaceChildren(h('strong', {}, title));
  if (detail) errorBox.append(h('span', { class: 'detail', 'data-testid': 'error-detail' }, ` — ${detail}`));
  if (err instanceof ApiError && code !== 'NETWORK') errorBox.append(h('code', { class: 'code' }, code));
}

function clearError(): void {
  shownError = undefined;
  renderError();
}

function busy(): void {
  result.setAttribute('aria-busy', 'true');
  const onAction = actionButtons.some((b) => b === document.activeElement);
  stopButton.hidden = false;
  for (const b of actionButtons) b.disabled = true;
  // A disabled button drops focus to <body>: Stop, the one thing left to do, takes it instead.
  if (onAction) stopButton.focus();
}

function idle(starter: HTMLButtonElement): void {
  result.setAttribute('aria-busy', 'false');
  for (const b of actionButtons) b.disabled = false;
  // Stop is about to hide (and would drop focus to <body>): back to the button that started the request.
  if (document.activeElement === stopButton) starter.focus();
  stopButton.hidden = true;
}

function numberInput(id: string): number | undefined {
  const raw = byId<HTMLInputElement>(id).value.trim();
  if (raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** How a request's result shows that it ended early; by default, a note in its place. */
interface EarlyEnd {
  stopped?: () => void;
  failed?: () => void;
}

/**
 * Runs one request, started by `starter`: aborts any previous one, shows progress (and Stop),
 * reports errors.
 */
async function run(starter: HTMLButtonElement, task: (signal: AbortSignal) => Promise<void>, early: EarlyEnd = {}): Promise<void> {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  clearError();
  busy();
  showNote('result.working');
  try {
    await task(controller.signal);
  } catch (err) {
    if (!controller.signal.aborted) {
      showError(err);
      // The failure may be the gateway or its workers going away: the status line says so now, not at the next poll.
      void refreshStatus();
      (early.failed ?? (() => showNote('result.empty')))();
    } else if (inFlight === controller) {
      // Stop (a newer request that took over draws its own result).
      (early.stopped ?? (() => showNote('result.cancelled')))();
    }
  } finally {
    if (inFlight === controller) {
      inFlight = undefined;
      idle(starter);
    }
  }
}

function doPredict(): void {
  const text = prompt.value;
  void run(predictButton, async (signal) => {
    const r = await predict({ prompt: text, top_k: 10 }, signal);
    show(() => predictView(r));
  });
}

function doCompare(): void {
  const text = prompt.value;
  void run(compareButton, async (signal) => {
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
  void run(generateButton, async (signal) => {
    // Redrawn in place on a language switch: the stream keeps adding to the same element.
    show(() => view.relabel());
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
  }, {
    stopped: () => view.stopped(),
    // Keep what was streamed before a failure; with nothing streamed, there is nothing to show.
    failed: () => (view.tokens === 0 ? showNote('result.empty') : view.cutOff()),
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
    el.textContent = r.ready ? tn('status.ready', r.workers ?? 0) : t('status.notReady', { reason: errorDetail(r.code ?? '', r.reason ?? '', lang()) });
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
// Enter in a generation setting generates (the form's implicit submit would predict).
byId('settings').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' || !(e.target instanceof HTMLInputElement) || e.isComposing) return;
  e.preventDefault();
  doGenerate();
});
generateButton.addEventListener('click', doGenerate);
compareButton.addEventListener('click', doCompare);
stopButton.addEventListener('click', () => inFlight?.abort());
byId('lang').addEventListener('click', switchLang);

setLang(detectLang(), false);
void loadModel();
void refreshStatus();
setInterval(() => void refreshStatus(), 10_000);
prompt.focus();
