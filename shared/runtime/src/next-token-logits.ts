/**
 * The one function every prompt goes through: a batch of token sequences in, each one's next-token
 * logits out. Prompts are left-padded to a common length (the session's position ids make a padded
 * row compute what it would alone); very unequal or very long prompts are split into several runs so
 * padding and the [batch, seq, vocab] logits output stay bounded.
 */
import { type Gpt2Session, lastPositionLogits, leftPad } from './gpt2-session.js';
import { EOS_TOKEN_ID, GPT2_VOCAB_SIZE } from './tokenizer.js';

/** Padded tokens per run: rows × longest row. One full 1024-token prompt always fits on its own. */
export const DEFAULT_MAX_BATCH_TOKENS = 1024;

/**
 * Groups prompt indices into runs: sorted by length so neighbours pad little, each run holding at
 * most maxTokens padded tokens (a prompt longer than that runs alone).
 */
export function planRuns(lengths: readonly number[], maxTokens: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b);
  const runs: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    const width = lengths[i] as number; // the longest so far, since sorted
    if (current.length > 0 && (current.length + 1) * width > maxTokens) {
      runs.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** Next-token logits for each prompt (over the tokenizer's vocabulary), in the order given. */
export async function nextTokenLogits(session: Gpt2Session, prompts: readonly number[][], maxBatchTokens = DEFAULT_MAX_BATCH_TOKENS): Promise<Float32Array[]> {
  const vocab = session.config.vocab_size;
  const usable = Math.min(vocab, GPT2_VOCAB_SIZE);
  const out: Float32Array[] = new Array(prompts.length);
  for (const run of planRuns(prompts.map((p) => p.length), maxBatchTokens)) {
    const rows = run.map((i) => prompts[i] as number[]);
    const step = await session.logits(leftPad(rows, EOS_TOKEN_ID));
    // Copy the last position of each row so the large [batch, seq, vocab] output can be freed.
    lastPositionLogits(step, vocab).forEach((logits, r) => {
      out[run[r] as number] = logits.slice(0, usable);
    });
  }
  return out;
}

/** One prompt's next-token logits: what a predict request computes for it. */
export async function promptLogits(session: Gpt2Session, tokens: readonly number[]): Promise<Float32Array> {
  return (await nextTokenLogits(session, [[...tokens]]))[0] as Float32Array;
}
