/** Markdown tables and the formatting of values inside them. */

/** A table cell: pipes escaped and line breaks shown as ⏎, so one value stays in one cell. */
export function cell(value: string): string {
  return value.replace(/\|/g, '\\|').replace(/\r?\n/g, '⏎');
}

/** A token or prompt as a quoted string, so leading spaces and odd characters are visible. */
export function quoted(text: string, max = 48): string {
  const shown = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return cell(JSON.stringify(shown));
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const sep = headers.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'));
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(sep), ...rows.map(line)].join('\n');
}

export function fixed(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function pct(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(digits)}%` : 'n/a';
}
