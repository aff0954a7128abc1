/**
 * lab.html: one self-contained file (inline CSS and SVG, no script, nothing fetched)
 * with the lab's setup, a chart per transfer of the bytes through the balancer per mode
 * and direction, a chart of Fulcrum's CPU per GB per mode, and beside each mode's
 * numbers the reason they are what they are, and the configuration it ran.
 */
import { release } from 'node:os';
import { describeTransfer, formatBytes, type LabResult, type Measurement } from './lab.js';
import { ACTIVE, MODES, type ModeName, pairConfig, PARTNER } from './modes.js';
import { DRILL, type DrillResult, drillSummary } from './drills.js';
import { cpuPerGb, percent } from './report-text.js';
import { CLIENT_IP, SERVER_IPS, VIP } from './topology.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const COLORS = { in: '#2b6cb0', out: '#dd6b20', cpu: '#2f855a' };
const LABEL_W = 130;
const CHART_W = 760;

/** A horizontal bar chart: a group per mode, a bar per series in it. */
function barChart(title: string, modes: readonly ModeName[], series: Array<{ name: string; color: string; value(mode: ModeName): number | null; label(mode: ModeName): string }>, unitMax: number): string {
  const barH = 14;
  const groupH = series.length * barH + 12;
  const top = 28;
  const h = top + modes.length * groupH + 24;
  const max = Math.max(unitMax, ...modes.flatMap((m) => series.map((s) => s.value(m) ?? 0)));
  const plotW = CHART_W - LABEL_W - 150;
  const x = (v: number) => LABEL_W + (plotW * v) / max;
  const parts: string[] = [`<text x="0" y="16" class="title">${esc(title)}</text>`];
  // a grid line at the reference (100% of the transfer) when the chart has one
  if (unitMax > 0) parts.push(`<line x1="${x(unitMax)}" y1="${top - 4}" x2="${x(unitMax)}" y2="${h - 20}" class="ref"/><text x="${x(unitMax)}" y="${h - 6}" class="axis" text-anchor="middle">100%</text>`);
  parts.push(`<line x1="${LABEL_W}" y1="${top - 4}" x2="${LABEL_W}" y2="${h - 20}" class="axisline"/>`);
  for (const [i, mode] of modes.entries()) {
    const y0 = top + i * groupH;
    const bars = series.map((s, j) => {
      const v = s.value(mode);
      const y = y0 + j * barH;
      const w = v === null ? 0 : Math.max(v > 0 ? 1 : 0, x(v) - LABEL_W);
      return `<rect class="bar" data-series="${esc(s.name)}" x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${s.color}"><title>${esc(`${MODES[mode].title}, ${s.name}: ${s.label(mode)}`)}</title></rect><text x="${(LABEL_W + w + 4).toFixed(1)}" y="${y + barH - 4}" class="value">${esc(s.label(mode))}</text>`;
    });
    parts.push(`<g class="mode" data-mode="${mode}"><text x="${LABEL_W - 8}" y="${y0 + (series.length * barH) / 2 + 4}" text-anchor="end" class="label">${esc(MODES[mode].title)}</text>${bars.join('')}</g>`);
  }
  return `<svg class="chart" role="img" aria-label="${esc(title)}" viewBox="0 0 ${CHART_W} ${h}" width="${CHART_W}" height="${h}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

function find(r: LabResult, mode: ModeName, kind: Measurement['transfer']): Measurement | undefined {
  return r.measurements.find((m) => m.mode === mode && m.transfer === kind && m.ok);
}

function transferChart(r: LabResult, kind: Measurement['transfer']): string {
  const share = (m: Measurement | undefined, v: (m: Measurement) => number) => (m === undefined ? null : (100 * v(m)) / m.reference);
  const label = (m: Measurement | undefined, v: (m: Measurement) => number) => (m === undefined ? 'failed' : `${percent(v(m), m.reference)} (${formatBytes(v(m))})`);
  return barChart(
    `${describeTransfer(kind, r.sizes)}: bytes through the balancer, % of the transfer`,
    r.modes,
    [
      { name: 'in', color: COLORS.in, value: (mode) => share(find(r, mode, kind), (m) => m.balancerIn), label: (mode) => label(find(r, mode, kind), (m) => m.balancerIn) },
      { name: 'out', color: COLORS.out, value: (mode) => share(find(r, mode, kind), (m) => m.balancerOut), label: (mode) => label(find(r, mode, kind), (m) => m.balancerOut) },
    ],
    100,
  );
}

function cpuChart(r: LabResult): string {
  return barChart(
    'Fulcrum CPU (primary and workers) per GB the client moved, all transfers',
    r.modes,
    [{ name: 'cpu', color: COLORS.cpu, value: (mode) => cpuPerGb(r.measurements, mode), label: (mode) => `${Math.round(cpuPerGb(r.measurements, mode))} ms/GB` }],
    0,
  );
}

const TOPOLOGY = `<svg class="topo" viewBox="0 0 660 168" width="660" height="168" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="the lab's hosts">
<line x1="10" y1="75" x2="650" y2="75" class="link"/>
<text x="640" y="68" class="axis" text-anchor="end">bridge (one L2 link)</text>
${[
  [65, 'client', CLIENT_IP, 'host'],
  [195, 'balancer A (master)', `VIP ${VIP}`, 'host lb'],
  [325, 'balancer B (backup)', 'its VRRP partner', 'host'],
  [460, 'S1', SERVER_IPS[0], 'host'],
  [590, 'S2', SERVER_IPS[1], 'host'],
]
  .map(([cx, name, addr, cls]) => `<line x1="${cx}" y1="40" x2="${cx}" y2="75" class="link"/><rect x="${Number(cx) - 62}" y="10" width="124" height="34" rx="5" class="${cls}"/><text x="${cx}" y="25" text-anchor="middle" class="label">${name}</text><text x="${cx}" y="38" text-anchor="middle" class="axis">${addr}</text>`)
  .join('\n')}
<text x="195" y="100" text-anchor="middle" class="axis">measured: A's eth0, in and out</text>
<text x="330" y="100" text-anchor="start" class="axis">(the VIP and both gateways move to B if A dies)</text>
<text x="330" y="122" text-anchor="middle" class="axis">http, https, tcp, nat, fullnat, dsr: the client sends to the VIP; redirect, dns: then to S1/S2 directly;</text>
<text x="330" y="138" text-anchor="middle" class="axis">nat: the servers' replies route via the balancer; dsr: the servers answer the client directly;</text>
<text x="330" y="154" text-anchor="middle" class="axis">ecmp: a router on the link (BIRD) spreads the client's connections over A and B, both active</text>
</svg>`;

const CSS = `body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#1a202c}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #e2e8f0}
.meta{color:#4a5568}.legend span{display:inline-block;margin-right:1.2em}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg text{font:12px system-ui,sans-serif;fill:#1a202c}svg .title{font-weight:600;font-size:13px}svg .axis{fill:#4a5568;font-size:11px}svg .value{fill:#2d3748;font-size:11px}
svg .kill{stroke:#c53030;stroke-width:2}svg .inside{fill:#fff}svg .takeover{stroke:#2f855a;stroke-width:2;stroke-dasharray:3 2}svg .ref{stroke:#a0aec0;stroke-dasharray:4 3}svg .axisline{stroke:#718096}svg .link{stroke:#718096;stroke-width:2}svg .host{fill:#edf2f7;stroke:#718096}svg .lb{fill:#ebf8ff;stroke:#2b6cb0}
.modes{display:grid;grid-template-columns:1fr;gap:1em}.mode{border:1px solid #e2e8f0;border-radius:6px;padding:.6em 1em;display:grid;grid-template-columns:minmax(0,1fr) auto;gap:1em}
.mode h3{margin:.2em 0}table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{padding:2px 8px;white-space:nowrap;text-align:right;border-bottom:1px solid #edf2f7}td:first-child,th:first-child{text-align:left}
.failed{color:#c53030}pre{background:#f7fafc;padding:.5em;overflow:auto;font-size:12px}details summary{cursor:pointer;color:#4a5568}`;

function modeCard(r: LabResult, mode: ModeName): string {
  const rows = r.measurements
    .filter((m) => m.mode === mode)
    .map((m) =>
      m.ok
        ? `<tr><td>${esc(describeTransfer(m.transfer, r.sizes))}</td><td>${percent(m.balancerIn, m.reference)}</td><td>${percent(m.balancerOut, m.reference)}</td><td>${formatBytes(m.balancerIn)}</td><td>${formatBytes(m.balancerOut)}</td><td>${m.cpuMs.toFixed(1)}</td><td>${(m.ms / 1000).toFixed(3)} s</td></tr>`
        : `<tr><td>${esc(describeTransfer(m.transfer, r.sizes))}</td><td colspan="6" class="failed">failed: ${esc(m.error ?? '')}</td></tr>`,
    )
    .join('');
  const info = MODES[mode];
  return `<section class="mode" id="mode-${mode}"><div><h3>${esc(info.title)} <small>(${mode})</small></h3><p>${esc(info.explain)}</p>
<details><summary>configuration (balancer A; B's differs in its VRRP priority, ${PARTNER.priority})</summary><pre>${esc(pairConfig(mode, ACTIVE))}</pre></details></div>
<div><table><thead><tr><th>transfer</th><th>in</th><th>out</th><th>bytes in</th><th>bytes out</th><th>CPU ms</th><th>time</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

const SERVER_COLORS: Record<string, string> = { S1: '#2b6cb0', S2: '#805ad5' };
const FAIL = '#e53e3e';

/** A drill's timeline: the download as a bar, each small request as a tick (colour: its server, or red when it failed), the kill as a line, and the partner's taking over the VIP as another. */
function drillTimeline(drills: readonly DrillResult[], title: string): string {
  const span = DRILL.durationMs + 250;
  const rowH = 60;
  const top = 24;
  const plotW = CHART_W - LABEL_W - 20;
  const x = (ms: number) => LABEL_W + (plotW * Math.min(ms, span)) / span;
  const parts: string[] = [`<text x="0" y="14" class="title">${esc(title)}</text>`];
  for (const [i, d] of drills.entries()) {
    const y = top + i * rowH;
    const items: string[] = [`<text x="${LABEL_W - 8}" y="${y + 20}" text-anchor="end" class="label">${esc(MODES[d.mode].title)}</text>`];
    if (!d.ok || d.download === undefined) {
      items.push(`<text x="${LABEL_W}" y="${y + 20}" class="value">drill failed: ${esc(d.error ?? '')}</text>`);
    } else {
      const dl = d.download;
      const color = dl.outcome === 'completed' ? '#38a169' : FAIL;
      items.push(`<rect class="download" x="${x(dl.start).toFixed(1)}" y="${y + 2}" width="${Math.max(1, x(dl.end) - x(dl.start)).toFixed(1)}" height="10" fill="${color}"><title>${esc(`download from ${dl.server ?? '?'}: ${dl.outcome}${dl.error === undefined ? '' : ` (${dl.error})`} at ${(dl.end / 1000).toFixed(2)} s, ${formatBytes(dl.bytes)} of ${formatBytes(dl.expected)}`)}</title></rect>`);
      // past the right edge, the label goes inside the bar's end
      const inside = x(dl.end) + 110 > CHART_W;
      items.push(`<text x="${(x(dl.end) + (inside ? -4 : 4)).toFixed(1)}" y="${y + 11}" class="value${inside ? ' inside' : ''}"${inside ? ' text-anchor="end"' : ''}>download ${esc(dl.outcome)}</text>`);
      for (const q of d.requests) {
        const fill = q.error === undefined ? (SERVER_COLORS[q.server ?? ''] ?? '#718096') : FAIL;
        items.push(`<rect class="request" x="${x(q.t).toFixed(1)}" y="${y + 16}" width="${Math.max(1.5, x(q.t + q.ms) - x(q.t)).toFixed(1)}" height="${q.error === undefined ? 10 : 16}" fill="${fill}"><title>${esc(`${(q.t / 1000).toFixed(3)} s: ${q.error ?? q.server ?? ''}, ${q.ms} ms`)}</title></rect>`);
      }
      if (d.killedAt !== undefined) items.push(`<line x1="${x(d.killedAt).toFixed(1)}" y1="${y}" x2="${x(d.killedAt).toFixed(1)}" y2="${y + 36}" class="kill"/><text x="${(x(d.killedAt) + 3).toFixed(1)}" y="${y + 44}" class="axis">${esc(d.killed ?? '')} killed</text>`);
      if (d.takeover !== undefined) {
        const after = Math.round(d.takeover - (d.killedAt ?? 0));
        const bgp = d.takeoverBy === 'bgp';
        const what = bgp ? `the router dropped A's route ${after} ms after the kill` : `balancer B became VRRP master ${after} ms after the kill`;
        items.push(`<line class="takeover" x1="${x(d.takeover).toFixed(1)}" y1="${y}" x2="${x(d.takeover).toFixed(1)}" y2="${y + 36}"><title>${esc(what)}</title></line><text x="${(x(d.takeover) + 3).toFixed(1)}" y="${y + 52}" class="axis">${bgp ? 'route via A withdrawn' : 'B took the VIP'} (+${after} ms)</text>`);
      }
    }
    parts.push(`<g class="drill" data-kind="${d.kind}" data-mode="${d.mode}">${items.join('')}</g>`);
  }
  const h = top + drills.length * rowH + 20;
  for (let s = 0; s <= span; s += 500) parts.push(`<text x="${x(s).toFixed(1)}" y="${h - 4}" class="axis" text-anchor="middle">${s / 1000} s</text>`);
  return `<svg class="timeline" role="img" aria-label="drills" viewBox="0 0 ${CHART_W} ${h}" width="${CHART_W}" height="${h}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

function drillTable(drills: readonly DrillResult[], balancer: boolean): string {
  const rows = drills
    .map((d) => {
      if (!d.ok) return `<tr><td>${esc(MODES[d.mode].title)}</td><td colspan="${balancer ? 8 : 6}" class="failed">${esc(d.error ?? '')}</td></tr>`;
      const s = drillSummary(d);
      const failing = s.firstFail === undefined ? 'none' : `${(s.firstFail / 1000).toFixed(2)} to ${(s.lastFail! / 1000).toFixed(2)} s`;
      const after = (t: number | undefined, none: string) => (t === undefined ? none : `${Math.round(t - (d.killedAt ?? 0))} ms`);
      const extra = balancer ? `<td>${after(d.takeover, 'never')}</td><td>${after(s.answeredAgain, s.failed === 0 ? 'no gap' : 'never')}</td>` : '';
      return `<tr><td>${esc(MODES[d.mode].title)}</td><td>${esc(d.download!.outcome)}</td><td>${s.ok}</td><td>${s.failed}</td><td>${failing}</td>${extra}<td>${s.slowest} ms</td><td>${esc(s.errors.join(', '))}</td></tr>`;
    })
    .join('');
  const extra = balancer ? '<th>VIP on B after the kill</th><th>answered again after the kill</th>' : '';
  return `<table><thead><tr><th>mode</th><th>download</th><th>requests ok</th><th>failed</th><th>failing</th>${extra}<th>slowest</th><th>errors</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function drillsSection(drills: readonly DrillResult[]): string {
  const servers = drills.filter((d) => d.kind === 'server');
  const balancers = drills.filter((d) => d.kind === 'balancer');
  const masterDown = balancers.find((d) => d.masterDownMs !== undefined)?.masterDownMs;
  return `<h2>Drills: a server killed in the middle</h2>
<p>In each mode the lab kills (SIGKILL) the server that carries a ${DRILL.dripMs / 1000} s download, ${DRILL.killAfterMs} ms into it, while the client sends a small request every ${DRILL.intervalMs} ms on a keep-alive connection (a new one after an error; a request gives up after ${DRILL.requestTimeoutMs} ms). Fulcrum checks the servers every 500 ms here. Ticks: blue S1, purple S2, red failed.</p>
${drillTimeline(servers, 'What the client saw when the server of its download was killed')}
${drillTable(servers, false)}
${
  balancers.length === 0
    ? ''
    : `<h2>Drills: the active balancer killed</h2>
<p>The same client, and this time the lab kills (SIGKILL) the Fulcrum of the active balancer A, its primary and worker at once, ${DRILL.killAfterMs} ms into the download. Balancer B, its VRRP partner (advertisements every 100 ms here), takes the VIP, the client's gateway and the servers' way back when it has heard nothing for its Master_Down_Interval (${masterDown ?? '?'} ms), and announces them by gratuitous ARP. A's kernel keeps its addresses and nftables rules, as after any crash of the process: in the kernel modes it forwards on until the client follows B. Dashed green line: B became master. In BGP + ECMP there is no VRRP: both balancers carry connections, and the router stops sending to A when A's BGP session ends with its process (the dashed line).</p>
${drillTimeline(balancers, 'What the client saw when the active balancer was killed')}
${drillTable(balancers, true)}`
}`;
}

export function htmlReport(r: LabResult): string {
  const kinds = (['upload', 'download', 'requests'] as const).filter((k) => r.measurements.some((m) => m.transfer === k));
  const skipped = r.skipped.map((s) => `<li>${esc(MODES[s.mode].title)}: ${esc(s.reason)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<title>fulcrum lab: what passes through the balancer</title><style>${CSS}</style></head>
<body>
<h1>What passes through the balancer</h1>
<p class="meta">fulcrum lab, ${esc(r.started)}, ${r.seconds.toFixed(1)} s, Linux ${esc(release())}. Transfers: ${esc(describeTransfer('upload', r.sizes))}, ${esc(describeTransfer('download', r.sizes))}, ${r.sizes.requests} small requests, in each of ${r.modes.length} modes.</p>
<p>Each bar is a byte count of the balancer's network interface, read from the kernel before and after the transfer, as a share of the transfer: the body for an upload or a download; for the small requests, all the client's interface sent and received. <b>In</b> is what the balancer received, <b>out</b> what it sent. A proxy receives each byte and sends it on (about 100% each way); a balancer that is not on the path shows almost nothing.</p>
${TOPOLOGY}
<p class="legend"><span><i style="background:${COLORS.in}"></i>in (received by the balancer)</span><span><i style="background:${COLORS.out}"></i>out (sent by the balancer)</span></p>
${kinds.map((k) => transferChart(r, k)).join('\n')}
${cpuChart(r)}
<p class="meta">CPU is the time Fulcrum's own processes spent (the scheduler's count in /proc). In the kernel modes the forwarding happens in the kernel's softirq context and is not counted here.</p>
${skipped === '' ? '' : `<p>Not measured:</p><ul>${skipped}</ul>`}
${r.drills === undefined ? '' : drillsSection(r.drills)}
<h2>Each mode, and why</h2>
<div class="modes">${r.modes.map((m) => modeCard(r, m)).join('\n')}</div>
</body></html>
`;
}
