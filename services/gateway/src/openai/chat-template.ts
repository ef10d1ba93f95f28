/**
 * GPT-2 is not a chat model: it was never trained on conversations or instructions. Chat messages
 * become one plain-text prompt that it can at least continue:
 *
 *     System: <system or developer message>
 *     User: <user message>
 *     Assistant: <assistant message>
 *     User: <user message>
 *     Assistant:
 *
 * one line per message (in order, content as given; an assistant message without content is an
 * empty line), then "Assistant:" for the model to continue.
 * Generation also stops at CHAT_STOP ("\nUser:"), where the model starts writing the user's next turn.
 * Documented in the README and at /docs, and in GET /v1/models (meta.chat_template).
 */
import type { ChatMessage } from './schemas.js';
import { invalidRequest } from './openai-error.js';

export const CHAT_STOP = '\nUser:';
export const CHAT_TEMPLATE_DESCRIPTION =
  'Plain transcript: one "System: …", "User: …" or "Assistant: …" line per message (developer counts as System), then "Assistant:"; generation also stops at "\\nUser:".';

const SPEAKER: Record<ChatMessage['role'], string> = { system: 'System', developer: 'System', user: 'User', assistant: 'Assistant' };

function contentText(m: ChatMessage, i: number): string {
  if (m.content == null) {
    // OpenAI's rule: only an assistant message may go without content (it had tool calls instead).
    if (m.role === 'assistant') return '';
    throw invalidRequest(`messages[${i}].content is required on a ${m.role} message (a string or a list of text parts)`, `messages[${i}].content`);
  }
  if (typeof m.content === 'string') return m.content;
  return m.content
    .map((part, j) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw invalidRequest(`Only text content parts are supported (GPT-2 reads text only); got type ${JSON.stringify(part.type)}`, `messages[${i}].content[${j}].type`);
      }
      return part.text;
    })
    .join('');
}

export function chatPrompt(messages: readonly ChatMessage[]): string {
  return `${messages.map((m, i) => `${SPEAKER[m.role]}: ${contentText(m, i)}`).join('\n')}\nAssistant:`;
}
