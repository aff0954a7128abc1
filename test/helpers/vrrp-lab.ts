/**
 * A small L2 network for VRRP tests: a switch namespace with a bridge, and hosts (each a
 * namespace with `eth0` on the bridge) addressed from 192.0.2.0/24. Processes started in
 * a host are tracked and ended by their pid; everything (processes, namespaces, temp
 * files) goes away in `destroy()`, which tests call from t.after(). Also: a watch of the
 * virtual address on each node (`ip monitor address`, time-stamped as lines arrive), a
 * bounded curl loop from a client host, and config writers for Fulcrum and keepalived.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { privilegedSkip, sh } from './netns.js';
import { CLI_PATH } from './spawn.js';
import { waitFor } from './wait.js';

const WEB_SERVER = fileURLToPath(new URL('../fixtures/web-server.js', import.meta.url));

/** Why a VRRP test skips, or null when it can run. */
export function cannotRun(): string | null {
  return privilegedSkip(['ip', 'keepalived', 'arping', 'curl', 'nft']);
}

/** One output line of a process, time-stamped when it arrived. */
export interface Line {
  t: number;
  text: string;
}

/** A process started in a host namespace. */
export class Proc {
  readonly lines: Line[] = [];
  readonly exited: Promise<void>;
  private waiters: Array<{ re: RegExp; from: number; resolve: (l: Line) => void }> = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream?.setEncoding('utf8').on('data', (d: string) => {
        const t = Date.now();
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.push({ t, text: buf.slice(0, i) });
          buf = buf.slice(i + 1);
        }
      });
    }
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  private push(l: Line): void {
    this.lines.push(l);
    this.waiters = this.waiters.filter((w) => {
      if (l.t < w.from || !w.re.test(l.text)) return true;
      w.resolve(l);
      return false;
    });
  }

  /** The first line matching `re` at or after time `from` (ms since epoch), waiting up to `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs = 5000, from = 0): Promise<Line> {
    const seen = this.lines.find((l) => l.t >= from && re.test(l.text));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms; output:\n${this.text()}`)), timeoutMs);
      this.waiters.push({
        re,
        from,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }

  /** Sends a signal to the process (or its group, for shell loops started detached). */
  kill(signal: NodeJS.Signals = 'SIGTERM', group = false): void {
    try {
      process.kill(group ? -this.pid : this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, SIGKILL after `ms`; resolves once it is gone. */
  async stop(ms = 3000, group = false): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.kill('SIGTERM', group);
    const timer = setTimeout(() => this.kill('SIGKILL', group), ms);
    await this.exited;
    clearTimeout(timer);
  }
}

/** One VIP event seen on a host. */
export interface VipEvent {
  t: number;
  host: string;
  added: boolean;
}

/** The lab: a switch namespace and hosts on it, and what runs in them. */
export class Lab {
  readonly prefix = `fu${process.pid}v`;
  readonly dir = mkdtempSync(join(tmpdir(), 'fulcrum-vrrp-'));
  private readonly hosts: string[] = [];
  private readonly procs: Proc[] = [];
  private created = false;

  /** A lab with `addresses` (host -> "192.0.2.X/24"), destroyed after the test. */
  static async open(t: TestContext, addresses: Record<string, string>): Promise<Lab> {
    const lab = new Lab();
    t.after(() => lab.destroy());
    await lab.create(addresses);
    return lab;
  }

  /** Starts test/fixtures/web-server in `host` on port 8080, answering `name`; resolves once it is ready. */
  async webServer(host: string, name: string): Promise<Proc> {
    const p = this.start(host, name, process.execPath, [WEB_SERVER, '8080', name, '0.0.0.0']);
    await p.waitFor(/ready/);
    return p;
  }

  ns(host: string): string {
    return `${this.prefix}${host}`;
  }

  /** Creates the switch and hosts, `addresses` host -> "192.0.2.X/24". */
  async create(addresses: Record<string, string>): Promise<void> {
    this.created = true;
    const sw = this.ns('sw');
    await ip('netns', 'add', sw);
    await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', sw, 'link', 'set', 'br0', 'up');
    for (const [host, addr] of Object.entries(addresses)) {
      const ns = this.ns(host);
      const port = `${this.prefix}${host}`; // <= 15 chars: "fu" + pid + "v" + host
      await ip('netns', 'add', ns);
      this.hosts.push(host);
      await ip('link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', sw);
      await ip('-n', sw, 'link', 'set', port, 'master', 'br0', 'up');
      await ip('-n', ns, 'addr', 'add', addr, 'dev', 'eth0');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  }

  /** Runs a command in a host and returns its output (throws on failure). */
  exec(host: string, cmd: string, args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', this.ns(host), cmd, ...args]);
  }

  /** Starts a long-running command in a host. */
  start(host: string, name: string, cmd: string, args: string[], detached = false): Proc {
    const child = spawn('ip', ['netns', 'exec', this.ns(host), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached });
    const p = new Proc(name, child);
    this.procs.push(p);
    return p;
  }

  /** Writes a file in the lab's temp directory and returns its path. */
  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }

  /** Starts Fulcrum in a host with a configuration text; resolves once it listens. */
  async fulcrum(host: string, name: string, yaml: string): Promise<Proc> {
    const cfg = this.file(`${name}.yaml`, yaml);
    const p = this.start(host, name, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', cfg]);
    await p.waitFor(/listening on http|vrrp \S+: STOP -> /, 10_000);
    return p;
  }

  /** Starts keepalived (VRRP only, in the foreground, logging to the console). */
  keepalived(host: string, name: string, conf: string): Proc {
    const file = this.file(`${name}.conf`, conf);
    const pid = join(this.dir, `${name}.pid`);
    const vrrpPid = join(this.dir, `${name}-vrrp.pid`);
    return this.start(host, name, 'keepalived', ['-n', '-l', '-D', '--vrrp', '-f', file, '-p', pid, '-r', vrrpPid]);
  }

  /** keepalived's VRRP child pid (the process that speaks VRRP), once it has written it. */
  keepalivedChild(name: string): number {
    return Number(readFileSync(join(this.dir, `${name}-vrrp.pid`), 'utf8').trim());
  }

  /** Watches `vip` on each host; events are time-stamped as they arrive. */
  async watchVip(hosts: string[], vip: string): Promise<VipWatch> {
    const watch = new VipWatch(vip);
    for (const h of hosts) watch.add(h, this.start(h, `monitor ${h}`, 'ip', ['-o', 'monitor', 'address', 'dev', 'eth0']));
    // `ip monitor` subscribes right after it starts.
    await new Promise((r) => setTimeout(r, 150));
    for (const h of hosts) if ((await this.exec(h, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0'])).includes(` ${vip}/`)) watch.initial(h);
    return watch;
  }

  /**
   * A bounded curl loop from `host` to `url`: at most `count` requests, each at most
   * `maxMs`, `pauseMs` apart; one line per request: START_MS END_MS HTTP_CODE.
   */
  curlLoop(host: string, url: string, count: number, maxMs = 250, pauseMs = 20): CurlLoop {
    const script = `i=0; while [ $i -lt ${count} ]; do s=$(date +%s%3N); c=$(curl -s -o /dev/null -m ${maxMs / 1000} -w '%{http_code}' ${url}); e=$(date +%s%3N); echo "$s $e $c"; i=$((i+1)); sleep ${pauseMs / 1000}; done`;
    return new CurlLoop(this.start(host, 'curl loop', 'sh', ['-c', script], true));
  }

  /** Ends every process (by pid) and deletes the namespaces and temp files. */
  async destroy(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(1000, p.child.spawnargs.includes('sh'))));
    if (this.created) {
      for (const h of this.hosts) await ip('netns', 'del', this.ns(h)).catch(() => undefined);
      await ip('netns', 'del', this.ns('sw')).catch(() => undefined);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function ip(...args: string[]): Promise<string> {
  return sh('ip', args);
}

/** Who held the virtual address when. */
export class VipWatch {
  readonly events: VipEvent[] = [];
  private readonly holding = new Map<string, boolean>();

  constructor(readonly vip: string) {}

  add(host: string, p: Proc): void {
    this.holding.set(host, false);
    p.child.stdout!.on('data', () => {
      for (const l of p.lines.splice(0)) {
        if (!l.text.includes(` ${this.vip}/`)) continue;
        const added = !l.text.startsWith('Deleted');
        this.holding.set(host, added);
        this.events.push({ t: l.t, host, added });
      }
    });
  }

  initial(host: string): void {
    this.holding.set(host, true);
    this.events.push({ t: Date.now(), host, added: true });
  }

  /** Hosts holding the address now. */
  holders(): string[] {
    return [...this.holding].filter(([, v]) => v).map(([h]) => h);
  }

  /** When `host` next gains the address at or after `from`, waiting up to `timeoutMs`. */
  async gained(host: string, from: number, timeoutMs = 5000): Promise<number> {
    const e = await waitFor(() => this.events.find((x) => x.host === host && x.added && x.t >= from), timeoutMs, () => `${host} to take ${this.vip}; events: ${JSON.stringify(this.events)}`);
    return e.t;
  }

  /** When `host` next loses the address at or after `from`, waiting up to `timeoutMs`. */
  async lost(host: string, from: number, timeoutMs = 5000): Promise<number> {
    const e = await waitFor(() => this.events.find((x) => x.host === host && !x.added && x.t >= from), timeoutMs, () => `${host} to release ${this.vip}; events: ${JSON.stringify(this.events)}`);
    return e.t;
  }

  /**
   * The longest time two hosts held the address at once (ms), replaying the events from
   * `from`: the brief overlap of a preemption (the new master adds before the old one
   * hears it and removes) is expected; a split brain is not.
   */
  longestOverlap(from = 0): number {
    const held = new Map<string, boolean>();
    let since = -1;
    let longest = 0;
    for (const e of this.events) {
      held.set(e.host, e.added);
      const both = [...held.values()].filter(Boolean).length > 1;
      if (e.t < from) {
        since = both ? from : -1;
        continue;
      }
      if (both && since < 0) since = e.t;
      if (!both && since >= 0) {
        longest = Math.max(longest, e.t - since);
        since = -1;
      }
    }
    if (since >= 0) longest = Math.max(longest, Date.now() - since);
    return longest;
  }
}

/** The output of a curl loop. */
export class CurlLoop {
  constructor(readonly proc: Proc) {}

  results(): Array<{ start: number; end: number; code: string }> {
    return this.proc.lines
      .map((l) => l.text.split(' '))
      .filter((p) => p.length === 3)
      .map(([s, e, c]) => ({ start: Number(s), end: Number(e), code: c! }));
  }

  /** End time of the first answered (200) request that started at or after `from`. */
  async answeredAfter(from: number, timeoutMs = 5000): Promise<number> {
    const r = await waitFor(() => this.results().find((x) => x.start >= from && x.code === '200'), timeoutMs, () => `an answer after ${from}: ${JSON.stringify(this.results().slice(-10))}`, 10);
    return r.end;
  }

  stop(): Promise<void> {
    return this.proc.stop(500, true);
  }
}

/** Prints one measured figure as a TAP comment (collected for the report). */
export function report(what: string, value: number, bound?: number, unit = 'ms'): void {
  process.stdout.write(`# vrrp measured: ${what}: ${Math.round(value)} ${unit}${bound === undefined ? '' : ` (bound ${Math.round(bound)} ${unit})`}\n`);
}

/** A Fulcrum configuration: an HTTP listener on 0.0.0.0:80 to S1, and one VRRP instance. */
export function fulcrumYaml(opts: { priority: number; vip: string; preempt?: boolean; intervalMs?: number; extra?: string; track?: string; health?: boolean }): string {
  const health = opts.health ? `\n    health: {type: http, interval: 100ms, timeout: 100ms, rise: 1, fall: 1}` : '';
  return `listeners:
  - {name: www, bind: "0.0.0.0:80", routes: [{pool: web}]}
pools:
  web:
    servers: [{name: S1, address: 192.0.2.11:8080}]${health}
vrrp:
  instances:
    - name: www
      interface: eth0
      vrid: 51
      priority: ${opts.priority}
      advert_interval: ${opts.intervalMs ?? 100}ms
      virtual_ips: [${opts.vip}/24]
      preempt: ${opts.preempt ?? true}
      garp: {count: 3, interval: 20ms, repeat_after: 1s}${opts.track ? `\n      track_interval: 100ms\n      track:\n${opts.track}` : ''}${opts.extra ?? ''}
`;
}

/** A keepalived VRRPv3 instance matching fulcrumYaml. */
export function keepalivedConf(opts: { name: string; priority: number; vip: string; intervalMs?: number; unicast?: { src: string; peers: string[] } }): string {
  const unicast = opts.unicast ? `  unicast_src_ip ${opts.unicast.src}\n  unicast_peer {\n${opts.unicast.peers.map((p) => `    ${p}\n`).join('')}  }\n` : '';
  return `global_defs {
  router_id ${opts.name}
  script_user root
  enable_script_security
}
vrrp_instance www {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority ${opts.priority}
  advert_int ${(opts.intervalMs ?? 100) / 1000}
  version 3
${unicast}  virtual_ipaddress {
    ${opts.vip}/24
  }
}
`;
}
