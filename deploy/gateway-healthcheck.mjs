// @ts-check
/**
 * The gateway image's HEALTHCHECK: GET /healthz on the port the gateway listens on (PORT, default
 * 6006), within 3 s. /healthz says the process is alive and answering HTTP; whether it can serve
 * (Redis reachable, a worker ready) is /readyz, which is for load balancers, not for restarts.
 * Exits 0 (healthy) or 1 with one line of output.
 */
import { readGatewayConfig } from '@gpt2-int8/gateway/config';

const config = readGatewayConfig();
// A wildcard listen address is reached through loopback.
const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}/healthz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  process.stdout.write(`${res.ok ? 'healthy' : 'unhealthy'}: ${url} answered ${res.status}\n`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stdout.write(`unhealthy: ${url}: ${/** @type {Error} */ (err).message}\n`);
  process.exit(1);
}
