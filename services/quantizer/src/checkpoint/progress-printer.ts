/**
 * Byte-count progress for long file operations (hub downloads, make-model's 500 MB write), printed
 * to a stream. On a terminal one line is rewritten in place; in logs (not a TTY) carriage returns
 * would turn into thousands of lines, so it prints a line only every ~10% and at the end.
 */

export interface ByteProgress {
  /** What is being transferred, e.g. the file name. */
  label: string;
  bytesDone: number;
  /** Undefined when the size is not known (a server without Content-Length). */
  bytesTotal: number | undefined;
  /** True on the last report for this label. */
  done?: boolean;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

// Without a known total, a non-TTY stream still hears something every this many bytes.
const UNKNOWN_TOTAL_STEP = 64 * 1024 * 1024;
// A terminal redraw more often than this is invisible and costs time.
const TTY_MIN_INTERVAL_MS = 100;

/** Returns a callback to pass as `onProgress`. `now` is injectable for tests. */
export function createProgressPrinter(stream: ProgressStream, now: () => number = Date.now): (p: ByteProgress) => void {
  const tty = stream.isTTY === true;
  let label: string | undefined;
  let started = 0;
  let lastStep = -1;
  let lastDraw = 0;

  const describe = (p: ByteProgress): string => {
    const elapsed = Math.max(1, now() - started) / 1000;
    const rate = `${formatBytes(Math.round(p.bytesDone / elapsed))}/s`;
    if (p.bytesTotal === undefined || p.bytesTotal === 0) return `${p.label}  ${formatBytes(p.bytesDone)}  ${rate}`;
    const pct = Math.floor((100 * p.bytesDone) / p.bytesTotal);
    return `${p.label}  ${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}  ${String(pct).padStart(3)}%  ${rate}`;
  };

  return (p) => {
    if (p.label !== label) {
      label = p.label;
      started = now();
      lastStep = -1;
      lastDraw = 0;
    }
    if (tty) {
      const t = now();
      if (!p.done && t - lastDraw < TTY_MIN_INTERVAL_MS) return;
      lastDraw = t;
      stream.write(`\r\x1b[2K${describe(p)}${p.done ? '\n' : ''}`);
      return;
    }
    const step =
      p.bytesTotal !== undefined && p.bytesTotal > 0 ? Math.floor((10 * p.bytesDone) / p.bytesTotal) : Math.floor(p.bytesDone / UNKNOWN_TOTAL_STEP);
    if (p.done) {
      stream.write(`${describe(p)}  done\n`);
      lastStep = Number.POSITIVE_INFINITY;
    } else if (step > lastStep && !(p.bytesTotal !== undefined && p.bytesDone >= p.bytesTotal)) {
      // (100% is left to the done line, so a finished file is not reported twice.)
      lastStep = step;
      stream.write(`${describe(p)}\n`);
    }
  };
}
