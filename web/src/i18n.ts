/**
 * The page's text in English and Chinese (the original project's users read Chinese). The language
 * comes from a saved choice, else the browser's languages; the switch in the header changes it.
 * Static text is marked in index.html with data-i18n="key" (data-i18n-attr="attr:key" for
 * attributes); dynamic text is built with t().
 */
export type Lang = 'en' | 'zh';

const en = {
  title: 'GPT-2 INT8',
  tagline: 'Next-token prediction on a quantized GPT-2, served by CPU workers',
  'lang.switch': '中文',
  'lang.switchLabel': '中文: switch the page to Chinese',
  'status.checking': 'Checking workers…',
  'status.ready.one': '{n} worker ready',
  'status.ready.other': '{n} workers ready',
  'status.notReady': 'Not ready: {reason}',
  'status.unreachable': 'Gateway unreachable',
  docs: 'API docs',
  'banner.synthetic':
    'These weights are synthetic (random): predictions are meaningless. They only show that the pipeline works. Set MODEL_SOURCE to a real checkpoint for real text.',
  'card.title': 'Model',
  'card.loading': 'Loading the model card…',
  'card.none': 'No model artifact yet: the quantizer has not finished. This card updates when it has.',
  'card.source': 'Source',
  'card.architecture': 'Architecture',
  'card.architectureValue': '{layers} layers · {embd} wide · {heads} heads · {ctx} context',
  'card.quantization': 'Quantization',
  'card.size': 'Size FP32 → INT8',
  'card.sizeValue': '{fp32} → {int8} ({factor}× smaller: {percent} of FP32)',
  'card.agreement': 'Top-1 agreement with FP32',
  'card.overlap': 'Top-5 overlap',
  'card.speedup': 'INT8 speedup (validation)',
  'card.speedupValue': '{speedup}× ({fp32} ms → {int8} ms per step)',
  'card.noReport': 'No validation report.',
  'form.prompt': 'Prompt',
  'form.promptHint': 'Enter: next token · Shift+Enter: new line · Ctrl+Enter: generate',
  'form.placeholder': 'Artificial intelligence is',
  'form.predict': 'Next token',
  'form.generate': 'Generate',
  'form.compare': 'Compare FP32 / INT8',
  'form.stop': 'Stop',
  'form.settings': 'Generation settings',
  'form.maxTokens': 'Max new tokens',
  'form.temperature': 'Temperature (0 = greedy)',
  'form.topK': 'Top-k',
  'form.topP': 'Top-p',
  'form.seed': 'Seed',
  'form.optional': 'optional',
  'result.title': 'Result',
  'result.empty': 'Results appear here.',
  'result.working': 'Working…',
  'result.nextToken': 'Next token',
  'result.topK': 'Top {k} candidates',
  'result.generated': 'Generated text',
  'result.generating.one': 'Generating… {n} token',
  'result.generating.other': 'Generating… {n} tokens',
  'result.finished.one': '{n} token, stopped by: {reason}',
  'result.finished.other': '{n} tokens, stopped by: {reason}',
  'result.stopped.one': 'Stopped after {n} token.',
  'result.stopped.other': 'Stopped after {n} tokens.',
  'result.cutOff.one': 'Cut off after {n} token.',
  'result.cutOff.other': 'Cut off after {n} tokens.',
  'result.cancelled': 'Stopped before an answer came.',
  'finish.length': 'length limit',
  'finish.eos': 'end of text',
  'finish.stop': 'stop string',
  'finish.context': 'context full',
  'result.worker': 'Answered by worker {worker}',
  'result.tokensPerSecond': '{rate} tokens/s',
  'result.firstToken': 'first token after {ms} ms',
  'timings.title': 'Timings (ms)',
  'timings.queue': 'Queue',
  'timings.tokenize': 'Tokenize',
  'timings.inference': 'Inference',
  'timings.load': 'FP32 model load',
  'timings.other': 'Network & gateway',
  'timings.total': 'Total',
  'compare.title': 'FP32 vs INT8',
  'compare.fp32': 'FP32',
  'compare.int8': 'INT8',
  'compare.latency': 'Inference {ms} ms (median)',
  'compare.method': 'Each time is the median of {n} runs, FP32 and INT8 taking turns.',
  'compare.loaded': 'This request first waited {ms} ms for the FP32 model to load; that is not in either time.',
  'compare.speedup': 'INT8 is {x}× faster on this prompt',
  'compare.slower': 'INT8 is {x}× slower on this prompt',
  'compare.same': 'Same next token',
  'compare.different': 'Different next token',
  'error.title': 'Error',
  'error.network': 'The server could not be reached. Is the gateway running?',
  'error.VALIDATION_ERROR': 'The request is invalid',
  'error.INVALID_JSON': 'The request is invalid',
  'error.PROMPT_TOO_LONG': 'The prompt is too long for the model',
  'error.QUEUE_FULL': 'The service is busy; try again in a moment',
  'error.QUEUE_UNAVAILABLE': 'The job queue is unavailable; try again in a moment',
  'error.NO_WORKER': 'No model worker is ready yet',
  'error.TIMEOUT': 'No answer in time',
  'error.RATE_LIMITED': 'Too many requests; slow down',
  'error.WORKER_FAILED': 'The model worker failed',
  'error.COMPARE_DISABLED': 'Comparison with FP32 is switched off on this server',
  'error.BODY_TOO_LARGE': 'The request is too large',
  'error.INVALID_UTF8': 'The request is invalid',
  'error.INVALID_UNICODE': 'The request is invalid',
  'error.SHUTTING_DOWN': 'The server is shutting down',
  'error.INTERNAL': 'Internal server error',
  'error.STREAM': 'The generation was cut off',
  'error.other': 'The request failed',
};

