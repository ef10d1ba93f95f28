/**
 * The API's error details, without what the error's title already says, in English and Chinese.
 * The gateway and the worker word their messages in English
 * (services/gateway/src/errors/, services/gateway/src/admission.ts, services/gateway/src/queue/job-client.ts,
 * services/worker/src/engine.ts);
 * each code has a small set of sentence forms, read here and said again in Chinese with the same
 * names and numbers. A message of a form not known here is shown as it came (English) rather than
 * guessed at: error-detail.test.ts feeds in the gateway's real validation messages, so a new form
 * there fails a test here.
 */

/** Request fields as the page's form names them (web/src/i18n.ts), with the API's name after. */
const FIELDS: Record<string, string> = {
  prompt: '提示词',
  max_new_tokens: '最多生成词数',
  temperature: '温度',
  top_k: 'Top-k',
  top_p: 'Top-p',
  seed: '随机种子',
  stop: '停止字符串',
  stream: 'stream',
  body: '请求体',
};

function field(name: string): string {
  const base = name.replace(/\[\d+\]$/, '');
  const label = FIELDS[base];
  return label === undefined || label === name ? name : `${label}（${name}）`;
}

const TYPES: Record<string, string> = {
  'an integer': '整数',
  'a number': '数字',
  'a string': '字符串',
  'true or false': 'true 或 false',
  'an array': '数组',
  'an object': '对象',
};

const COMPARISONS: Record<string, string> = { '<=': '不能大于', '>=': '不能小于', '<': '必须小于', '>': '必须大于' };

/** One sentence of a VALIDATION_ERROR (services/gateway/src/errors/validation-message.ts describe()), or undefined when its form is unknown. */
function validationSentence(s: string): string | undefined {
  let m: RegExpExecArray | null;
  if ((m = /^(\S+) must not be empty or only whitespace$/.exec(s))) return `${field(m[1]!)}不能为空，也不能只有空白`;
  if ((m = /^(\S+) must not be empty$/.exec(s))) return `${field(m[1]!)}不能为空`;
  if ((m = /^(\S+) must be at most (\d+) characters$/.exec(s))) return `${field(m[1]!)}最多 ${m[2]} 个字符`;
  if ((m = /^(\S+) must be at least (\d+) characters$/.exec(s))) return `${field(m[1]!)}至少 ${m[2]} 个字符`;
  if ((m = /^(\S+) must have at most (\d+) items$/.exec(s))) return `${field(m[1]!)}最多 ${m[2]} 项`;
  if ((m = /^(\S+) must be (<=|>=|<|>) (\S+)$/.exec(s))) return `${field(m[1]!)}${COMPARISONS[m[2]!]!} ${m[3]}`;
  if ((m = /^(\S+) must be (an integer|a number|a string|true or false|an array|an object)$/.exec(s))) return `${field(m[1]!)}必须是${TYPES[m[2]!]!}`;
  if ((m = /^(.+) (?:is|are) required$/.exec(s))) return `缺少${m[1]!.split(', ').map(field).join('、')}`;
  if ((m = /^unknown fields? (.+?)(?: in (\S+))?$/.exec(s))) return `${m[2] ? `${field(m[2])}中` : ''}有未知字段 ${m[1]}`;
  if (s === 'the body must be a JSON object') return '请求体必须是 JSON 对象';
  if ((m = /^(\S+) has an invalid format$/.exec(s))) return `${field(m[1]!)}格式不对`;
  return undefined;
}

/** What an error's message adds to its title (web/src/i18n.ts error.*), in each language; '' when nothing. */
interface Detail {
  en: string;
  zh: string;
}

