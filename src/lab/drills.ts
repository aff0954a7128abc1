/**
 * `fulcrum lab --drills`: in each mode, while the client holds a slow download and sends
 * a small request every 25 ms beside it, one of two things is killed (SIGKILL, by pid):
 * the server carrying the download, or the active balancer of the VRRP pair (its Fulcrum
 * primary and workers). The client's view is recorded: whether the download completed,
 * was cut or stalled, and each request's time, server or error; for the balancer, also
 * when its partner logged taking over the VIP. Health checks run every 500 ms and VRRP
 * advertisements every 100 ms here, so the timeline shows how long each mode takes to
 * stop sending clients to the dead server, and how long the VIP is without a balancer.
 */
import { fileURLToPath } from 'node:url';
import type { DrillOutcome, DrillRequest, DrillSpec } from './drill-client.js';
import { processTree } from './measure.js';
import { clientBase, MODES, type ModeName, type Pair, type PairRole, vrrpState } from './modes.js';
import type { NsProcess, Topology } from './topology.js';
import { VIP } from './topology.js';
import { masterDownMs } from '../vrrp/state-machine.js';

const DRILL_CLIENT = fileURLToPath(new URL('./drill-client.js', import.meta.url));

/** The drills' timing: 3 s of requests beside a 2 s download; the server goes 500 ms into the download. */
export const DRILL = { durationMs: 3000, intervalMs: 25, dripMs: 2000, requestTimeoutMs: 1000, killAfterMs: 500 } as const;

/** What a drill kills: the server of the download, or the active balancer of the pair. */
export type DrillKind = 'server' | 'balancer';

export interface DrillResult {
  mode: ModeName;
  kind: DrillKind;
  ok: boolean;
  error?: string;
  /** What was killed (S1 or S2, the one the download went to; or "balancer A"), and when, in ms since the drill's start. */
  killed?: string;
  killedAt?: number;
  /**
   * Balancer drills: when the partner logged becoming VRRP master (it then adds the VIP
   * and sends gratuitous ARP), or in ecmp when the router's route to the VIP no longer went
   * through A, ms since the drill's start.
   */
  takeover?: number;
  /** How the traffic moved to B: VRRP, or the router withdrawing A's BGP route (ecmp). */
  takeoverBy?: 'vrrp' | 'bgp';
  /** Balancer drills: the partner's Master_Down_Interval (3 advertisement intervals and its skew), the time VRRP gives it to notice. */
  masterDownMs?: number;
  download?: DrillOutcome['download'];
  requests: DrillRequest[];
}

/** What the lab gives a drill: the hosts, and S1 and S2's processes by name (a drill replaces the one it kills). */
export interface DrillHosts {
  topo: Topology;
  /** The directory of the configurations (and the HTTPS mode's certificate). */
  configs: string;
  servers: Map<string, { ns: string; proc: NsProcess }>;
  restart(name: string): Promise<void>;
}

/** The server drill: kills the server the download went to, and starts it again afterwards. */
export function runDrill(hosts: DrillHosts, mode: ModeName): Promise<DrillResult> {
  let killed: string | undefined;
  return drive(hosts, mode, 'server', async (name) => {
    const server = hosts.servers.get(name);
    if (server === undefined) throw new Error(`the download went to ${name}, not a lab server`);
    server.proc.signal('SIGKILL');
    const at = Date.now();
    killed = name;
    await server.proc.exited;
    return { killed: name, at };
  }).finally(() => (killed === undefined ? undefined : hosts.restart(killed)));
}

/**
 * The balancer drill: kills the active balancer's Fulcrum (the primary and every process
 * under it, by pid, at once, as a crash would) and records when the partner takes over.
 * The killed balancer's kernel keeps its addresses and nftables rules (as after any
 * SIGKILL); the lab clears them after the drill.
 */
