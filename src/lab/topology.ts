/**
 * Hosts in network namespaces, for `fulcrum lab` and the privileged tests: a client, a
 * balancer and two servers, each with one veth `eth0` on a bridge that lives in a
 * namespace of its own, addressed from the documentation ranges only:
 *
 *   client   198.51.100.10/24, default route via the balancer (198.51.100.1)
 *   balancer 192.0.2.1/24 and 198.51.100.1/24, the VIP 203.0.113.10/32
 *   s1, s2   192.0.2.11/24, 192.0.2.12/24
 *
 * With `pair` (the lab), a second balancer (the VRRP partner, `b2`) joins, and the
 * balancer's three addresses above become the pair's virtual addresses, held by whichever
 * Fulcrum is VRRP master: each balancer has only addresses of its own (PAIR_ADDRESSES),
 * and may bind the virtual ones before it holds them (net.ipv4.ip_nonlocal_bind).
 *
 * Names carry a prefix (the tests: "fu<pid><tag>", the lab: "fulab-"); destroy() deletes
 * every namespace (and with them the veths, the bridge and any nftables table made
 * inside) after ending, by pid, the processes started in them. Nothing here touches the
 * host's own namespace besides creating the veth pairs that are moved away at once.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** iproute2's `ip`, by path: a test may run a program with a PATH that lacks it. */
export const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
/** fulcrum's own entry point (dist/src/cli/main.js). */
export const FULCRUM_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export const VIP = '203.0.113.10';
export const CLIENT_IP = '198.51.100.10';
export const CLIENT_GATEWAY = '198.51.100.1';
export const BALANCER_IP = '192.0.2.1';
export const SERVER_IPS = ['192.0.2.11', '192.0.2.12'] as const;
export const CLIENT_NET = '198.51.100.0/24';
/** With a VRRP pair: each balancer's own addresses (in the servers', the client's and the VIP's subnets), the partner's second. */
export const PAIR_ADDRESSES = [
  ['192.0.2.2/24', '198.51.100.2/24', '203.0.113.2/24'],
  ['192.0.2.3/24', '198.51.100.3/24', '203.0.113.3/24'],
] as const;
/** With a VRRP pair: the addresses that move to the master (a /24 each, so that they lie in a subnet of the balancers' own). */
export const PAIR_VIRTUAL = [`${VIP}/24`, `${CLIENT_GATEWAY}/24`, `${BALANCER_IP}/24`] as const;
export const SERVER_NET = '192.0.2.0/24';
/** With a router (the lab's ECMP mode): its addresses on the servers' and the client's subnets. */
export const ROUTER_IP = '192.0.2.4';
export const ROUTER_CLIENT_IP = '198.51.100.4';

/** Whether `tool` is in one of the usual system directories. */
export function hasTool(tool: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(`${d}/${tool}`));
}

