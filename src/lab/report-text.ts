/**
 * The terminal table: per mode and transfer, the bytes the balancer's interface received
 * (in) and sent (out) as a share of the transfer, Fulcrum's CPU time and the transfer's
 * time; under it, Fulcrum's CPU per GB of the client's traffic in each mode.
 */
import { describeTransfer, formatBytes, type LabResult, type Measurement } from './lab.js';
import { type DrillResult, drillSummary } from './drills.js';
import { MODES, type ModeName } from './modes.js';

/** A share as a percentage: 0.0%, 0.4%, 101%, 2034%. */
export function percent(part: number, whole: number): string {
  if (whole <= 0) return '-';
  const p = (100 * part) / whole;
  return p >= 10 ? `${Math.round(p)}%` : `${p.toFixed(1)}%`;
}

/** Fulcrum's CPU milliseconds per GB (10^9 bytes) the client moved in `mode`, over all its transfers. */
export function cpuPerGb(measurements: readonly Measurement[], mode: ModeName): number {
  const rows = measurements.filter((m) => m.mode === mode && m.ok);
  const bytes = rows.reduce((s, m) => s + m.client, 0);
  const cpu = rows.reduce((s, m) => s + m.cpuMs, 0);
  return bytes === 0 ? 0 : (cpu * 1e9) / bytes;
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function textReport(r: LabResult): string {
  const rows: string[][] = [['mode', 'transfer', 'in', 'out', 'bytes in', 'bytes out', 'cpu ms', 'time']];
  for (const m of r.measurements) {
    const transfer = describeTransfer(m.transfer, r.sizes);
    if (!m.ok) {
      rows.push([m.mode, transfer, 'failed', '', '', '', '', m.error ?? '']);
      continue;
    }
    rows.push([m.mode, transfer, percent(m.balancerIn, m.reference), percent(m.balancerOut, m.reference), formatBytes(m.balancerIn), formatBytes(m.balancerOut), m.cpuMs.toFixed(1), `${(m.ms / 1000).toFixed(2)} s`]);
  }
  const lines = [
    'Bytes through the balancer (its eth0: in = received, out = sent), as a share of the transfer:',
    'the body for an upload or download; for small requests, all the client sent and received.',
    '',
    pad(rows),
    '',
    `Fulcrum CPU per GB the client moved: ${r.modes.map((m) => `${m} ${Math.round(cpuPerGb(r.measurements, m))} ms`).join(', ')}`,
  ];
  if (r.drills !== undefined) {
    for (const kind of ['server', 'balancer'] as const) {
      const some = r.drills.filter((d) => d.kind === kind);
      if (some.length > 0) lines.push('', drillsText(some, kind));
    }
  }
  for (const s of r.skipped) lines.push(`skipped ${s.mode} (${MODES[s.mode].title}): ${s.reason}`);
  return `${lines.join('\n')}\n`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * The drills of one kind: per mode, what happened to the download and to the small
 * requests after the kill; for the balancer, also when the partner took the VIP and when
 * requests were answered again, both counted from the kill.
 */
export function drillsText(drills: readonly DrillResult[], kind: DrillResult['kind']): string {
  const balancer = kind === 'balancer';
  const rows: string[][] = [['mode', 'killed', 'download', 'requests ok', 'failed', 'failing', ...(balancer ? ['VIP moved', 'answered again'] : []), 'slowest', 'errors']];
  for (const d of drills) {
    if (!d.ok) {
      rows.push([d.mode, '', 'drill failed', '', '', '', ...(balancer ? ['', ''] : []), '', d.error ?? '']);
      continue;
    }
    const s = drillSummary(d);
    const dl = d.download!;
    const killedAt = d.killedAt ?? 0;
    const download = dl.outcome === 'completed' ? `completed ${seconds(dl.end)}` : `${dl.outcome} at ${seconds(dl.end)}`;
    const failing = s.firstFail === undefined ? '-' : `${(s.firstFail / 1000).toFixed(2)}-${seconds(s.lastFail!)}`;
    const after = (t: number | undefined) => (t === undefined ? '-' : `+${Math.round(t - killedAt)} ms`);
    const extra = balancer ? [d.takeover === undefined ? 'never' : after(d.takeover), s.answeredAgain === undefined ? (s.failed === 0 ? 'no gap' : 'never') : after(s.answeredAgain)] : [];
    rows.push([d.mode, `${d.killed} at ${seconds(killedAt)}`, download, String(s.ok), String(s.failed), failing, ...extra, `${s.slowest} ms`, s.errors.join(' ')]);
  }
  const title = balancer
    ? `Drills: the active balancer (A) killed during a slow download; a small request every 25 ms beside it. VIP moved: B became VRRP master (Master_Down_Interval ${drills.find((d) => d.masterDownMs !== undefined)?.masterDownMs ?? '?'} ms), counted from the kill:`
    : 'Drills: the server carrying a slow download killed; a small request every 25 ms beside it:';
  return `${title}\n${pad(rows)}`;
}
