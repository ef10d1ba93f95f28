import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';

/** A lock file untouched for this long belongs to a quantizer that died (it refreshes every second). */
const STALE_MS = 15_000;
const REFRESH_MS = 1_000;
const POLL_MS = 200;

export interface HeldLock {
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the lock's holder is gone: a dead process on this host, or no refresh for STALE_MS. */
async function isStale(path: string): Promise<boolean> {
  try {
    const [info, text] = await Promise.all([stat(path), readFile(path, 'utf8')]);
    const holder = JSON.parse(text) as { pid?: number; host?: string };
    if (holder.host === hostname() && typeof holder.pid === 'number' && !processAlive(holder.pid)) return true;
    return Date.now() - info.mtimeMs > STALE_MS;
  } catch {
    // Unreadable or half-written by its creator: judge by age alone next time round.
    return false;
  }
}

/**
 * An exclusive lock on an artifact directory, so two quantizers started together (two compose
 * projects, a retry racing the first run) never write the same artifact: the second waits, then
 * finds the first one's artifact and reuses it. Works across containers sharing a volume.
 */
export async function acquireLock(path: string, onWait: (holder: string) => void): Promise<HeldLock> {
  let announced = false;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      await handle.close();
      const timer = setInterval(() => {
        const now = new Date();
        utimes(path, now, now).catch(() => undefined);
      }, REFRESH_MS);
      timer.unref();
      return {
        release: async () => {
          clearInterval(timer);
          await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(path)) {
      await rm(path, { force: true });
      continue;
    }
    if (!announced) {
      onWait(await readFile(path, 'utf8').catch(() => 'another quantizer'));
      announced = true;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
