/**
 * The dashboard's script, run in the browser. It is written here as one function so that
 * TypeScript checks its syntax, and served as that function's source text: everything it
 * uses must be inside it, or handed to it (the metrics arithmetic of prom.ts, served the
 * same way). Once a second it reads `/api/status` and `/metrics`: request
 * rates come from counter deltas (the metrics when present, else the servers' request
 * totals of the status report), latency quantiles from histogram bucket deltas (as
 * Prometheus' histogram_quantile), and each section shows only what is present.
 */

import { promTools, type PromTools, type Sample } from './prom.js';

// Browser globals, typed loosely here (this file is compiled without the DOM library).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const sessionStorage: any;
declare const window: any;

function dashboard(prom: PromTools): void {
  const POINTS = 60;
  const body = document.body;
  const tokenRequired = body.dataset.tokenRequired === 'true';
  const tokenInput = document.getElementById('token');
  const tokenForm = document.getElementById('token-form');
  tokenInput.value = sessionStorage.getItem('fulcrum-admin-token') || '';
  tokenInput.addEventListener('input', () => {
    sessionStorage.setItem('fulcrum-admin-token', tokenInput.value.trim());
    tokenForm.classList.remove('needed');
  });
  tokenForm.addEventListener('submit', (e: any) => e.preventDefault());

  // ---- small helpers ---------------------------------------------------------------
  const $ = (id: string) => document.getElementById(id);
  const el = (tag: string, attrs: Record<string, any> = {}, ...children: any[]) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const svg = (tag: string, attrs: Record<string, any> = {}) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };
  const fmt = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? '–' : n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(digits));
  const ms = (s: number | null) => (s === null || !Number.isFinite(s) ? '–' : s < 0.001 ? (s * 1000).toFixed(2) + ' ms' : s < 1 ? (s * 1000).toFixed(s < 0.01 ? 1 : 0) + ' ms' : s.toFixed(2) + ' s');
  const ago = (at: number) => {
    const s = Math.max(0, (Date.now() - at) / 1000);
    return s < 60 ? s.toFixed(s < 10 ? 1 : 0) + ' s ago' : Math.round(s / 60) + ' min ago';
  };
  const bytes = (n: number) => (n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + ' GiB' : n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB' : n + ' B');

  // ---- Prometheus text -------------------------------------------------------------
  const keyOf = (s: Sample) => s.name + JSON.stringify(s.labels);
  const pick = (samples: Sample[], name: string, where: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));

  /**
   * Counters as they were a few polls ago: rates are taken over up to SNAPSHOTS seconds,
   * which smooths the workers' once-a-second reports. A counter that went down (a
   * restart) counts from 0.
   */
  const SNAPSHOTS = 4;
  const counterHistory = () => {
    const snaps: Array<{ at: number; values: Map<string, number> }> = [];
    return {
      /** The oldest snapshot kept (what deltas are taken against), or undefined. */
      base: () => snaps[0],
      add(at: number, values: Map<string, number>) {
        snaps.push({ at, values });
        if (snaps.length > SNAPSHOTS) snaps.shift();
      },
      delta(key: string, value: number): number | null {
        const before = snaps[0]?.values.get(key);
        if (before === undefined) return null;
        return value >= before ? value - before : value;
      },
      /** Seconds from the oldest snapshot to `at`. */
      seconds: (at: number) => (snaps[0] === undefined ? 0 : (at - snaps[0].at) / 1000),
    };
  };
  const metricsHistory = counterHistory();
  const totalsHistory = counterHistory();
  const deltaOf = (s: Sample) => metricsHistory.delta(keyOf(s), s.value);
  const rateSum = (samples: Sample[], dt: number) => {
    let sum = 0;
    let any = false;
    for (const s of samples) {
      const d = deltaOf(s);
      if (d !== null) {
        sum += d;
        any = true;
      }
    }
    return any && dt > 0 ? sum / dt : null;
  };
  /** histogram_quantile over the bucket deltas of every series of `name`. */
  const quantile = (samples: Sample[], name: string, q: number, where: Record<string, string> = {}) => {
    const byLe = new Map<number, number>();
    for (const s of pick(samples, name + '_bucket', where)) {
      const d = deltaOf(s);
      if (d === null) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) || 0) + d);
    }
    return prom.histogramQuantile([...byLe], q);
  };

  // ---- charts ----------------------------------------------------------------------
  const series: Record<string, Array<number | null>> = {};
  const push = (name: string, v: number | null) => {
    const s = (series[name] ||= []);
    s.push(v);
    if (s.length > POINTS) s.shift();
    return s;
  };
  /** Draws each series as a line, the newest point at the right edge, over `n` points; the first series also as a faint area. */
  const drawLines = (target: any, lines: Array<{ points: Array<number | null>; cls?: string }>, w: number, h: number, n = POINTS) => {
    target.replaceChildren();
    let max = 0;
    for (const l of lines) for (const p of l.points) if (p !== null && p > max) max = p;
    if (max <= 0) max = 1;
    lines.forEach((l, k) => {
      const pts: string[] = [];
      const offset = n - l.points.length;
      l.points.forEach((p, i) => {
        if (p === null) return;
        const x = ((offset + i) / (n - 1)) * w;
        const y = h - 1 - (p / max) * (h - 4);
        pts.push(x.toFixed(1) + ',' + y.toFixed(1));
      });
      if (pts.length === 0) return;
      if (k === 0 && pts.length > 1) {
        const first = pts[0]!.split(',')[0];
        const last = pts[pts.length - 1]!.split(',')[0];
        target.append(svg('polygon', { points: first + ',' + h + ' ' + pts.join(' ') + ' ' + last + ',' + h, class: 'area ' + (l.cls || '') }));
      }
      target.append(svg('polyline', { points: pts.join(' '), class: l.cls || '' }));
    });
  };

  // ---- the API ---------------------------------------------------------------------
  const message = (text: string, error = false) => {
    const m = $('message');
    m.textContent = text;
    m.className = error ? 'message error' : 'message';
  };
  const call = async (method: string, path: string, payload?: unknown) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const token = tokenInput.value.trim();
    if (token !== '') headers.Authorization = 'Bearer ' + token;
    try {
      const res = await fetch(path, { method, headers, body: payload === undefined ? undefined : JSON.stringify(payload) });
      const answer = await res.json().catch(() => ({ ok: false, message: res.status + ' ' + res.statusText }));
      let text = answer.message || res.status + ' ' + res.statusText;
      if (res.status === 401) {
        tokenForm.hidden = false;
        tokenForm.classList.add('needed');
        tokenInput.focus();
        text = (token === '' ? 'this needs the access token: ' : 'the access token is wrong: ') + 'enter it at the top right (the content of the admin token file)';
      }
      message(text, !res.ok);
    } catch (e: any) {
      message('the admin listener did not answer: ' + e.message, true);
    }
    void poll();
  };
  const serverPath = (pool: string, server: string) => '/api/pools/' + encodeURIComponent(pool) + '/servers/' + encodeURIComponent(server);

  // ---- rendering -------------------------------------------------------------------
  const table = (target: any, head: Array<string | [string, string]>, rows: any[][]) => {
    target.replaceChildren(
      el('thead', {}, el('tr', {}, ...head.map((h) => (Array.isArray(h) ? el('th', { class: h[1], text: h[0] }) : el('th', { text: h }))))),
      el('tbody', {}, ...rows),
    );
  };
  const td = (v: any, cls?: string) => (v instanceof Object && 'nodeType' in v ? el('td', { class: cls }, v) : el('td', { class: cls, text: String(v) }));

  const describeOverride = (o: any) =>
    [o.state ? 'state ' + o.state : '', o.weight !== undefined ? 'weight ' + o.weight : '', o.added ? 'added as ' + o.added.host + ':' + o.added.port : '', o.removed ? 'removed' : ''].filter((x) => x).join(', ');

  const serverRates = new Map<string, Array<number | null>>();

  const renderPools = (status: any, samples: Sample[], dt: number, statusDt: number) => {
    const host = $('pools');
    const sections: any[] = [];
    for (const pool of status.pools || []) {
      const rows: any[] = [];
      for (const s of pool.servers) {
        const key = pool.name + '/' + s.name;
        const d = totalsHistory.delta(key, s.total);
        const rate = d === null || statusDt <= 0 ? null : d / statusDt;
        const points = serverRates.get(key) || [];
        points.push(rate);
        if (points.length > 30) points.shift();
        serverRates.set(key, points);
        const admin = s.state || 'ready';
        const health = s.healthy ? 'up' : 'down';
        const badges = el('span', { class: 'actions' }, el('span', { class: 'badge ' + health, text: health }));
        if (admin !== 'ready') badges.append(el('span', { class: 'badge ' + admin, text: admin }));
        if (s.ejected) badges.append(el('span', { class: 'badge down', text: 'ejected', title: 'outlier detection took it out' }));
        if (s.slowStart) badges.append(el('span', { class: 'badge drain', text: 'slow start' }));
        const override = (status.overrides || []).find((o: any) => o.pool === pool.name && o.server === s.name);
        if (override) badges.append(el('span', { class: 'badge override', text: override.added ? 'added' : 'override', title: 'changed at runtime (kept across reloads): ' + describeOverride(override) }));
        const history = el('span', { class: 'history' });
        const checks = s.history && s.history.length ? s.history : s.lastCheck ? [s.lastCheck] : [];
        for (const c of checks.slice(-8)) history.append(el('i', { class: c.ok ? '' : 'fail', title: new Date(c.at).toLocaleTimeString() + ': ' + (c.ok ? 'passed' : 'failed') + ' (' + c.detail + ')' }));
        const last = s.lastCheck ? el('span', { class: 'muted', text: ' ' + ago(s.lastCheck.at) }) : null;
        const spark = svg('svg', { class: 'spark', viewBox: '0 0 72 20', preserveAspectRatio: 'none' });
        drawLines(spark, [{ points }], 72, 20, 30);
        const errors = rateSum(pick(samples, 'fulcrum_server_errors_total', { pool: pool.name, server: s.name }), dt);
        const p99 = quantile(samples, 'fulcrum_server_response_seconds', 0.99, { pool: pool.name, server: s.name });
        const button = (action: string, label: string) =>
          el('button', { 'data-action': action, disabled: admin === action, title: 'set ' + s.name + ' to ' + action, onclick: () => call('PUT', serverPath(pool.name, s.name) + '/state', { state: action }) }, label);
        rows.push(
          el(
            'tr',
            { 'data-server': key, 'data-state': admin, class: s.usable === false || admin !== 'ready' ? 'out' : '' },
            el('td', {}, el('div', { text: s.name }), el('div', { class: 'muted small', text: s.address })),
            td(badges),
            td(s.reason || '', 'reason'),
            td(s.weight, 'num'),
            el('td', { class: 'num active', text: String(s.active) }),
            el('td', { class: 'num total', text: String(s.total) }),
            el('td', { class: 'num' }, el('span', { class: 'rps', text: fmt(rate) }), spark),
            td(errors === null ? '–' : fmt(errors, 2), 'num'),
            td(ms(p99), 'num'),
            el('td', { class: 'checks' }, history, last),
            el('td', {}, el('span', { class: 'actions' }, button('ready', 'Ready'), button('drain', 'Drain'), button('maint', 'Maint'))),
          ),
        );
      }
      const queued = pick(samples, 'fulcrum_pool_queued', { pool: pool.name })[0];
      const removed = (status.overrides || []).filter((o: any) => o.pool === pool.name && o.removed).map((o: any) => o.server);
      const t = el('table', { 'data-pool': pool.name });
      table(t, ['server', 'state', 'reason', ['weight', 'num'], ['active', 'num'], ['requests', 'num'], ['req/s (30 s)', 'num'], ['errors/s', 'num'], ['p99', 'num'], 'health checks', ''], rows);
      sections.push(el('div', { class: 'pool-head' }, el('h2', { text: 'pool ' + pool.name }), el('span', { class: 'sub', text: pool.servers.length + ' server(s)' + (queued ? ', ' + queued.value + ' queued' : '') + (removed.length ? '; removed at runtime: ' + removed.join(', ') : '') })), el('div', { class: 'scroll' }, t));
    }
    host.replaceChildren(...sections);
  };

  const renderListeners = (status: any, samples: Sample[], dt: number) => {
    const rows = (status.listeners || []).map((l: any) => {
      const host = l.host.includes(':') ? '[' + l.host + ']' : l.host;
      const rps = rateSum(pick(samples, 'fulcrum_listener_requests_total', { listener: l.name }), dt);
      const cps = rateSum(pick(samples, 'fulcrum_listener_connections_total', { listener: l.name }), dt);
      return el('tr', {}, td(l.name), td(l.scheme + '://' + host + ':' + l.port), td(l.active, 'num'), td(l.accepted, 'num'), td(fmt(cps), 'num'), td(fmt(rps), 'num'));
    });
    table($('listeners'), ['listener', 'address', ['connections', 'num'], ['accepted', 'num'], ['conn/s', 'num'], ['req/s', 'num']], rows);
  };

  const renderOptional = (samples: Sample[], dt: number) => {
    // DNS: answers per name and response code.
    const dns = pick(samples, 'fulcrum_dns_queries_total');
    const dnsSection = $('dns');
    dnsSection.hidden = dns.length === 0;
    if (dns.length) {
      const byName = new Map<string, Sample[]>();
      for (const s of dns) byName.set(s.labels.zone + '\0' + s.labels.name, [...(byName.get(s.labels.zone + '\0' + s.labels.name) || []), s]);
      const rows = [...byName].map(([k, list]) => {
        const [zone, name] = k.split('\0');
        const codes = list.map((s) => s.labels.rcode + ' ' + s.value).join(', ');
        return el('tr', {}, td(name), td(zone, 'muted'), td(list.reduce((n, s) => n + s.value, 0), 'num'), td(fmt(rateSum(list, dt)), 'num'), td(codes, 'muted'));
      });
      table(dnsSection.querySelector('table'), ['name', 'zone', ['answers', 'num'], ['per s', 'num'], 'by response code'], rows);
    }
    // Kernel data plane: packets and bytes per server.
    const packets = pick(samples, 'fulcrum_dataplane_packets_total');
    const dp = $('dataplane');
    dp.hidden = packets.length === 0;
    if (packets.length) {
      const rows = packets.map((p) => {
        const b = pick(samples, 'fulcrum_dataplane_bytes_total', { service: p.labels.service!, server: p.labels.server! });
        return el('tr', {}, td(p.labels.service), td(p.labels.server), td(p.value, 'num'), td(fmt(rateSum([p], dt)), 'num'), td(b.length ? bytes(b[0]!.value) : '–', 'num'));
      });
      table(dp.querySelector('table'), ['service', 'server', ['packets', 'num'], ['packets/s', 'num'], ['bytes', 'num']], rows);
    }
    // VRRP: each instance's current state.
    const vrrp = pick(samples, 'fulcrum_vrrp_state');
    const vs = $('vrrp');
    vs.hidden = vrrp.length === 0;
    if (vrrp.length) {
      const instances = [...new Set(vrrp.map((s) => s.labels.instance))];
      const rows = instances.map((i) => {
        const state = vrrp.find((s) => s.labels.instance === i && s.value === 1);
        const transitions = pick(samples, 'fulcrum_vrrp_transitions_total', { instance: i! })[0];
        const cls = state?.labels.state === 'master' ? 'up' : state?.labels.state === 'fault' ? 'down' : 'drain';
        return el('tr', {}, td(i), td(el('span', { class: 'badge ' + cls, text: state ? state.labels.state : 'unknown' })), td(transitions ? transitions.value : '–', 'num'));
      });
      table(vs.querySelector('table'), ['instance', 'state', ['transitions', 'num']], rows);
    }
  };

  /** BGP, from the status report: each session's state, each route announced or not and why. */
  const renderBgp = (status: any) => {
    const bgp = status.bgp;
    $('bgp').hidden = !bgp;
    if (!bgp) return;
    const sessions = (bgp.sessions || []).map((p: any) =>
      el('tr', {}, td(p.peer), td(p.address, 'muted'), td(p.asn, 'num'), td(el('span', { class: 'badge ' + (p.state === 'Established' ? 'up' : 'down'), text: p.state })), td(ago(p.since)), td(p.lastError || '', 'reason')),
    );
    table($('bgp-sessions'), ['peer (AS ' + bgp.asn + ', router id ' + bgp.routerId + ')', 'address', ['AS', 'num'], 'state', 'since', 'last error'], sessions);
    const routes = (bgp.routes || []).map((r: any) =>
      el('tr', {}, td(r.prefix), td(el('span', { class: 'badge ' + (r.announced ? 'up' : 'drain'), text: r.announced ? 'announced' : 'withdrawn' })), td(r.why, 'reason'), td(ago(r.since))),
    );
    table($('bgp-routes'), ['prefix', 'route', 'why', 'since'], routes);
  };

  const renderWorkers = (status: any) => {
    const mem = (m: any) => (m && m.rss > 0 ? bytes(m.rss) : '–');
    const rows = [el('tr', {}, td('primary'), td(status.pid, 'num'), td(status.generation, 'num'), td('', 'num'), td(mem(status.memory), 'num'))];
    for (const w of status.workers || []) rows.push(el('tr', {}, td('worker ' + w.id + (w.draining ? ' (draining)' : '')), td(w.pid ?? '–', 'num'), td(w.generation, 'num'), td(w.active, 'num'), td(mem(w.memory), 'num')));
    table($('workers'), ['process', ['pid', 'num'], ['generation', 'num'], ['connections', 'num'], ['memory', 'num']], rows);
  };

  // ---- the loop --------------------------------------------------------------------
  // Metrics off (404) are not asked for again; metrics failing (503) are asked for again after 30 s.
  let metricsAfter = 0;
  const fetchMetrics = async (): Promise<Sample[]> => {
    if (Date.now() < metricsAfter) return [];
    try {
      const res = await fetch('/metrics');
      if (res.status === 404) metricsAfter = Infinity;
      else if (!res.ok) metricsAfter = Date.now() + 30_000;
      return res.ok ? prom.parse(await res.text()) : [];
    } catch {
      return [];
    }
  };

  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const [statusRes, samples] = await Promise.all([fetch('/api/status').then((r: any) => r.json()), fetchMetrics()]);
      const status = statusRes.data;
      const now = Date.now();
      const dt = metricsHistory.seconds(now);
      const statusDt = totalsHistory.seconds(status.at);
      const totals = new Map<string, number>();
      let totalNow = 0;
      for (const p of status.pools || []) {
        for (const s of p.servers) {
          totals.set(p.name + '/' + s.name, s.total);
          totalNow += s.total;
        }
      }
      totals.set('', totalNow);

      // Requests/s: the listeners' request counters when present, else the servers' totals.
      let rps = rateSum(pick(samples, 'fulcrum_listener_requests_total'), dt);
      const totalDelta = totalsHistory.delta('', totalNow);
      if (rps === null && totalDelta !== null && statusDt > 0) rps = totalDelta / statusDt;
      // Errors: 5xx answers over all answers, else server errors over requests.
      const answered = rateSum(pick(samples, 'fulcrum_listener_requests_total'), dt);
      const failed5xx = rateSum(pick(samples, 'fulcrum_listener_requests_total', { code_class: '5xx' }), dt);
      const serverErrors = rateSum(pick(samples, 'fulcrum_server_errors_total'), dt);
      let errorRate: number | null = null;
      if (answered !== null && answered > 0) errorRate = (failed5xx ?? 0) / answered;
      else if (serverErrors !== null && rps !== null && rps > 0) errorRate = serverErrors / rps;
      else if (answered !== null || serverErrors !== null) errorRate = 0;
      const p50 = quantile(samples, 'fulcrum_server_response_seconds', 0.5);
      const p99 = quantile(samples, 'fulcrum_server_response_seconds', 0.99);
      const active = (status.listeners || []).reduce((n: number, l: any) => n + l.active, 0);

      $('rps').textContent = fmt(rps);
      $('errors').textContent = errorRate === null ? '–' : (errorRate * 100).toFixed(errorRate < 0.01 ? 2 : 1) + ' %';
      $('latency').textContent = p50 === null ? '–' : ms(p50) + ' / ' + ms(p99);
      $('active').textContent = String(active);
      const note = samples.length === 0 ? 'needs the metrics at /metrics' : '';
      $('errors-note').textContent = errorRate === null ? note : '';
      $('latency-note').textContent = p50 === null ? (note || 'no responses lately') : '';
      drawLines($('chart-rps'), [{ points: push('rps', rps) }], 240, 48);
      drawLines($('chart-errors'), [{ points: push('errors', errorRate === null ? null : errorRate * 100), cls: 'bad' }], 240, 48);
      drawLines($('chart-latency'), [{ points: push('p50', p50) }, { points: push('p99', p99), cls: 'p99' }], 240, 48);
      drawLines($('chart-active'), [{ points: push('active', active) }], 240, 48);

      $('about').textContent = status.source + ' · pid ' + status.pid + ' · generation ' + status.generation + ' · ' + (status.workers || []).length + ' worker(s)';
      renderListeners(status, samples, dt);
      renderPools(status, samples, dt, statusDt);
      renderOptional(samples, dt);
      renderBgp(status);
      renderWorkers(status);

      metricsHistory.add(now, new Map(samples.map((s) => [keyOf(s), s.value])));
      totalsHistory.add(status.at, totals);
      $('live').textContent = 'live · ' + new Date(now).toLocaleTimeString();
      $('live').className = 'live ok';
    } catch (e: any) {
      $('live').textContent = 'no answer: ' + e.message;
      $('live').className = 'live stale';
    } finally {
      polling = false;
    }
  };
  if (tokenRequired && tokenInput.value === '') tokenForm.classList.add('needed');
  void poll();
  window.setInterval(poll, 1000);
}

/** The script as served: the function's source, called once the page has loaded. */
export const SCRIPT = `'use strict';\n(${dashboard.toString()})((${promTools.toString()})());\n`;