export function runBalancerDrill(hosts: DrillHosts, mode: ModeName, pair: Pair, active: PairRole, partner: PairRole): Promise<DrillResult> {
  const ecmp = MODES[mode].ecmp;
  return drive(hosts, mode, 'balancer', async () => {
    const pids = await processTree(pair.active.pid);
    const masters = vrrpState(pair.partner).masters;
    // VRRP: B logs taking over; ECMP: the router's route to the VIP leaves A (BGP withdrawn when A's session ends)
    const tookOver = ecmp ? async () => !(await hosts.topo.nextHops(`${VIP}/32`)).includes(active.address) : async () => vrrpState(pair.partner).masters > masters;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    const at = Date.now();
    const takeover = (async () => {
      for (const end = at + 5000; Date.now() < end && !pair.partner.hasExited; await new Promise((r) => setTimeout(r, 10))) {
        if (await tookOver()) return Date.now();
      }
      return undefined;
    })();
    return { killed: 'balancer A', at, takeover, takeoverBy: ecmp ? 'bgp' : 'vrrp', ...(ecmp ? {} : { masterDownMs: masterDownMs(partner.priority, partner.advertMs / 10) }) };
  });
}

interface Kill {
  killed: string;
  /** Epoch ms of the kill. */
  at: number;
  /** Epoch ms of the partner's takeover, for the balancer drill. */
  takeover?: Promise<number | undefined>;
  takeoverBy?: 'vrrp' | 'bgp';
  masterDownMs?: number;
}

/** Runs the drill client, calls `kill` with the download's server `killAfterMs` after its head arrived, and collects what the client saw. */
async function drive(hosts: DrillHosts, mode: ModeName, kind: DrillKind, kill: (downloadServer: string) => Promise<Kill>): Promise<DrillResult> {
  const spec: DrillSpec = {
    ...clientBase(mode, hosts.configs),
    ...(MODES[mode].dns ? { dns: { server: VIP, name: 'www.example.com' } } : {}),
    durationMs: DRILL.durationMs,
    intervalMs: DRILL.intervalMs,
    dripMs: DRILL.dripMs,
    requestTimeoutMs: DRILL.requestTimeoutMs,
  };
  const client = hosts.topo.start(hosts.topo.client, process.execPath, [DRILL_CLIENT, JSON.stringify(spec)]);
  const result: DrillResult = { mode, kind, ok: false, requests: [] };
  try {
    const m = await client.waitFor(/\{"downloadServer":"([^"]+)"\}/, 10_000);
    await new Promise((r) => setTimeout(r, DRILL.killAfterMs));
    const k = await kill(m[1]!);
    result.killed = k.killed;
    if (k.masterDownMs !== undefined) result.masterDownMs = Math.round(k.masterDownMs * 10) / 10;
    if (k.takeoverBy !== undefined) result.takeoverBy = k.takeoverBy;
    const end = Date.now() + DRILL.durationMs + DRILL.dripMs + 3 * DRILL.requestTimeoutMs + 6000;
    while (!client.hasExited && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (!client.hasExited) throw new Error('the drill client did not finish');
    const outcome = JSON.parse(client.out.trim().split('\n').pop() ?? '') as DrillOutcome;
    result.killedAt = k.at - outcome.t0;
    const takeover = await k.takeover;
    if (takeover !== undefined) result.takeover = takeover - outcome.t0;
    result.download = outcome.download;
    result.requests = outcome.requests;
    result.ok = true;
  } catch (err) {
    // the reason, and the client's own last words when it ended early
    const said = `${client.err}\n${client.out}`.trim().split('\n').filter((l) => /error|Error|E[A-Z]{4,}/.test(l)).pop();
    result.error = `${(err as Error).message.split('\n')[0]}${said === undefined ? '' : ` (client: ${said.trim().slice(0, 200)})`}`;
  } finally {
    await client.stop(1000);
  }
  return result;
}

/**
 * A drill in numbers: requests answered and failed, when failures began and ended, when
 * a request was answered again after the last failure (ms since the drill's start), the
 * slowest answer, and the kinds of error.
 */
export function drillSummary(d: DrillResult): { ok: number; failed: number; firstFail?: number; lastFail?: number; answeredAgain?: number; slowest: number; errors: string[] } {
  const failed = d.requests.filter((r) => r.error !== undefined);
  const last = failed[failed.length - 1];
  const again = last === undefined ? undefined : d.requests.find((r) => r.t > last.t && r.error === undefined);
  return {
    ok: d.requests.length - failed.length,
    failed: failed.length,
    ...(last === undefined ? {} : { firstFail: failed[0]!.t, lastFail: last.t + last.ms }),
    ...(again === undefined ? {} : { answeredAgain: again.t + again.ms }),
    slowest: Math.max(0, ...d.requests.map((r) => r.ms)),
    errors: [...new Set(failed.map((r) => r.error!))],
  };
}