const byCode: Record<string, (message: string) => Detail | undefined> = {
  VALIDATION_ERROR: (message) => {
    const parts = message.split('; ').map(validationSentence);
    return parts.every((p) => p !== undefined) ? { en: message, zh: parts.join('；') } : undefined;
  },
  INVALID_JSON: (message) => ({ en: message, zh: /empty/.test(message) ? '请求体是空的，请发送一个 JSON 对象' : '请求体不是有效的 JSON（或用了 __proto__ 之类禁止的键）' }),
  INVALID_UTF8: (message) => {
    const m = /byte (0x[0-9A-F]{2}) at byte offset (\d+)/.exec(message);
    return m ? { en: message, zh: `请求体不是有效的 UTF-8：第 ${m[2]} 字节（从 0 数起）的 ${m[1]} 不是一个完整 UTF-8 字符的开头` } : undefined;
  },
  INVALID_UNICODE: (message) => {
    const m = /: (\S+) holds (\\u[0-9A-F]{4}) at character (\d+)/.exec(message);
    return m ? { en: message, zh: `请求体不是有效的 Unicode：${m[1]} 的第 ${m[3]} 个字符 ${m[2]} 是半个 UTF-16 代理对，缺少另一半；请发送完整的字符` } : undefined;
  },
  PROMPT_TOO_LONG: (message) => {
    const m = /(\d+) tokens\D+(\d+)/.exec(message);
    return m ? { en: message, zh: `提示词有 ${m[1]} 个词元，模型最多只能读 ${m[2]} 个` } : undefined;
  },
  BODY_TOO_LARGE: (message) => {
    const m = /(\d+) bytes/.exec(message);
    return m ? { en: message, zh: `请求体超过了 ${m[1]} 字节的上限` } : undefined;
  },
  QUEUE_FULL: (message) => {
    const m = /\((\d+) requests waiting\)/.exec(message);
    return m ? { en: `${m[1]} requests waiting`, zh: `${m[1]} 个请求在排队` } : undefined;
  },
  QUEUE_UNAVAILABLE: () => ({ en: '', zh: '' }),
  // The API's message ("No model worker is ready yet (…)") and /readyz's reason (the part in brackets).
  NO_WORKER: (message) => {
    if (/no worker is running/.test(message)) return { en: 'no worker is running', zh: '没有工作进程在运行' };
    const m = /(\d+) loading, (\d+) unable to serve/.exec(message);
    return m ? { en: `${m[1]} loading, ${m[2]} unable to serve — see /readyz`, zh: `${m[1]} 个正在加载，${m[2]} 个无法服务，详见 /readyz` } : undefined;
  },
  TIMEOUT: (message) => {
    const m = /within (\d+) ms/.exec(message);
    return m ? { en: `waited ${m[1]} ms; the service may be overloaded, try again`, zh: `等待了 ${m[1]} 毫秒；服务可能过载，请重试` } : undefined;
  },
  RATE_LIMITED: (message) => ({ en: message.replace(/^Too many requests from this client; /, ''), zh: '请稍后再试' }),
  WORKER_FAILED: (message) =>
    /unexpected result/.test(message) ? { en: 'it returned an unexpected result; try again', zh: '它返回了意外的结果，请重试' } : { en: 'try again', zh: '请重试' },
  COMPARE_DISABLED: () => ({ en: 'its workers run with COMPARE_FP32=false', zh: '工作进程设置了 COMPARE_FP32=false' }),
  SHUTTING_DOWN: () => ({ en: 'try again in a moment', zh: '请稍后重试' }),
  INTERNAL: (message) => {
    const m = /request id (\S+)/.exec(message);
    return m ? { en: `quote request id ${m[1]} when reporting it`, zh: `报告问题时请提供请求 ID ${m[1]}` } : undefined;
  },
  // /readyz's reason, in the status line.
  REDIS_UNREACHABLE: (message) => ({ en: message, zh: 'Redis 无法连接' }),
  // The page's own messages (web/src/api.ts generateStream).
  STREAM: (message) =>
    /connection/.test(message)
      ? { en: message, zh: '在最后一个词之前，与服务器的连接断开了' }
      : /closed the stream/.test(message)
        ? { en: message, zh: '服务器在最后一个词之前关闭了数据流' }
        : { en: message, zh: '数据流出错' },
};

/** The Chinese for an API error's message, or undefined when its form is not known. */
export function chineseErrorDetail(code: string, message: string): string | undefined {
  return byCode[code]?.(message)?.zh;
}

/**
 * The detail shown after an error's title: what the message adds to it, in the page's language
 * ('' when it adds nothing). A message of a form not known here is shown as it came.
 */
export function errorDetail(code: string, message: string, lang: keyof Detail): string {
  return byCode[code]?.(message)?.[lang] ?? message;
}
