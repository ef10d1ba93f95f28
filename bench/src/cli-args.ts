/** Small helpers for the bench's command lines: checked numbers and lists, and usage errors. */

export class UsageError extends Error {
  override name = 'UsageError';
}

export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${name} must be a positive whole number, got "${value}"`);
  return Number(value);
}

export function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got "${value}"`);
  return n;
}

/** A number from `min` to `max` (a whole one when `whole`), or the fallback when the option is absent. */
export function numberIn(name: string, value: string | undefined, fallback: number, min: number, max: number, whole = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (whole && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be a ${whole ? 'whole ' : ''}number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export function intList(name: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) {
    throw new UsageError(`--${name} must be a comma-separated list of positive whole numbers, got "${value}"`);
  }
  return [...new Set(parts.map(Number))];
}

export function oneOfList<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T[]): T[] {
  if (value === undefined) return fallback;
  const parts = value.split(',').map((p) => p.trim());
  const bad = parts.filter((p) => !(allowed as readonly string[]).includes(p));
  if (parts.length === 0 || bad.length > 0) throw new UsageError(`--${name}: unknown ${bad.join(', ') || 'value'} (known: ${allowed.join(', ')})`);
  return [...new Set(parts)] as T[];
}

/** Runs a CLI's main: usage errors exit 2 with the usage text, other errors exit 1 with the message. */
export function runMain(main: () => Promise<void>, usage: string): void {
  main().catch((err: unknown) => {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`error: ${e.message}\n\n${usage}\n`);
      process.exit(2);
    }
    process.stderr.write(`error: ${e.message}\n`);
    if (process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  });
}
