/**
 * The web page in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core;
 * never a browser download), against the real gateway, a private redis-server and the fake worker:
 * predict, streamed generate (tokens appear one by one), compare, errors, language switch, keyboard,
 * a phone-width screen. (The README's picture is not taken here, from a fake worker, but from the
 * running product: npm run screenshot, scripts/src/screenshot.ts.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../../services/gateway/test/helpers.js';
import { FAKE_TOKENS, startFakeWorker, writeFakeArtifact, type FakeWorker } from '../support/fake-worker.js';
import { startRedis, type PrivateRedis } from '../support/redis-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
/** Waits until the text of the element at `selector` matches `pattern`. */
function waitForText(page: Page, selector: string, pattern: RegExp): Promise<unknown> {
  return page.waitForFunction(([sel, source, flags]) => new RegExp(source, flags).test(document.querySelector(sel)?.textContent ?? ''), [selector, pattern.source, pattern.flags] as const);
}

/** The prompt, and Max new tokens in the opened generation settings. */
async function fillGeneration(page: Page, prompt: string, maxNewTokens: number): Promise<void> {
  await page.locator('#prompt').fill(prompt);
  await page.locator('#settings summary').click();
  await page.locator('#max-tokens').fill(String(maxNewTokens));
}

if (!haveChromium) console.warn(`web.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium); CI installs it.`);

