/**
 * Hosts of their own for the multi-host test: Linux network namespaces, each with only its loopback
 * and one veth interface, joined by a bridge in the hub namespace (where the gateway and Redis run).
 * The test process reaches the hub through one more veth pair, whose end in this namespace is the
 * only change made outside the namespaces; `remove()` deletes it and the namespaces.
 *
 * Addresses come from 198.18.0.0/15, the range set aside for testing network equipment (RFC 2544):
 * they are used only on these interfaces, inside namespaces made here. Needs root and iproute2
 * (`ip netns`); `netnsUnavailable()` says why not when it cannot be done.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export interface Host {
  /** The namespace's name, for `ip netns exec`. */
  ns: string;
  address: string;
}

export interface Network {
  hub: Host;
  /** The worker hosts, in order. */
  hosts: Host[];
  /** This process's own address on the bridge. */
  testAddress: string;
  /** Prefix a command with this to run it on `host`. */
  wrapper(host: Host): string[];
  /** Runs a command on `host` and returns what it printed (throws on a non-zero exit). */
  exec(host: Host, command: string, args: string[]): string;
  /** Deletes the namespaces and this namespace's end of the link; true when nothing is left. */
  remove(): boolean;
}

const PREFIX = 'g2i';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function namespaces(): string[] {
  return ip('netns', 'list').split('\n').map((l) => l.split(' ')[0] as string).filter((n) => n !== '');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Namespaces a killed earlier run left behind (their test process is gone). */
function removeStale(): void {
  for (const ns of namespaces()) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(ns);
    if (m && !pidAlive(Number(m[1]))) spawnSync('ip', ['netns', 'delete', ns]);
  }
  for (const line of ip('-o', 'link', 'show').split('\n')) {
    const m = new RegExp(`^\\d+: (${PREFIX}(\\d+)r)@`).exec(line);
    if (m && !pidAlive(Number(m[2]))) spawnSync('ip', ['link', 'delete', m[1] as string]);
  }
}

/** Why network namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  const probe = `${PREFIX}${process.pid}-probe`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.error) return `iproute2's ip is not installed (${add.error.message}); apt-get install iproute2`;
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim()} (it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)`;
  const veth = spawnSync('ip', ['-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1'], { encoding: 'utf8' });
  const bridge = spawnSync('ip', ['-n', probe, 'link', 'add', 'probebr', 'type', 'bridge'], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'delete', probe]);
  if (veth.status !== 0) return `cannot make a veth pair: ${veth.stderr.trim()}`;
  if (bridge.status !== 0) return `cannot make a bridge: ${bridge.stderr.trim()}`;
  return undefined;
}

/** A /24 in 198.18.0.0/16 that no route here uses yet. */
function freeSubnet(): string {
  const routes = ip('-4', 'route', 'show', 'table', 'all');
  for (let i = 0; i < 254; i++) {
    const third = ((process.pid + i) % 254) + 1;
    const subnet = `198.18.${third}`;
    if (!routes.includes(`${subnet}.`)) return subnet;
  }
  throw new Error('no free /24 in 198.18.0.0/16');
}

export function createNetwork(workerHosts: number): Network {
  removeStale();
  const id = `${PREFIX}${process.pid}`;
  const subnet = freeSubnet();
  const hub: Host = { ns: `${id}-hub`, address: `${subnet}.1` };
  const hosts: Host[] = Array.from({ length: workerHosts }, (_, i) => ({ ns: `${id}-w${i + 1}`, address: `${subnet}.${11 + i}` }));
  const rootEnd = `${id}r`;
  const network: Network = {
    hub,
    hosts,
    testAddress: `${subnet}.254`,
    wrapper: (host) => ['ip', 'netns', 'exec', host.ns],
    exec: (host, command, args) => execFileSync('ip', ['netns', 'exec', host.ns, command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    remove: () => {
      spawnSync('ip', ['link', 'delete', rootEnd]);
      for (const h of [hub, ...hosts]) spawnSync('ip', ['netns', 'delete', h.ns]);
      const left = namespaces().filter((n) => n.startsWith(`${id}-`));
      const link = spawnSync('ip', ['link', 'show', rootEnd]).status === 0;
      return left.length === 0 && !link;
    },
  };
  try {
    for (const h of [hub, ...hosts]) {
      ip('netns', 'add', h.ns);
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', hub.ns, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', hub.ns, 'addr', 'add', `${hub.address}/24`, 'dev', 'br0');
    ip('-n', hub.ns, 'link', 'set', 'br0', 'up');
    // Each host: a veth pair, one end (eth0) in the host, the other on the hub's bridge.
    hosts.forEach((h, i) => {
      const hubEnd = `h${i + 1}`;
      ip('-n', hub.ns, 'link', 'add', hubEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      ip('-n', hub.ns, 'link', 'set', hubEnd, 'master', 'br0', 'up');
      ip('-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
      ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
    });
    // This process's way in: one more pair, its end here.
    ip('link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'test', 'netns', hub.ns);
    ip('-n', hub.ns, 'link', 'set', 'test', 'master', 'br0', 'up');
    ip('addr', 'add', `${network.testAddress}/24`, 'dev', rootEnd);
    ip('link', 'set', rootEnd, 'up');
  } catch (err) {
    network.remove();
    throw new Error(`could not build the test network: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  return network;
}
