/**
 * What the services send Redis while something runs: `redis-cli monitor` against a Redis, its
 * commands counted by name. MONITOR slows Redis down a little, so it is only for counting round
 * trips, never while timing.
 */
import { spawn } from 'node:child_process';

export interface RedisMonitor {
  /** Stops watching; resolves with the number of each command seen (names upper-case). */
  stop(): Promise<Map<string, number>>;
}

export async function monitorRedis(redisUrl: string): Promise<RedisMonitor> {
  const child = spawn('redis-cli', ['-u', redisUrl, 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const counts = new Map<string, number>();
  let partial = '';
  let problem = '';
  child.stderr.on('data', (d: Buffer) => (problem += d.toString()));
  // Each line: 1712345678.123456 [0 127.0.0.1:40000] "EVALSHA" "…" …
  const started = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`could not run redis-cli (install Redis's command-line tools): ${err.message}`)));
    child.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === 'OK') resolve();
        const name = /^\d+\.\d+ \[[^\]]*\] "([^"]+)"/.exec(line)?.[1]?.toUpperCase();
        if (name !== undefined) counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    });
    child.on('exit', (code) => reject(new Error(`redis-cli monitor exited (${code}): ${problem.trim()}`)));
  });
  await started;
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
      return counts;
    },
  };
}