describe.skipIf(!haveChromium)('the web page in Chromium', () => {
  let redis: PrivateRedis;
  let worker: FakeWorker;
  let gw: TestGateway;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    // The page under test is the built one (web/dist), as the gateway serves it in production.
    const build = spawnSync('npx', ['tsc', '-b', 'web'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`building the page failed:\n${build.stdout}${build.stderr}`);
    spawnSync(process.execPath, ['web/scripts/copy-static.mjs'], { cwd: ROOT });
    redis = await startRedis();
    // Slow enough that streamed tokens visibly arrive one at a time.
    worker = await startFakeWorker({ redisUrl: redis.url, queueName: 'web', tokenDelayMs: 120, id: 'worker-a1' });
    gw = await startGateway({ REDIS_URL: redis.url, QUEUE_NAME: 'web', MODEL_DIR: writeFakeArtifact({ synthetic: true }) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    mkdirSync(`${ROOT}test-results`, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await worker?.close();
    await redis?.dispose();
  });

  /** failingRequests: the test makes requests fail on purpose, so the browser's "Failed to load resource" is expected. */
  async function open(opts: { locale?: string; width?: number; height?: number; colorScheme?: 'light' | 'dark'; failingRequests?: boolean } = {}): Promise<Page> {
    const context = await browser.newContext({
      locale: opts.locale ?? 'en-US',
      viewport: { width: opts.width ?? 1100, height: opts.height ?? 900 },
      colorScheme: opts.colorScheme ?? 'light',
    });
    const page = await context.newPage();
    // CSP violations and script errors show up here; the page must have none.
    page.on('console', (m) => {
      if (opts.failingRequests && /^Failed to load resource: net::/.test(m.text())) return;
      if (m.type() === 'error' && !/status of (4|5)\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(gw.url);
    await page.getByTestId('card-size').waitFor();
    return page;
  }

  it('shows the model card, the synthetic-weights banner and the workers status', async () => {
    const page = await open();
    expect(await page.locator('#synthetic-banner').isVisible()).toBe(true);
    expect(await page.locator('#synthetic-banner').textContent()).toMatch(/synthetic \(random\)/);
    // The fixture's report.json has the quantizer's INT8 ÷ FP32 fraction (0.263), as a real one does.
    expect(await page.getByTestId('card-size').textContent()).toBe('353 MB → 92.8 MB (3.8× smaller: 26% of FP32)');
    expect(await page.getByTestId('card-agreement').textContent()).toBe('96.9%');
    expect(await page.getByTestId('card-quantization').textContent()).toBe('int8 per-channel weights, dynamic per-row activations (two passes into the MLP and LM head), int8 embedding');
    expect(await page.getByTestId('card-speedup').textContent()).toMatch(/^2\.30×/);
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'ready');
    expect(await page.locator('#status').textContent()).toBe('1 worker ready');
    // Two workers: the plural, in both languages (Chinese has one form).
    const second = await startFakeWorker({ redisUrl: redis.url, queueName: 'web', consume: false, id: 'worker-b2' });
    try {
      for (const [locale, text] of [['en-US', '2 workers ready'], ['zh-CN', '2 个工作进程就绪']] as const) {
        const p = await open({ locale });
        await p.waitForFunction(() => document.getElementById('status')?.dataset.state === 'ready');
        expect(await p.locator('#status').textContent()).toBe(text);
        await p.context().close();
      }
    } finally {
      await second.close();
    }
    // Keyboard: the prompt has focus first, and Tab reaches the Next token button.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('prompt');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('predict');
    await page.context().close();
  });

  it('predicts the next token on Enter, with top-k bars, timings and the worker', async () => {
    const page = await open();
    await page.locator('#prompt').fill('The sky is');
    await page.locator('#prompt').press('Enter');
    await page.getByTestId('predict-result').waitFor();
    expect(await page.getByTestId('next-token').textContent()).toBe(' blue');
    expect(await page.locator('.predict .bars li').count()).toBe(10);
    expect(await page.locator('.predict .bars li.chosen .token').textContent()).toBe('␣blue');
    expect(await page.locator('.timing-list dt').allTextContents()).toEqual(['Queue', 'Tokenize', 'Inference', 'Network & gateway', 'Total']);
    expect(await page.getByTestId('worker').textContent()).toBe('Answered by worker worker-a1');
    expect(await page.locator('#result').getAttribute('aria-live')).toBe('polite');
    await page.screenshot({ path: `${ROOT}test-results/web-predict.png`, fullPage: true });
    await page.context().close();
  });

  it('streams a generation into the page token by token', async () => {
    const page = await open();
    await fillGeneration(page, 'Once upon a time', 8);
    await page.locator('#seed').fill('42');
    // Record how many tokens are on the page at each DOM change: incremental arrival shows as
    // many distinct counts, a buffered answer as one jump from 0 to 8.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      new MutationObserver(() => {
        const n = document.querySelectorAll('[data-testid="generated"] .tok').length;
        if (seen.at(-1) !== n) seen.push(n);
      }).observe(document.getElementById('result')!, { childList: true, subtree: true });
    });
    await page.locator('#generate').click();
    await page.locator('#stop').waitFor({ state: 'visible' });
    await waitForText(page, '[data-testid="gen-status"]', /stopped by/);
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    expect(seen.filter((n) => n > 0 && n < 8).length).toBeGreaterThanOrEqual(3);
    expect(await page.getByTestId('generated').textContent()).toBe(FAKE_TOKENS.slice(0, 8).join(''));
    expect(await page.getByTestId('gen-status').textContent()).toBe('8 tokens, stopped by: length limit');
    expect(await page.locator('#stop').isHidden()).toBe(true);
    expect(worker.jobs.find((j) => j.prompt === 'Once upon a time')).toMatchObject({ kind: 'generate', max_new_tokens: 8, seed: 42, stream: true });
    await page.screenshot({ path: `${ROOT}test-results/web-generate.png`, fullPage: true });
    await page.context().close();
  });

  it('compares FP32 and INT8 side by side', async () => {
    const page = await open();
    await page.locator('#prompt').fill('Compare this');
    await page.locator('#compare').click();
    await page.getByTestId('compare-result').waitFor();
    expect(await page.getByTestId('compare-fp32').locator('h4').textContent()).toBe('FP32');
    expect(await page.getByTestId('compare-int8').locator('h4').textContent()).toBe('INT8');
    expect(await page.getByTestId('compare-fp32').textContent()).toMatch(/Inference 7\.40 ms/);
    expect(await page.getByTestId('compare-int8').textContent()).toMatch(/Inference 3\.10 ms/);
    expect(await page.getByTestId('speedup').textContent()).toBe('INT8 is 2.39× faster on this prompt');
    expect(await page.getByTestId('compare-method').textContent()).toBe('Each time is the median of 5 runs, FP32 and INT8 taking turns.');
    const ok = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--ok').trim());
    const colourOf = (testid: string) => page.getByTestId(testid).evaluate((el) => getComputedStyle(el).color);
    const okRgb = await page.evaluate((c) => {
      const probe = document.createElement('span');
      probe.style.color = c;
      document.body.append(probe);
      const rgb = getComputedStyle(probe).color;
      probe.remove();
      return rgb;
    }, ok);
    expect(await colourOf('speedup')).toBe(okRgb);
    await page.screenshot({ path: `${ROOT}test-results/web-compare.png`, fullPage: true });

    // A slowdown is said plainly and never in the colour of success, even when the tokens agree.
    await page.locator('#prompt').fill('SLOW_INT8 compare');
    await page.locator('#compare').click();
    await waitForText(page, '[data-testid="speedup"]', /slower/);
    expect(await page.getByTestId('speedup').textContent()).toBe('INT8 is 1.39× slower on this prompt');
    expect(await page.locator('.verdict .same').textContent()).toBe('Same next token');
    expect(await page.locator('.verdict .same').evaluate((el) => getComputedStyle(el).color)).toBe(okRgb);
    expect(await colourOf('speedup')).not.toBe(okRgb);
    expect(await page.locator('.timing-list dt').allTextContents()).toEqual(['Queue', 'Tokenize', 'Inference', 'Network & gateway', 'Total']);

    // The FP32 load a worker's first compare waits for is its own row, not "Network & gateway".
    await page.locator('#prompt').fill('COLD compare');
    await page.locator('#compare').click();
    await waitForText(page, '[data-testid="compare-method"]', /FP32 model to load/);
    expect(await page.getByTestId('compare-method').textContent()).toMatch(/waited 453 ms for the FP32 model to load; that is not in either time\.$/);
    expect(await page.locator('.timing-list dt').allTextContents()).toEqual(['Queue', 'Tokenize', 'Inference', 'FP32 model load', 'Network & gateway', 'Total']);
    expect(await page.locator('.timing-list div:has(.key-load) dd').textContent()).toBe('453');
    expect(Number(await page.locator('.timing-list div:has(.key-other) dd').textContent())).toBeLessThan(452);
    await page.context().close();
  });

  it("shows the API's errors clearly", async () => {
    const page = await open();
    await page.locator('#prompt').fill('   ');
    await page.locator('#prompt').press('Enter');
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await page.locator('#error strong').textContent()).toBe('The request is invalid');
    // Said once (the gateway used to repeat it: "prompt must not be empty; prompt must not be empty or only whitespace").
    expect(await page.getByTestId('error-detail').textContent()).toBe(' — prompt must not be empty or only whitespace');
    expect(await page.locator('#error').getAttribute('role')).toBe('alert');
    // In Chinese the detail is Chinese too, redrawn when the language changes.
    await page.locator('#lang').click();
    expect(await page.locator('#error strong').textContent()).toBe('请求无效');
    expect(await page.getByTestId('error-detail').textContent()).toBe(' — 提示词（prompt）不能为空，也不能只有空白');
    await page.locator('#lang').click();

    await page.locator('#prompt').fill('TOO_LONG prompt');
    await page.locator('#generate').click();
    await waitForText(page, '#error strong', /too long/);
    expect(await page.getByTestId('error-detail').textContent()).toMatch(/1024/);
    // Nothing was generated, so no half-finished generation is left on screen.
    expect(await page.getByTestId('generate-result').count()).toBe(0);
    await page.screenshot({ path: `${ROOT}test-results/web-error.png`, fullPage: true });

    // A good request clears the error.
    await page.locator('#prompt').fill('Fine again');
    await page.locator('#prompt').press('Enter');
    await page.getByTestId('predict-result').waitFor();
    expect(await page.locator('#error').isHidden()).toBe(true);
    await page.context().close();
  });

  it('switches between English and Chinese, and starts in Chinese for a Chinese browser', async () => {
    const page = await open();
    await page.locator('#prompt').fill('The sky is');
    await page.locator('#prompt').press('Enter');
    await page.getByTestId('predict-result').waitFor();
    await page.locator('#lang').click();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    expect(await page.locator('#predict').textContent()).toBe('下一个词');
    expect(await page.locator('#lang').textContent()).toBe('English');
    expect(await page.locator('.timing-list dt').first().textContent()).toBe('排队');
    expect(await page.getByTestId('worker').textContent()).toBe('由工作进程 worker-a1 回答');
    expect(await page.locator('#synthetic-banner').textContent()).toMatch(/合成/);
    expect(await page.getByTestId('card-size').textContent()).toBe('353 MB → 92.8 MB（为 FP32 的 26%，约 1/3.8）');
    await page.screenshot({ path: `${ROOT}test-results/web-zh.png`, fullPage: true });
    await page.locator('#lang').click();
    expect(await page.locator('#predict').textContent()).toBe('Next token');
    await page.context().close();

    const zh = await open({ locale: 'zh-CN' });
    expect(await zh.locator('#predict').textContent()).toBe('下一个词');
    expect(await zh.locator('#generate').textContent()).toBe('生成');
    // The worker's error (PROMPT_TOO_LONG, worded in English) is shown in Chinese, numbers kept.
    await zh.locator('#prompt').fill('TOO_LONG prompt');
    await zh.locator('#generate').click();
    await zh.locator('#error').waitFor({ state: 'visible' });
    expect(await zh.locator('#error strong').textContent()).toBe('提示词超出模型的长度限制');
    expect(await zh.getByTestId('error-detail').textContent()).toBe(' — 提示词有 2000 个词元，模型最多只能读 1024 个');
    await zh.context().close();
  });

  it('lines up the generation settings: labels on one line on a wide screen, inputs level in every row', async () => {
    for (const [locale, width] of [['en-US', 1100], ['zh-CN', 1100], ['en-US', 800], ['en-US', 375]] as const) {
      const page = await open({ locale, width });
      await page.locator('#settings summary').click();
      const fields = await page.locator('.settings-grid label').evaluateAll((labels) =>
        labels.map((l) => ({
          id: (l as HTMLLabelElement).htmlFor,
          row: Math.round(l.getBoundingClientRect().top),
          input: Math.round(l.querySelector('input')!.getBoundingClientRect().top),
          lines: Math.round(l.querySelector('span')!.getBoundingClientRect().height / parseFloat(getComputedStyle(l).lineHeight)),
        })),
      );
      const where = `${locale} ${width}px: ${JSON.stringify(fields)}`;
      // Inputs of the same row are level, whatever their labels do ("Temperature (0 = greedy)" used to wrap and push its input down).
      for (const f of fields) expect(f.input, where).toBe(fields.find((g) => g.row === f.row)!.input);
      if (width >= 800) {
        expect(new Set(fields.map((f) => f.row)).size, where).toBe(1);
        expect(fields.map((f) => f.lines), where).toEqual([1, 1, 1, 1, 1]);
      }
      await page.context().close();
    }
  });

  it('fits a 375px-wide phone screen without sideways scrolling', async () => {
    const page = await open({ width: 375, height: 812 });
    await page.locator('#prompt').fill('The sky is');
    await page.locator('#compare').click();
    await page.getByTestId('compare-result').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: `${ROOT}test-results/web-375.png`, fullPage: true });
    await page.context().close();
  });

  /** The page's requests to `path` get no answer (until the page gives up on them). */
  const unanswered = (page: Page, path: string) => page.route(`**${path}`, () => undefined);

  it('keeps every timing label clear of the next column at every width, five or six of them', async () => {
    for (const width of [320, 390, 700, 800, 880, 1280]) {
      const page = await open({ width });
      for (const prompt of ['The sky is', 'COLD compare']) {
        await page.locator('#prompt').fill(prompt);
        await page.locator(prompt.includes('compare') ? '#compare' : '#predict').click();
        await page.locator('.result:not(.working) .timing-list').waitFor();
        await page.locator('#predict:not([disabled])').waitFor();
        // Each label's text (its glyphs, not its box) must end inside its own grid cell.
        const overflowing = await page.locator('.timing-list dt').evaluateAll((dts) =>
          dts
            .filter((dt) => {
              const range = document.createRange();
              range.selectNodeContents(dt);
              return range.getBoundingClientRect().right > dt.parentElement!.getBoundingClientRect().right + 0.5;
            })
            .map((dt) => dt.textContent),
        );
        expect(overflowing, `${width}px, ${prompt}`).toEqual([]);
      }
      await page.context().close();
    }
  });

  it('redraws a generation in the other language while it streams, once stopped, and once cut off', async () => {
    const page = await open();
    await fillGeneration(page, 'Switch while streaming', 8);
    await page.locator('#generate').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="generated"] .tok').length >= 2);
    await page.locator('#lang').click();
    expect(await page.locator('.generate h3').textContent()).toBe('生成的文本');
    expect(await page.getByTestId('gen-status').textContent()).toMatch(/^正在生成…/);
    await waitForText(page, '[data-testid="gen-status"]', /停止原因/);
    expect(await page.getByTestId('generated').textContent()).toBe(FAKE_TOKENS.slice(0, 8).join(''));
    await page.locator('#lang').click();

    // Stopped by the user.
    await page.locator('#generate').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="generated"] .tok').length >= 2);
    await page.locator('#stop').click();
    await waitForText(page, '[data-testid="gen-status"]', /^Stopped after \d+ tokens\.$/);
    const n = (await page.getByTestId('gen-status').textContent())!.replace(/\D/g, '');
    await page.locator('#lang').click();
    expect(await page.locator('.generate h3').textContent()).toBe('生成的文本');
    expect(await page.getByTestId('gen-status').textContent()).toBe(`已在 ${n} 个词后停止。`);
    await page.context().close();
  });

  it('says a stream cut off by the server is cut off, not stopped, and keeps its text', async () => {
    const page = await open();
    // The connection breaks mid-stream (as when the gateway dies): the body errors after a few chunks, as Chromium's does.
    await page.evaluate(() => {
      const realFetch = window.fetch.bind(window);
      window.fetch = async (input, init) => {
        const res = await realFetch(input, init);
        if (!String(input).includes('/api/generate') || !res.body) return res;
        let chunks = 0;
        const cut = new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            chunks += 1;
            if (chunks > 3) controller.error(new TypeError('network error'));
            else controller.enqueue(chunk);
          },
        });
        return new Response(res.body.pipeThrough(cut), { status: res.status, headers: res.headers });
      };
    });
    await page.locator('#prompt').fill('Cut me off');
    await page.locator('#generate').click();
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await page.locator('#error strong').textContent()).toBe('The generation was cut off');
    expect(await page.locator('#error').textContent()).not.toMatch(/network error/);
    expect(await page.getByTestId('gen-status').textContent()).toMatch(/^Cut off after \d+ tokens?\.$/);
    expect(await page.getByTestId('generated').textContent()).not.toBe('');
    await page.locator('#lang').click();
    expect(await page.locator('#error strong').textContent()).toBe('生成被中断');
    expect(await page.getByTestId('gen-status').textContent()).toMatch(/^在 \d+ 个词后被中断。$/);
    await page.context().close();
  });

  it('keeps keyboard focus on Stop while a request runs and gives it back after; Stop cancels every kind of request', async () => {
    const page = await open();
    await fillGeneration(page, 'Focus me', 4);
    await page.locator('#generate').focus();
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('stop');
    await waitForText(page, '[data-testid="gen-status"]', /stopped by/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('generate');

    // Next token and Compare with no answer coming: Stop is there, takes focus, cancels, and hands focus back.
    await unanswered(page, '/api/predict');
    await unanswered(page, '/api/compare');
    for (const id of ['predict', 'compare']) {
      await page.locator(`#${id}`).focus();
      await page.keyboard.press('Enter');
      await page.locator('#stop').waitFor({ state: 'visible' });
      expect(await page.evaluate(() => document.activeElement?.id), id).toBe('stop');
      await page.keyboard.press('Enter');
      await page.locator('#stop').waitFor({ state: 'hidden' });
      expect(await page.evaluate(() => document.activeElement?.id), id).toBe(id);
      expect(await page.locator('#result').textContent(), id).toBe('Stopped before an answer came.');
      expect(await page.locator('#error').isHidden(), id).toBe(true);
    }
    await page.context().close();
  });

  it('generates on Enter in a generation setting, and reads the text to screen readers once it is done', async () => {
    const page = await open();
    await fillGeneration(page, 'Enter in a setting', 3);
    await page.locator('#max-tokens').press('Enter');
    await page.getByTestId('generate-result').waitFor();
    await waitForText(page, '[data-testid="gen-status"]', /stopped by/);
    expect(worker.jobs.find((j) => j.prompt === 'Enter in a setting')).toMatchObject({ kind: 'generate', max_new_tokens: 3 });
    // The streamed text is silent token by token (aria-live="off"); its whole is said once, in a live region.
    const announced = page.getByTestId('gen-announcement');
    expect(await announced.textContent()).toBe(FAKE_TOKENS.slice(0, 3).join(''));
    expect(await announced.evaluate((el) => el.closest('[aria-live="off"]') === null && el.closest('[role="status"], [aria-live="polite"]') !== null)).toBe(true);
    await page.context().close();
  });

  it('words errors and the status line without repeats, in Chinese too, and rechecks the status when a request fails', async () => {
    const page = await open({ locale: 'zh-CN' });
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'ready');
    // No worker ready (the gateway's own words, services/gateway/src/admission.ts and routes/health.ts).
    await page.route('**/api/predict', (r) =>
      r.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'NO_WORKER', message: 'No model worker is ready yet (no worker is running)' } }) }),
    );
    await page.route('**/readyz', (r) =>
      r.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ status: 'not_ready', redis: true, error: { code: 'NO_WORKER', message: 'no worker is running' } }) }),
    );
    await page.locator('#prompt').fill('Nobody home');
    await page.locator('#prompt').press('Enter');
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await page.locator('#error strong').textContent()).toBe('模型工作进程尚未就绪');
    expect(await page.getByTestId('error-detail').textContent()).toBe(' — 没有工作进程在运行');
    // At once, not at the next 10 s poll.
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'not-ready', undefined, { timeout: 3000 });
    expect(await page.locator('#status').textContent()).toBe('未就绪：没有工作进程在运行');
    await page.locator('#lang').click();
    expect(await page.locator('#error strong').textContent()).toBe('No model worker is ready yet');
    expect(await page.getByTestId('error-detail').textContent()).toBe(' — no worker is running');
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Not ready: no worker is running');
    await page.context().close();

    // The gateway gone: a network error, and the status line says so at once.
    const gone = await open({ failingRequests: true });
    await gone.waitForFunction(() => document.getElementById('status')?.dataset.state === 'ready');
    await gone.route('**/api/predict', (r) => r.abort('connectionrefused'));
    await gone.route('**/readyz', (r) => r.abort('connectionrefused'));
    await gone.locator('#prompt').fill('Anyone there');
    await gone.locator('#prompt').press('Enter');
    await gone.locator('#error').waitFor({ state: 'visible' });
    await gone.waitForFunction(() => document.getElementById('status')?.textContent === 'Gateway unreachable', undefined, { timeout: 3000 });
    await gone.context().close();
  });

  it('is readable in dark mode and names its controls by what they show', async () => {
    const page = await open({ colorScheme: 'dark' });
    // WCAG contrast of the red (Stop, "Different next token") on the panel: at least 4.5:1 for text.
    const ratio = await page.evaluate(() => {
      const rgb = (v: string) => {
        const probe = document.createElement('span');
        probe.style.color = v;
        document.body.append(probe);
        const [r, g, b] = getComputedStyle(probe).color.match(/\d+/g)!.map(Number);
        probe.remove();
        return [r!, g!, b!];
      };
      const lum = (c: number[]) => {
        const [r, g, b] = c.map((x) => (x / 255 <= 0.03928 ? x / 255 / 12.92 : ((x / 255 + 0.055) / 1.055) ** 2.4));
        return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
      };
      const style = getComputedStyle(document.documentElement);
      const [a, b] = [lum(rgb(style.getPropertyValue('--error-border'))), lum(rgb(style.getPropertyValue('--panel')))];
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    });
    expect(ratio).toBeGreaterThanOrEqual(4.5);
    // The language button's name starts with what it shows (voice control users say what they see).
    for (const _ of [0, 1]) {
      const [text, label] = await page.locator('#lang').evaluate((b) => [b.textContent ?? '', b.getAttribute('aria-label') ?? '']);
      expect(label.startsWith(text), label).toBe(true);
      await page.locator('#lang').click();
    }
    // Decorative symbols drawn by CSS have empty alternative text: not read aloud.
    await page.locator('#prompt').fill('The sky is');
    await page.locator('#prompt').press('Enter');
    await page.getByTestId('predict-result').waitFor();
    for (const selector of ['#status', '.timing-list dt', '.timing-list .total dt']) {
      const content = await page.locator(selector).first().evaluate((el) => getComputedStyle(el, '::before').content);
      expect(content, selector).toMatch(/\/ ""$/);
    }
    await page.context().close();
  });

  it('serves the API docs (Swagger UI renders under its CSP)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gw.url}/docs`);
    await page.getByText('/api/predict').first().waitFor();
    await context.close();
  });

  it('logged no script errors or CSP violations', () => {
    expect(problems).toEqual([]);
  });
});
