/**
 * `fulcrum lab`'s run: builds the hosts (src/lab/topology.ts) under the lab's prefix,
 * starts S1 and S2, and for each mode starts `fulcrum run` in the namespaces of both
 * balancers of the VRRP pair with the mode's configuration (src/lab/modes.ts), waits
 * until the first is master (it holds the VIP) and the second backup, runs each transfer
 * from the client's namespace (src/lab/client.ts) and reads the active balancer's
 * interface counters and Fulcrum's CPU time around it (src/lab/measure.ts). Whatever happens, the namespaces and
 * every process started in them go away at the end (unless `keep`).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TransferKind, TransferOutcome, TransferSpec } from './client.js';
import { claimLab, LAB_PREFIX, releaseLab, removeLeftovers } from './cleanup.js';
import { makeCertificate, startMode, startRouter, stopPair } from './balancers.js';
import { type DrillResult, runBalancerDrill, runDrill } from './drills.js';
import { cpuDelta, cpuTimes, delta, type Traffic } from './measure.js';
import { ACTIVE, clientBase, MODE_NAMES, MODES, type ModeName, type Pair, PARTNER } from './modes.js';
import { hasTool, IP, type NsProcess, shResult, Topology, VIP } from './topology.js';

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./client.js', import.meta.url));
const UDP_CLIENT = fileURLToPath(new URL('./udp-client.js', import.meta.url));

export interface LabSizes {
  upload: number;
  download: number;
  requests: number;
}

export const DEFAULT_SIZES: LabSizes = { upload: 1 << 20, download: 10 << 20, requests: 200 };

export interface LabOptions {
  modes: readonly ModeName[];
  sizes: LabSizes;
  /** Where the configurations go (configs/MODE.yaml). */
  out: string;
  keep: boolean;
  /** Also run the failure drills (src/lab/drills.ts). */
  drills?: boolean;
  progress(step: number, steps: number, text: string): void;
}

/** One transfer in one mode. */
export interface Measurement {
  mode: ModeName;
  transfer: TransferKind;
  ok: boolean;
  error?: string;
  /** What the shares are a share of: the body (upload, download) or every byte on the client's interface (requests). */
  reference: number;
  /** The payload the client moved. */
  payload: number;
  /** Bytes on the client's interface, both directions. */
  client: number;
  /** Bytes the (active) balancer's interface received and sent. */
  balancerIn: number;
  balancerOut: number;
  /**
   * Bytes balancer B's interface received and sent together: in the VRRP modes, the
   * backup's (its partner's advertisements, a broadcast ARP); in ecmp, its part of the in
   * and out columns, which count both balancers there.
   */
  backup: number;
  /** Fulcrum's CPU time (primary and workers), milliseconds. */
  cpuMs: number;
  /** The transfer's time as the client saw it, milliseconds. */
  ms: number;
  servers: Record<string, number>;
  redirects: number;
}

export interface LabResult {
  started: string;
  seconds: number;
  sizes: LabSizes;
  modes: ModeName[];
  skipped: Array<{ mode: ModeName; reason: string }>;
  measurements: Measurement[];
  /** Leftovers of an earlier run that were removed first. */
  cleaned: string[];
  drills?: DrillResult[];
  kept?: { namespaces: string[]; enter: string };
}

const TRANSFERS: readonly TransferKind[] = ['upload', 'download', 'requests'];

/** What the machine lacks for the lab as a whole (null: nothing), and the modes it cannot run. */
export function requirements(): { fatal: string | null; skip: Array<{ mode: ModeName; reason: string }> } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { fatal: 'fulcrum lab needs root: it creates network namespaces (run it with sudo)', skip: [] };
  }
  if (!hasTool('ip')) return { fatal: 'fulcrum lab needs iproute2 (`ip`): apt install iproute2', skip: [] };
  const skip = [
    ...(hasTool('nft') ? [] : MODE_NAMES.filter((m) => MODES[m].kernel).map((mode) => ({ mode, reason: 'needs nftables (`nft`): apt install nftables' }))),
    ...(hasTool('openssl') ? [] : MODE_NAMES.filter((m) => MODES[m].tls).map((mode) => ({ mode, reason: 'needs openssl to make its certificate: apt install openssl' }))),
    ...(hasTool('bird') && hasTool('nft') ? [] : MODE_NAMES.filter((m) => MODES[m].ecmp && hasTool('nft')).map((mode) => ({ mode, reason: 'needs BIRD (`bird`) as the router: apt install bird2' }))),
  ];
  return { fatal: null, skip };
}