/** Runs a command; rejects with its stderr on a non-zero exit. */
export async function sh(file: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(file, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Runs a command and resolves with its exit code and output, whatever the code. */
export async function shResult(file: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 << 20, env: opts.env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** A process started inside a namespace (`ip netns exec` execs it, so its pid is the program's). */
export class NsProcess {
  out = '';
  err = '';
  readonly exited: Promise<number | null>;
  private gone = false;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.err += s));
    this.exited = new Promise((resolve) => child.once('exit', (code) => ((this.gone = true), resolve(code))));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get hasExited(): boolean {
    return this.gone;
  }

  /** Waits until stdout or stderr matches `re` (up to `ms`); returns the match. */
  async waitFor(re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out + this.err);
      if (m !== null) return m;
      if (this.gone) throw new Error(`process exited before printing ${re}:\n${this.out}${this.err}`);
      if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms:\n${this.out}${this.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGTERM, SIGKILL after `ms`; resolves with the exit code once it is gone. */
  async stop(ms = 3000): Promise<number | null> {
    if (!this.gone) {
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), ms);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.gone) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** The four hosts and their bridge. */
export class Topology {
  readonly client: string;
  readonly balancer: string;
  /** The balancer's VRRP partner, when built with `pair`. */
  readonly partner: string | null;
  /** A router on the same link (BIRD runs there in the lab's ECMP mode), when built with `router`. */
  readonly router: string | null;
  readonly servers: [string, string];
  readonly bridge: string;
  private readonly procs: NsProcess[] = [];
  private readonly all: string[];
  private closed = false;

  private constructor(
    readonly prefix: string,
    pair: boolean,
    router: boolean,
  ) {
    this.client = `${prefix}c`;
    this.balancer = `${prefix}b`;
    this.partner = pair ? `${prefix}b2` : null;
    this.router = router ? `${prefix}r` : null;
    this.servers = [`${prefix}s1`, `${prefix}s2`];
    this.bridge = `${prefix}br`;
    this.all = [this.bridge, this.client, this.balancer, ...(this.partner === null ? [] : [this.partner]), ...this.servers, ...(this.router === null ? [] : [this.router])];
  }

  /** The balancers: the one that starts as master, then its partner if any. */
  get balancers(): string[] {
    return this.partner === null ? [this.balancer] : [this.balancer, this.partner];
  }

  /** A test's hosts, named after its pid and `tag`. */
  static create(tag: string): Promise<Topology> {
    return Topology.createNamed(`fu${process.pid % 100_000}${tag}`);
  }

  /** Builds the namespaces named `prefix`c, b, s1, s2, br (and b2 with `pair`); on any failure removes what it made and rethrows. */
  static async createNamed(prefix: string, opts: { pair?: boolean; router?: boolean } = {}): Promise<Topology> {
    const topo = new Topology(prefix, opts.pair === true, opts.router === true);
    try {
      await topo.build();
    } catch (err) {
      await topo.destroy();
      throw err;
    }
    return topo;
  }

  /** Every namespace, the bridge's first. */
  get namespaces(): readonly string[] {
    return this.all;
  }

  private async build(): Promise<void> {
    for (const ns of this.all) {
      await sh(IP, ['netns', 'add', ns]);
      await this.ip(ns, 'link', 'set', 'lo', 'up');
    }
    await this.ip(this.bridge, 'link', 'add', 'br0', 'type', 'bridge');
    await this.ip(this.bridge, 'link', 'set', 'br0', 'up');
    for (const ns of this.all.slice(1)) {
      // veth: `eth0` in the host, its peer (named after the host) on the bridge
      await sh(IP, ['link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await sh(IP, ['link', 'set', ns, 'netns', this.bridge]);
      await this.ip(this.bridge, 'link', 'set', ns, 'master', 'br0', 'up');
      await this.ip(ns, 'link', 'set', 'eth0', 'up');
    }
    await this.ip(this.client, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0');
    await this.ip(this.client, 'route', 'add', 'default', 'via', CLIENT_GATEWAY);
    if (this.partner === null) {
      await this.ip(this.balancer, 'addr', 'add', `${BALANCER_IP}/24`, 'dev', 'eth0');
      await this.ip(this.balancer, 'addr', 'add', `${CLIENT_GATEWAY}/24`, 'dev', 'eth0');
      await this.ip(this.balancer, 'addr', 'add', `${VIP}/32`, 'dev', 'eth0');
    }
    for (const [i, ns] of this.balancers.entries()) {
      if (this.partner !== null) for (const addr of PAIR_ADDRESSES[i]!) await this.ip(ns, 'addr', 'add', addr, 'dev', 'eth0');
      // a balancer forwards for NAT, sends no ICMP redirects to the client on its one link,
      // and (in a pair) binds the virtual addresses while its partner holds them
      await this.exec(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0', 'net.ipv4.ip_nonlocal_bind=1');
    }
    for (const [i, ns] of this.servers.entries()) await this.ip(ns, 'addr', 'add', `${SERVER_IPS[i]}/24`, 'dev', 'eth0');
    if (this.router !== null) {
      await this.ip(this.router, 'addr', 'add', `${ROUTER_IP}/24`, 'dev', 'eth0');
      await this.ip(this.router, 'addr', 'add', `${ROUTER_CLIENT_IP}/24`, 'dev', 'eth0');
      // ECMP over the 4-tuple, so that one client's connections spread over the next hops
      await this.exec(this.router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0');
    }
  }

  /** The client's default route: through the balancer's address (or the pair's), or through `via`. */
  async clientGateway(via: string = CLIENT_GATEWAY): Promise<void> {
    await this.ip(this.client, 'route', 'replace', 'default', 'via', via);
  }

  /** The router's next hops for `prefix` (sorted), from its kernel's table. */
  async nextHops(prefix: string): Promise<string[]> {
    if (this.router === null) return [];
    return [...(await this.ip(this.router, 'route', 'show', prefix)).matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
  }

  /** `ip -n NS ...` */
  ip(ns: string, ...args: string[]): Promise<string> {
    return sh(IP, ['-n', ns, ...args]);
  }

  /** `ip netns exec NS ...` */
  exec(ns: string, file: string, ...args: string[]): Promise<string> {
    return sh(IP, ['netns', 'exec', ns, file, ...args], { timeoutMs: 60_000 });
  }

  /** Which server `fulcrum dataplane which` (on the balancer) says each client port's flow of `service` reaches under `file`. */
  async which(file: string, service: string, ports: number[]): Promise<string[]> {
    const out = await this.exec(this.balancer, process.execPath, FULCRUM_MAIN, 'dataplane', 'which', '-c', file, '--service', service, '--json', ...ports.map((p) => `${CLIENT_IP}:${p}`));
    return (JSON.parse(out) as Array<{ server: string }>).map((w) => w.server);
  }

  /** Starts a long-running program in `ns`; ended by destroy() if the caller does not. */
  start(ns: string, file: string, args: string[], opts: { stdin?: boolean; env?: NodeJS.ProcessEnv } = {}): NsProcess {
    if (this.closed) throw new Error(`the hosts are gone: not starting ${file} in ${ns}`);
    const child = spawn(IP, ['netns', 'exec', ns, file, ...args], { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: opts.env });
    const p = new NsProcess(child);
    this.procs.push(p);
    return p;
  }

  /** The MAC address of `eth0` in `ns`. */
  async mac(ns: string): Promise<string> {
    const [link] = JSON.parse(await this.ip(ns, '-j', 'link', 'show', 'dev', 'eth0')) as Array<{ address: string }>;
    return link!.address;
  }

  /** Bytes received and sent by `eth0` in `ns` so far. */
  async counters(ns: string): Promise<{ rx: number; tx: number }> {
    const [link] = JSON.parse(await this.ip(ns, '-s', '-j', 'link', 'show', 'dev', 'eth0')) as Array<{ stats64: { rx: { bytes: number }; tx: { bytes: number } } }>;
    return { rx: link!.stats64.rx.bytes, tx: link!.stats64.tx.bytes };
  }

  /** The servers' route back to the client: through the balancer (nat), direct (dsr), or none (full NAT). */
  async serverReturnRoute(how: 'balancer' | 'direct' | 'none'): Promise<void> {
    for (const ns of this.servers) {
      await this.ip(ns, 'route', 'flush', CLIENT_NET);
      if (how === 'balancer') await this.ip(ns, 'route', 'add', CLIENT_NET, 'via', BALANCER_IP);
      if (how === 'direct') await this.ip(ns, 'route', 'add', CLIENT_NET, 'dev', 'eth0');
    }
  }

  /** Whether the client reaches the servers' subnet directly on the bridge (not through the balancer). */
  async clientDirectRoute(on: boolean): Promise<void> {
    await this.ip(this.client, 'route', 'flush', SERVER_NET);
    if (on) await this.ip(this.client, 'route', 'add', SERVER_NET, 'dev', 'eth0');
  }

  /**
   * After a balancer's Fulcrum was killed (a drill): ends, by pid, what is left of it in
   * `ns` (a worker, an `ip -batch`), and removes the nftables rules and the virtual
   * addresses that a process killed without its stop leaves behind. Never rejects.
   */
  async clearBalancer(ns: string): Promise<void> {
    await killAllIn(ns);
    if (hasTool('nft')) await this.exec(ns, 'nft', 'flush', 'ruleset').catch(() => undefined);
    for (const addr of PAIR_VIRTUAL) await this.ip(ns, 'addr', 'del', addr, 'dev', 'eth0').catch(() => undefined);
  }

  /** Lets the processes started here outlive this one (`fulcrum lab --keep`): no pipe or handle of theirs keeps it running. */
  release(): void {
    for (const p of this.procs) {
      for (const stream of [p.child.stdin, p.child.stdout, p.child.stderr]) stream?.destroy();
      p.child.unref();
    }
  }

  /**
   * Ends every process started here (by pid), then any other still in the namespaces
   * (`ip netns pids`: a command's child), and deletes the namespaces. Nothing starts here
   * afterwards. Never rejects.
   */
  async destroy(): Promise<void> {
    this.closed = true;
    await Promise.all(this.procs.map((p) => p.stop(2000)));
    for (const ns of this.all) {
      await killAllIn(ns);
      await sh(IP, ['netns', 'del', ns]).catch(() => undefined);
    }
  }
}

/** SIGKILLs, by pid, every process in the namespace `ns`; resolves with their pids. */
export async function killAllIn(ns: string): Promise<number[]> {
  const pids = (await sh(IP, ['netns', 'pids', ns]).catch(() => '')).split('\n').filter((p) => /^\d+$/.test(p)).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return pids;
}