export type Key = keyof typeof en;

const zh: Record<Key, string> = {
  title: 'GPT-2 INT8',
  tagline: '量化 GPT-2 的下一个词预测，由 CPU 工作进程提供服务',
  'lang.switch': 'English',
  'lang.switchLabel': 'English：将页面切换为英文',
  'status.checking': '正在检查工作进程…',
  'status.ready.one': '{n} 个工作进程就绪',
  'status.ready.other': '{n} 个工作进程就绪',
  'status.notReady': '未就绪：{reason}',
  'status.unreachable': '无法连接网关',
  docs: 'API 文档',
  'banner.synthetic': '当前权重是合成的（随机）：预测没有意义，只用于展示流程可以运行。将 MODEL_SOURCE 设为真实的检查点即可得到真实文本。',
  'card.title': '模型',
  'card.loading': '正在加载模型信息…',
  'card.none': '还没有模型产物：量化器尚未完成。完成后此处会自动更新。',
  'card.source': '来源',
  'card.architecture': '结构',
  'card.architectureValue': '{layers} 层 · 宽度 {embd} · {heads} 个注意力头 · 上下文 {ctx}',
  'card.quantization': '量化方式',
  'card.size': '大小 FP32 → INT8',
  'card.sizeValue': '{fp32} → {int8}（为 FP32 的 {percent}，约 1/{factor}）',
  'card.agreement': '与 FP32 的 Top-1 一致率',
  'card.overlap': 'Top-5 重合率',
  'card.speedup': 'INT8 加速（验证集）',
  'card.speedupValue': '{speedup} 倍（每步 {fp32} 毫秒 → {int8} 毫秒）',
  'card.noReport': '没有验证报告。',
  'form.prompt': '提示词',
  'form.promptHint': 'Enter：下一个词 · Shift+Enter：换行 · Ctrl+Enter：生成',
  'form.placeholder': '人工智能是',
  'form.predict': '下一个词',
  'form.generate': '生成',
  'form.compare': '对比 FP32 / INT8',
  'form.stop': '停止',
  'form.settings': '生成设置',
  'form.maxTokens': '最多生成词数',
  'form.temperature': '温度（0 = 贪心）',
  'form.topK': 'Top-k',
  'form.topP': 'Top-p',
  'form.seed': '随机种子',
  'form.optional': '可选',
  'result.title': '结果',
  'result.empty': '结果会显示在这里。',
  'result.working': '处理中…',
  'result.nextToken': '下一个词',
  'result.topK': '前 {k} 个候选',
  'result.generated': '生成的文本',
  'result.generating.one': '正在生成… 已有 {n} 个词',
  'result.generating.other': '正在生成… 已有 {n} 个词',
  'result.finished.one': '共 {n} 个词，停止原因：{reason}',
  'result.finished.other': '共 {n} 个词，停止原因：{reason}',
  'result.stopped.one': '已在 {n} 个词后停止。',
  'result.stopped.other': '已在 {n} 个词后停止。',
  'result.cutOff.one': '在 {n} 个词后被中断。',
  'result.cutOff.other': '在 {n} 个词后被中断。',
  'result.cancelled': '已停止，没有得到回答。',
  'finish.length': '达到长度上限',
  'finish.eos': '文本结束',
  'finish.stop': '遇到停止字符串',
  'finish.context': '上下文已满',
  'result.worker': '由工作进程 {worker} 回答',
  'result.tokensPerSecond': '每秒 {rate} 个词',
  'result.firstToken': '首个词用时 {ms} 毫秒',
  'timings.title': '耗时（毫秒）',
  'timings.queue': '排队',
  'timings.tokenize': '分词',
  'timings.inference': '推理',
  'timings.load': 'FP32 模型加载',
  'timings.other': '网络与网关',
  'timings.total': '总计',
  'compare.title': 'FP32 与 INT8 对比',
  'compare.fp32': 'FP32',
  'compare.int8': 'INT8',
  'compare.latency': '推理 {ms} 毫秒（中位数）',
  'compare.method': '每个耗时都是 {n} 次运行的中位数，FP32 与 INT8 轮流运行。',
  'compare.loaded': '此请求先等待 FP32 模型加载了 {ms} 毫秒，不计入上面的耗时。',
  'compare.speedup': '在此提示词上 INT8 快 {x} 倍',
  'compare.slower': '在此提示词上 INT8 慢 {x} 倍',
  'compare.same': '下一个词相同',
  'compare.different': '下一个词不同',
  'error.title': '错误',
  'error.network': '无法连接服务器。网关是否在运行？',
  'error.VALIDATION_ERROR': '请求无效',
  'error.INVALID_JSON': '请求无效',
  'error.PROMPT_TOO_LONG': '提示词超出模型的长度限制',
  'error.QUEUE_FULL': '服务繁忙，请稍后再试',
  'error.QUEUE_UNAVAILABLE': '任务队列暂不可用，请稍后再试',
  'error.NO_WORKER': '模型工作进程尚未就绪',
  'error.TIMEOUT': '未能及时得到回答',
  'error.RATE_LIMITED': '请求过于频繁，请放慢速度',
  'error.WORKER_FAILED': '模型工作进程出错',
  'error.COMPARE_DISABLED': '此服务器已关闭与 FP32 的对比',
  'error.BODY_TOO_LARGE': '请求过大',
  'error.INVALID_UTF8': '请求无效',
  'error.INVALID_UNICODE': '请求无效',
  'error.SHUTTING_DOWN': '服务器正在关闭',
  'error.INTERNAL': '服务器内部错误',
  'error.STREAM': '生成被中断',
  'error.other': '请求失败',
};