/** The live lab, so that a signal handler can tear it down, and whether this process holds the lab's pid file. */
let current: Topology | null = null;
let claimed = false;

/** Ends every process the lab started and deletes its namespaces (for SIGINT and failures). */
export async function teardown(): Promise<void> {
  const t = current;
  current = null;
  await t?.destroy();
  if (!claimed) return;
  await removeLeftovers();
  releaseLab();
  claimed = false;
}

export async function runLab(opts: LabOptions): Promise<LabResult> {
  const t0 = Date.now();
  const req = requirements();
  if (req.fatal !== null) throw new Error(req.fatal);
  const modes = MODE_NAMES.filter((m) => opts.modes.includes(m) && !req.skip.some((s) => s.mode === m));
  const result: LabResult = { started: new Date(t0).toISOString(), seconds: 0, sizes: opts.sizes, modes, skipped: req.skip.filter((s) => opts.modes.includes(s.mode)), measurements: [], cleaned: [] };
  const steps = 1 + modes.length * (1 + TRANSFERS.length) + (opts.drills === true ? 2 * modes.filter((m) => !MODES[m].udp).length : 0);
  let step = 0;
  const progress = (text: string) => opts.progress(++step, steps, text);

  const configs = join(opts.out, 'configs');
  mkdirSync(configs, { recursive: true });
  if (modes.some((m) => MODES[m].tls)) await makeCertificate(configs);
  progress('building the network namespaces');
  claimLab();
  claimed = true;
  try {
    result.cleaned = await removeLeftovers();
    const ecmp = modes.some((m) => MODES[m].ecmp);
    const topo = await Topology.createNamed(LAB_PREFIX, { pair: true, router: ecmp });
    current = topo;
    if (ecmp) await startRouter(topo, configs);
    const servers = new Map<string, { ns: string; proc: NsProcess }>();
    const startServer = async (name: string) => {
      const ns = topo.servers[name === 'S1' ? 0 : 1];
      const proc = topo.start(ns, process.execPath, [SERVER, '80', name]);
      servers.set(name, { ns, proc });
      await proc.waitFor(/ready/);
    };
    for (const name of ['S1', 'S2']) await startServer(name);
    for (const [i, name] of modes.entries()) {
      progress(`${name}: starting fulcrum`);
      const pair = await startMode(topo, name, i, configs, name, undefined, ACTIVE, PARTNER);
      try {
        if (pair instanceof Error) throw pair;
        for (const kind of TRANSFERS) {
          progress(`${name}: ${describeTransfer(kind, opts.sizes)}`);
          result.measurements.push(await measure(topo, pair, name, kind, opts.sizes, configs));
        }
      } catch (err) {
        // a mode that does not start is reported as such; the other modes still run
        const error = `${pair instanceof Error ? 'fulcrum did not start: ' : ''}${(err as Error).message.split('\n').slice(0, 4).join(' ').slice(0, 400)}`;
        for (const kind of TRANSFERS) if (!result.measurements.some((m) => m.mode === name && m.transfer === kind)) result.measurements.push(failed(name, kind, error));
      } finally {
        if (!(pair instanceof Error)) await stopPair(topo, pair);
      }
    }
    if (opts.drills) {
      result.drills = [];
      const drill = DRILL_ROLE;
      for (const [i, name] of modes.entries()) {
        if (MODES[name].udp) continue; // the drills' client speaks HTTP
        for (const kind of ['server', 'balancer'] as const) {
          progress(`${name}: drill, killing ${kind === 'server' ? 'the server of a download' : 'the active balancer'}`);
          if (kind === 'balancer' && !hasTool('arping')) {
            result.drills.push({ mode: name, kind, ok: false, error: 'needs iputils-arping (the partner announces its takeover by gratuitous ARP): apt install iputils-arping', requests: [] });
            continue;
          }
          const index = (kind === 'server' ? 1 : 2) * modes.length + i;
          const pair = await startMode(topo, name, index, configs, `${name}-drill`, '500ms', drill.active, drill.partner);
          if (pair instanceof Error) {
            result.drills.push({ mode: name, kind, ok: false, error: pair.message.split('\n')[0], requests: [] });
            continue;
          }
          try {
            const hosts = { topo, configs, servers, restart: startServer };
            result.drills.push(kind === 'server' ? await runDrill(hosts, name) : await runBalancerDrill(hosts, name, pair, drill.active, drill.partner));
          } finally {
            // (a balancer killed by a drill left its addresses and rules: stopPair clears them)
            await stopPair(topo, pair);
          }
        }
      }
    }
    if (opts.keep) {
      result.kept = { namespaces: [...topo.namespaces], enter: `ip netns exec ${topo.client} bash` };
      topo.release();
      current = null;
      releaseLab();
      claimed = false;
    }
  } finally {
    if (result.kept === undefined) await teardown();
  }
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

export function describeTransfer(kind: TransferKind, sizes: LabSizes): string {
  if (kind === 'upload') return `upload ${formatBytes(sizes.upload)}`;
  if (kind === 'download') return `download ${formatBytes(sizes.download)}`;
  return `${sizes.requests} requests`;
}

/** 1 MiB, 10 MiB, 512 KiB, 900 B. */
export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${+(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** The pair in the drills: advertisements every 100 ms, so that the backup takes over within about 360 ms. */
const DRILL_ROLE = { active: { ...ACTIVE, advertMs: 100 }, partner: { ...PARTNER, advertMs: 100 } } as const;

async function measure(topo: Topology, pair: Pair, mode: ModeName, kind: TransferKind, sizes: LabSizes, configs: string): Promise<Measurement> {
  const spec: TransferSpec = {
    kind,
    ...clientBase(mode, configs),
    size: kind === 'upload' ? sizes.upload : sizes.download,
    count: sizes.requests,
    timeoutMs: 60_000,
    ...(MODES[mode].dns ? { dns: { server: VIP, name: 'www.example.com' } } : {}),
  };
  const before = await readings(topo, pair, MODES[mode].ecmp);
  const r = await shResult(IP, ['netns', 'exec', topo.client, process.execPath, MODES[mode].udp ? UDP_CLIENT : CLIENT, JSON.stringify(spec)], { timeoutMs: 65_000 });
  const after = await readings(topo, pair, MODES[mode].ecmp);
  let outcome: TransferOutcome;
  try {
    outcome = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as TransferOutcome;
  } catch {
    outcome = { ok: false, error: (r.stderr || r.stdout).trim().slice(0, 300) || `client exited with ${r.code}`, ms: 0, bytes: 0, servers: {}, redirects: 0 };
  }
  const bal = delta(before.balancer, after.balancer);
  const cli = delta(before.client, after.client);
  const backup = delta(before.partner, after.partner);
  const payload = outcome.bytes;
  return {
    mode,
    transfer: kind,
    ok: outcome.ok,
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
    reference: kind === 'requests' ? cli.rx + cli.tx : spec.size,
    payload,
    client: cli.rx + cli.tx,
    balancerIn: bal.rx,
    balancerOut: bal.tx,
    backup: backup.rx + backup.tx,
    cpuMs: cpuDelta(before.cpu, after.cpu),
    ms: Math.round(outcome.ms * 10) / 10,
    servers: outcome.servers,
    redirects: outcome.redirects,
  };
}


function failed(mode: ModeName, transfer: TransferKind, error: string): Measurement {
  return { mode, transfer, ok: false, error, reference: 0, payload: 0, client: 0, balancerIn: 0, balancerOut: 0, backup: 0, cpuMs: 0, ms: 0, servers: {}, redirects: 0 };
}

/** The counters around a transfer: the balancer's (with `both`, A's and B's together, and their CPU), B's, the client's, and Fulcrum's CPU. */
async function readings(topo: Topology, pair: Pair, both: boolean): Promise<{ balancer: Traffic; partner: Traffic; client: Traffic; cpu: Map<number, number> }> {
  const [a, partner, client, cpuA, cpuB] = await Promise.all([topo.counters(topo.balancer), topo.counters(topo.partner!), topo.counters(topo.client), cpuTimes(pair.active.pid), both ? cpuTimes(pair.partner.pid) : new Map<number, number>()]);
  const balancer = both ? { rx: a.rx + partner.rx, tx: a.tx + partner.tx } : a;
  return { balancer, partner, client, cpu: new Map([...cpuA, ...cpuB]) };
}
