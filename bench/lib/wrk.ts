/** Running wrk and parsing its output (with --latency, and percentiles.lua for p99.9). */
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { runCommand } from './process.js';

/** The wrk script that prints p99.9 (and p50, p99 to the microsecond). */
export const PERCENTILES_SCRIPT = join(repoRoot, 'bench', 'lib', 'percentiles.lua');

export interface WrkOptions {
  readonly wrk: string;
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  /** wrk duration, e.g. "10s". */
  readonly duration: string;
  readonly durationSeconds: number;
  /** Request header lines ("Accept-Encoding: gzip"), each sent with -H. */
  readonly headers?: readonly string[];
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  /** Latency percentiles in milliseconds. */
  readonly latencyMs: { readonly p50: number; readonly p75: number; readonly p90: number; readonly p99: number; readonly p999?: number };
  readonly latencyAvgMs: number;
  readonly latencyMaxMs: number;
  readonly non2xx3xx: number;
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number };
  /** non2xx3xx plus every socket error. */
  readonly errors: number;
}

export class WrkError extends Error {
  constructor(message: string, readonly output: string) {
    super(message);
    this.name = 'WrkError';
  }
}

export function wrkArgs(o: Omit<WrkOptions, 'wrk' | 'durationSeconds'>): string[] {
  return [`-t${o.threads}`, `-c${o.connections}`, `-d${o.duration}`, ...(o.headers ?? []).flatMap((h) => ['-H', h]), '--latency', '-s', PERCENTILES_SCRIPT, o.url];
}

/** Converts one of wrk's times ("453.00us", "1.20ms", "2.00s", "1.00m") to ms. */
export function wrkTimeToMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`unreadable wrk time: ${text}`);
  const n = Number(m[1]);
  switch (m[2]) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    default:
      return n * 3_600_000;
  }
}

/** Parses wrk 4.x output produced with --latency (p99.9 when percentiles.lua ran). Throws WrkError if a needed figure is missing. */
export function parseWrkOutput(out: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (!m) throw new WrkError(`wrk output has no ${what}`, out);
    return m;
  };
  const total = need(/(\d+) requests in ([\d.]+)(us|ms|s|m|h)/, '"N requests in T" line');
  const requests = Number(total[1]);
  const seconds = wrkTimeToMs(`${total[2]}${total[3]}`) / 1000;
  const rps = Number(need(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')[1]);
  const pct = (p: string) => wrkTimeToMs(need(new RegExp(`^\\s+${p}%\\s+([\\d.]+\\w+)\\s*$`, 'm'), `${p}% latency (was --latency given?)`)[1]!);
  const lat = need(/Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)/, 'Latency line');
  const non = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = {
    connect: Number(sock?.[1] ?? 0),
    read: Number(sock?.[2] ?? 0),
    write: Number(sock?.[3] ?? 0),
    timeout: Number(sock?.[4] ?? 0),
  };
  const non2xx3xx = Number(non?.[1] ?? 0);
  const p999 = /^percentile 99\.9 (\d+) us$/m.exec(out);
  return {
    requests,
    seconds,
    rps,
    latencyMs: { p50: pct('50'), p75: pct('75'), p90: pct('90'), p99: pct('99'), ...(p999 ? { p999: Number(p999[1]) / 1000 } : {}) },
    latencyAvgMs: wrkTimeToMs(lat[1]!),
    latencyMaxMs: wrkTimeToMs(lat[3]!),
    non2xx3xx,
    socketErrors,
    errors: non2xx3xx + socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout,
  };
}

/** Runs wrk once (killed if it overruns the duration by 30 s) and parses its output. */
export async function runWrk(o: WrkOptions): Promise<WrkResult & { readonly output: string }> {
  const res = await runCommand('wrk', o.wrk, wrkArgs(o), { timeoutMs: (o.durationSeconds + 30) * 1000 });
  const output = `${res.stdout}${res.stderr}`;
  if (res.timedOut) throw new WrkError(`wrk did not finish within ${o.durationSeconds + 30} s`, output);
  if (res.code !== 0) throw new WrkError(`wrk failed (${res.signal ?? `exit ${res.code}`}): ${output.trim().split('\n').slice(-3).join(' | ')}`, output);
  return { ...parseWrkOutput(res.stdout), output: res.stdout };
}