const TABLES: Record<Lang, Record<Key, string>> = { en, zh };
const STORAGE_KEY = 'gpt2-int8.lang';

let current: Lang = 'en';

export function detectLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh') return saved;
  } catch {
    // Storage can be blocked (privacy settings): fall back to the browser's languages.
  }
  const langs = navigator.languages.length > 0 ? navigator.languages : [navigator.language];
  return langs.some((l) => l.toLowerCase().startsWith('zh')) ? 'zh' : 'en';
}

export function lang(): Lang {
  return current;
}

export function t(key: Key, params: Record<string, string | number> = {}): string {
  return TABLES[current][key].replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

/** Texts that depend on a count: each has a `.one` and an `.other` form in every language. */
type CountedKey = { [K in Key]: K extends `${infer Base}.one` ? (`${Base}.other` extends Key ? Base : never) : never }[Key];

/**
 * A text about `n` things in the current language's plural form ("1 worker", "2 workers"; Chinese
 * has one form for every count), with `n` and `params` filled in.
 */
export function tn(key: CountedKey, n: number, params: Record<string, string | number> = {}): string {
  const form = new Intl.PluralRules(current === 'zh' ? 'zh-CN' : 'en').select(n);
  return t(form === 'one' ? `${key}.one` : `${key}.other`, { ...params, n });
}

export function hasKey(key: string): key is Key {
  return key in en;
}

/** Sets the language, saves the choice, and rewrites every marked element. */
export function setLang(next: Lang, save = true): void {
  current = next;
  if (save) {
    try {
      localStorage.setItem(STORAGE_KEY, next);
    } catch {
      // Not saved; the choice still holds for this page.
    }
  }
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    const key = el.dataset.i18n;
    if (key && hasKey(key)) el.textContent = t(key);
  }
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n-attr]')) {
    for (const pair of (el.dataset.i18nAttr ?? '').split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key && hasKey(key)) el.setAttribute(attr, t(key));
    }
  }
}
