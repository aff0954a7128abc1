/**
 * `fulcrum lab --drills`: in each mode, the server carrying a slow download is killed
 * (SIGKILL, by pid) while the client also sends a small request every 25 ms, and the
 * client's view is recorded: whether the download completed, was cut or stalled, and
 * each request's time, server or error. Health checks run every 500 ms here, so the
 * timeline shows how long each mode takes to stop sending clients to the dead server.
 */
import { fileURLToPath } from 'node:url';
import type { DrillOutcome, DrillRequest, DrillSpec } from './drill-client.js';
import { MODES, type ModeName } from './modes.js';
import type { NsProcess, Topology } from './topology.js';
import { VIP } from './topology.js';

const DRILL_CLIENT = fileURLToPath(new URL('./drill-client.js', import.meta.url));

/** The drills' timing: 3 s of requests beside a 2 s download; the server goes 500 ms into the download. */
export const DRILL = { durationMs: 3000, intervalMs: 25, dripMs: 2000, requestTimeoutMs: 1000, killAfterMs: 500 } as const;

export interface DrillResult {
  mode: ModeName;
  ok: boolean;
  error?: string;
  /** The server killed (the one the download went to), and when, in ms since the drill's start. */
  killed?: string;
  killedAt?: number;
  download?: DrillOutcome['download'];
  requests: DrillRequest[];
}

/** What the lab gives a drill: the hosts, and S1 and S2's processes by name (a drill replaces the one it kills). */
export interface DrillHosts {
  topo: Topology;
  servers: Map<string, { ns: string; proc: NsProcess }>;
  restart(name: string): Promise<void>;
}

export async function runDrill(hosts: DrillHosts, mode: ModeName): Promise<DrillResult> {
  const spec: DrillSpec = {
    base: `http://${VIP}:80`,
    ...(MODES[mode].dns ? { dns: { server: VIP, name: 'www.example.com' } } : {}),
    durationMs: DRILL.durationMs,
    intervalMs: DRILL.intervalMs,
    dripMs: DRILL.dripMs,
    requestTimeoutMs: DRILL.requestTimeoutMs,
  };
  const client = hosts.topo.start(hosts.topo.client, process.execPath, [DRILL_CLIENT, JSON.stringify(spec)]);
  const result: DrillResult = { mode, ok: false, requests: [] };
  let killedAtEpoch = 0;
  try {
    const m = await client.waitFor(/\{"downloadServer":"([^"]+)"\}/, 10_000);
    const name = m[1]!;
    const server = hosts.servers.get(name);
    if (server === undefined) throw new Error(`the download went to ${name}, not a lab server`);
    await new Promise((r) => setTimeout(r, DRILL.killAfterMs));
    server.proc.signal('SIGKILL');
    killedAtEpoch = Date.now();
    result.killed = name;
    await server.proc.exited;
    const end = Date.now() + DRILL.durationMs + DRILL.dripMs + 3 * DRILL.requestTimeoutMs + 6000;
    while (!client.hasExited && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (!client.hasExited) throw new Error('the drill client did not finish');
    const outcome = JSON.parse(client.out.trim().split('\n').pop() ?? '') as DrillOutcome;
    result.killedAt = killedAtEpoch - outcome.t0;
    result.download = outcome.download;
    result.requests = outcome.requests;
    result.ok = true;
  } catch (err) {
    result.error = (err as Error).message.split('\n')[0];
  } finally {
    await client.stop(1000);
    if (result.killed !== undefined) await hosts.restart(result.killed);
  }
  return result;
}

/** A drill in numbers: requests answered and failed, when failures began and ended, the slowest answer. */
export function drillSummary(d: DrillResult): { ok: number; failed: number; firstFail?: number; lastFail?: number; slowest: number; errors: string[] } {
  const failed = d.requests.filter((r) => r.error !== undefined);
  return {
    ok: d.requests.length - failed.length,
    failed: failed.length,
    ...(failed.length === 0 ? {} : { firstFail: failed[0]!.t, lastFail: failed[failed.length - 1]!.t + failed[failed.length - 1]!.ms }),
    slowest: Math.max(0, ...d.requests.map((r) => r.ms)),
    errors: [...new Set(failed.map((r) => r.error!))],
  };
}
