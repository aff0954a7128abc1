/**
 * Two network namespaces joined by a veth pair, for BGP tests: a router (192.0.2.1) and a
 * balancer (192.0.2.10), each with `eth0`; programs started in them are ended by pid.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NsProcess, sh } from './netns.js';

export class BgpLab {
  readonly router: string;
  readonly balancer: string;
  readonly dir: string;
  private readonly procs: NsProcess[] = [];

  private constructor(tag: string) {
    this.router = `fu${tag}r${process.pid % 100_000}`;
    this.balancer = `fu${tag}b${process.pid % 100_000}`;
    this.dir = mkdtempSync(join(tmpdir(), `fulcrum-${tag}-`));
  }

  /** Builds the namespaces; on failure removes what it made and rethrows. */
  static async create(tag: string): Promise<BgpLab> {
    const lab = new BgpLab(tag);
    try {
      for (const ns of [lab.router, lab.balancer]) {
        await sh('ip', ['netns', 'add', ns]);
        await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      }
      await sh('ip', ['-n', lab.router, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lab.balancer]);
      await sh('ip', ['-n', lab.router, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
      await sh('ip', ['-n', lab.balancer, 'addr', 'add', '192.0.2.10/24', 'dev', 'eth0']);
      for (const ns of [lab.router, lab.balancer]) await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /** Starts `file args` in namespace `ns`; ended by destroy() unless stopped before. */
  start(ns: string, file: string, args: string[]): NsProcess {
    const p = new NsProcess(spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.procs.push(p);
    return p;
  }

  /** A TCP server on 127.0.0.1:`port` in the balancer's namespace (a pool's server for health checks). */
  async tcpServer(port: number): Promise<NsProcess> {
    const p = this.start(this.balancer, process.execPath, ['-e', `require('node:net').createServer((s) => s.end()).listen(${port}, '127.0.0.1', () => console.log('ready'))`]);
    await p.waitFor(/ready/);
    return p;
  }

  /**
   * Writes lb1.yaml: the balancer at 192.0.2.10 with listener www, pool web (one server at
   * 127.0.0.1:`port`, TCP checks every 300 ms), AS 65001, then `bgp` (lines under `bgp:`),
   * and its control socket in the lab's directory. Returns the file's path.
   */
  balancerConfig(port: number, bgp: string): string {
    const file = join(this.dir, 'lb1.yaml');
    writeFileSync(
      file,
      `listeners:
  - { name: www, bind: 192.0.2.10:8080, routes: [{ pool: web }] }
pools:
  web:
    health: { type: tcp, interval: 300ms, timeout: 200ms, fall: 1, rise: 1 }
    servers: [{ name: s1, address: 127.0.0.1:${port} }]
bgp:
  asn: 65001
  router_id: 192.0.2.10
${bgp}runtime: { workers: 1, control_socket: ${join(this.dir, 'lb1.sock')} }
`,
    );
    return file;
  }

  /** Ends every process (by pid), deletes the namespaces and the directory. Never rejects. */
  async destroy(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(3000)));
    for (const ns of [this.router, this.balancer]) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `cond` every 100 ms until it holds; throws with `context()` after `ms`. */
export async function until(what: string, cond: () => Promise<boolean>, context: () => Promise<string>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms\n${await context().catch(String)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
