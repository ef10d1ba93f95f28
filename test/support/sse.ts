/** Server-Sent Events as the gateway sends them (`event:` and `data:` lines, JSON data), for tests. */

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
  /** Which network read delivered it (0-based; 0 for a parsed body): shows events arrived separately. */
  chunk: number;
}

function parseBlock(block: string, chunk: number): SseEvent {
  const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
  const data = block
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6))
    .join('\n');
  return { event, data: (data ? JSON.parse(data) : {}) as Record<string, unknown>, chunk };
}

/** A whole text/event-stream body as events. */
export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => parseBlock(block, 0));
}

/** Reads a text/event-stream response to its end, calling `onEvent` as each event arrives. */
export async function readSse(res: Response, onEvent?: (e: SseEvent) => void): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (let chunk = 0; ; chunk++) {
    const { value, done } = await reader.read();
    if (done) return events;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const e = parseBlock(buffer.slice(0, end), chunk);
      buffer = buffer.slice(end + 2);
      events.push(e);
      onEvent?.(e);
    }
  }
}
