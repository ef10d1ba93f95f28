/**
 * Turns generated token ids into the events streamed to the client, so that the streamed text and
 * the final text agree exactly: the `token` fields, concatenated, are the result's `text`.
 *
 * - Multi-byte characters are never split (StreamDecoder holds a partial UTF-8 character back until
 *   the token that completes it; that token's event carries the whole character).
 * - Stop strings: an event is held back while its text could be the start of a stop string, so text
 *   belonging to a stop string is never streamed; when a stop string appears, the text is cut just
 *   before it and the events after the cut are dropped.
 */
import type { GeneratedToken } from '@gpt2-int8/contract/api';
import { StreamDecoder } from '@gpt2-int8/runtime/tokenizer';

interface Held {
  event: GeneratedToken;
  /** Offset of this event's text in the stable text. */
  start: number;
}

export class TokenStream {
  private readonly decoder = new StreamDecoder();
  private readonly ids: number[] = [];
  private stable = '';
  private held: Held[] = [];
  private readonly emitted: GeneratedToken[] = [];
  private stopped = false;

  constructor(private readonly stops: readonly string[] = []) {}

  /**
   * Adds the next generated token (with `extra` fields for its event, e.g. its log-probability);
   * returns the events that are now final, in order.
   */
  push(tokenId: number, extra: Pick<GeneratedToken, 'logprob' | 'top_logprobs'> = {}): GeneratedToken[] {
    if (this.stopped) throw new Error('push after a stop string ended the stream');
    const start = this.stable.length;
    const delta = this.decoder.push(tokenId);
    this.ids.push(tokenId);
    this.stable += delta;
    this.held.push({ event: { index: this.ids.length - 1, token: delta, token_id: tokenId, ...extra }, start });

    const stopAt = firstStop(this.stable, this.stops);
    if (stopAt !== undefined) {
      this.stopped = true;
      return this.release(stopAt, true);
    }
    // Everything before a suffix that could still grow into a stop string is safe to send, except
    // that the newest event waits while the decoder holds part of a character for it.
    let safe = this.stable.length - partialStopSuffix(this.stable, this.stops);
    if (this.decoder.text().length !== this.stable.length) safe = Math.min(safe, start - 1);
    return this.release(safe, false);
  }

  /** True once a stop string has appeared; the caller stops generating. */
  get stoppedByString(): boolean {
    return this.stopped;
  }

  /**
   * Ends the stream (EOS, length, context): everything held is final. A character left incomplete
   * at the very end is shown as U+FFFD, attached to the last event so the texts still agree.
   */
  finish(): GeneratedToken[] {
    if (this.stopped) return [];
    const rest = this.decoder.text().slice(this.stable.length);
    const last = this.held[this.held.length - 1];
    if (rest !== '' && last !== undefined) last.event.token += rest;
    return this.release(Infinity, false);
  }

  /** Every event that has been released, in order. */
  events(): GeneratedToken[] {
    return [...this.emitted];
  }

  /** The streamed text so far: the concatenation of the released events. */
  text(): string {
    return this.emitted.map((e) => e.token).join('');
  }

  /** The ids of every token pushed, including any dropped after a stop string. */
  tokenIds(): number[] {
    return [...this.ids];
  }

  /** Releases held events whose text ends at or before `limit`; with `cut`, truncates at it and drops the rest. */
  private release(limit: number, cut: boolean): GeneratedToken[] {
    const out: GeneratedToken[] = [];
    while (this.held.length > 0) {
      const h = this.held[0] as Held;
      const end = h.start + h.event.token.length;
      if (cut) {
        if (h.start >= limit) break;
        h.event.token = h.event.token.slice(0, Math.max(0, limit - h.start));
      } else if (end > limit) {
        break;
      }
      this.held.shift();
      out.push(h.event);
    }
    if (cut) this.held = [];
    this.emitted.push(...out);
    return out;
  }
}

/** Where the earliest stop string begins in text, or undefined. */
export function firstStop(text: string, stops: readonly string[]): number | undefined {
  let best: number | undefined;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && (best === undefined || at < best)) best = at;
  }
  return best;
}

/** The length of the longest suffix of text that is a proper prefix of some stop string. */
export function partialStopSuffix(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(s.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
