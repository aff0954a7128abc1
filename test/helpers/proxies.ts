/**
 * Fulcrum for the tests, in this process: started from YAML (failing with every issue
 * listed) and stopped after the test, and the YAML builders of the common shapes (one
 * HTTP, pool, tcp or TLS listener on 127.0.0.1:0 in front of test backends). To run
 * Fulcrum as a process, see spawn.ts (the CLI) and netns.ts (in a namespace).
 */
import { readFileSync } from 'node:fs';
import { after, before, describe, type TestContext } from 'node:test';
import { formatIssue, loadConfigText } from '../../src/config/load.js';
import { flushAccessLogs } from '../../src/proxy/access-log.js';
import type { TcpFrontend } from '../../src/proxy/tcp/frontend.js';
import { startInstance, type Instance } from '../../src/runtime/instance.js';
import { TestPki, type CertFiles } from './certs.js';
import { echoBackend } from './backends.js';
import { waitFor } from './wait.js';

/** A Fulcrum instance running in this process. */
export interface RunningProxy {
  instance: Instance;
  /** Port of the first listener. */
  port: number;
  /** Ports of all listeners, in configuration order. */
  ports: number[];
  stop(): Promise<void>;
}

/** Loads `yaml` (failing with every issue listed) and starts it in this process. */
export async function startProxy(yaml: string): Promise<RunningProxy> {
  const { config, issues } = loadConfigText(yaml, 'test');
  if (config === undefined) throw new Error(`bad test configuration:\n${issues.map(formatIssue).join('\n')}\n---\n${yaml}`);
  const instance = await startInstance(config);
  const ports = instance.listeners.map((l) => l.address().port);
  let stopped: Promise<void> | null = null;
  return {
    instance,
    port: ports[0]!,
    ports,
    stop: () => (stopped ??= instance.stop({ graceMs: 200 })),
  };
}

/**
 * A one-listener configuration on 127.0.0.1:0 with a catch-all route to pool `web`
 * over `servers` (ports, or "host:port" strings).
 */
export function simpleYaml(
  servers: Array<number | { port: number; name?: string; weight?: number }>,
  extra: { balance?: string; listener?: string; pool?: string; top?: string } = {},
): string {
  const lines = servers.map((s, i) => {
    const o = typeof s === 'number' ? { port: s } : s;
    return `      - { name: ${o.name ?? `S${i + 1}`}, address: "127.0.0.1:${o.port}", weight: ${o.weight ?? 1} }`;
  });
  return [
    'listeners:',
    '  - name: test',
    '    bind: 127.0.0.1:0',
    '    mode: http',
    '    routes: [{ pool: web }]',
    ...(extra.listener ? [extra.listener] : []),
    'pools:',
    '  web:',
    `    balance: ${extra.balance ?? 'round-robin'}`,
    '    servers:',
    ...lines,
    ...(extra.pool ? [extra.pool] : []),
    ...(extra.top ? [extra.top] : []),
    '',
  ].join('\n');
}

/** One server for poolYaml. */
export interface ServerSpec {
  name: string;
  port: number;
  /** Extra flow-mapping entries, e.g. "weight: 0, backup: true". */
  extra?: string;
}

/**
 * One listener on 127.0.0.1:0 routing everything to pool `pool` over `servers`; `pool`
 * lines are added under the pool (indented by the caller with 4 spaces), `listener`
 * lines under the listener, `top` lines at the top level.
 */
export function poolYaml(o: { pool: string; balance?: string; servers: ServerSpec[]; poolLines?: string[]; listenerLines?: string[]; top?: string[] }): string {
  return [
    'listeners:',
    '  - name: test',
    '    bind: 127.0.0.1:0',
    `    routes: [{ pool: ${o.pool} }]`,
    ...(o.listenerLines ?? []),
    'pools:',
    `  ${o.pool}:`,
    `    balance: ${o.balance ?? 'round-robin'}`,
    '    servers:',
    ...o.servers.map((s) => `      - { name: ${s.name}, address: "127.0.0.1:${s.port}"${s.extra ? `, ${s.extra}` : ''} }`),
    ...(o.poolLines ?? []),
    ...(o.top ?? []),
    '',
  ].join('\n');
}

/** startProxy, stopped in t.after. */
export async function proxyFor(t: TestContext, yaml: string): Promise<RunningProxy> {
  const p = await startProxy(yaml);
  t.after(() => p.stop());
  return p;
}

/** One pool for tcpYaml: server ports (or objects) and extra pool lines (YAML, 4 spaces in). */
export interface PoolSpec {
  servers: Array<number | { port: number; name?: string; weight?: number; extra?: string }>;
  balance?: string;
  lines?: string[];
}

/**
 * A configuration with one tcp listener on 127.0.0.1:0. `routes` are YAML flow maps
 * (default: one catch-all to the first pool); `listener` adds lines under the listener
 * (4 spaces in). Servers are named S1, S2... unless named.
 */
export function tcpYaml(pools: Record<string, PoolSpec>, opts: { routes?: string[]; listener?: string[] } = {}): string {
  const names = Object.keys(pools);
  const out = ['listeners:', '  - name: tcp', '    bind: 127.0.0.1:0', '    mode: tcp', '    routes:'];
  for (const r of opts.routes ?? [`{ pool: ${names[0]} }`]) out.push(`      - ${r}`);
  out.push(...(opts.listener ?? []));
  out.push('pools:');
  for (const [name, p] of Object.entries(pools)) {
    out.push(`  ${name}:`, `    balance: ${p.balance ?? 'round-robin'}`, ...(p.lines ?? []), '    servers:');
    p.servers.forEach((s, i) => {
      const o = typeof s === 'number' ? { port: s } : s;
      out.push(`      - { name: ${o.name ?? `S${i + 1}`}, address: "127.0.0.1:${o.port}", weight: ${o.weight ?? 1}${o.extra ? `, ${o.extra}` : ''} }`);
    });
  }
  return `${out.join('\n')}\n`;
}

/** Starts Fulcrum in-process from `yaml`, stopped after the test. */
export async function tcpProxy(t: TestContext, yaml: string): Promise<RunningProxy & { frontend: TcpFrontend }> {
  const p = await startProxy(yaml);
  t.after(() => p.stop());
  return { ...p, frontend: p.instance.listeners[0] as TcpFrontend };
}

/**
 * A configuration with one TLS listener `www` on 127.0.0.1:0 (`certs` in order, the first
 * the default), routing everything to pool `web` over `servers` (ports). `tls` and
 * `listener` add lines under `tls:` (6 spaces in) and the listener (4 spaces in).
 */
export function httpsYaml(
  certs: Array<CertFiles & { names?: string[] }>,
  servers: number[],
  extra: { tls?: string[]; listener?: string[]; pool?: string[]; more?: string[] } = {},
): string {
  return [
    'listeners:',
    '  - name: www',
    '    bind: 127.0.0.1:0',
    '    tls:',
    '      certificates:',
    ...certs.map((c) => `        - { cert: "${c.cert}", key: "${c.key}"${c.names ? `, names: ${JSON.stringify(c.names)}` : ''} }`),
    ...(extra.tls ?? []).map((l) => `      ${l}`),
    '    routes: [{ pool: web }]',
    ...(extra.listener ?? []).map((l) => `    ${l}`),
    ...(extra.more ?? []),
    'pools:',
    '  web:',
    '    servers:',
    ...servers.map((p, i) => `      - { name: S${i + 1}, address: "127.0.0.1:${p}" }`),
    ...(extra.pool ?? []).map((l) => `    ${l}`),
    '',
  ].join('\n');
}

/**
 * The tcp listener's two relay engines: the native relay (native/relay.c, the default)
 * and the JavaScript relay over Node's handles (relay.ts, FULCRUM_TCP_RELAY=js).
 */
export const RELAYS = ['native', 'js'] as const;
/** One of RELAYS. */
export type RelayKind = (typeof RELAYS)[number];

/**
 * Runs the tests `body` declares once per relay engine, each set in a describe block
 * with FULCRUM_TCP_RELAY set for it (listeners read it when they start).
 */
export function forEachRelay(body: (relay: RelayKind) => void): void {
  for (const relay of RELAYS) {
    describe(`${relay} relay`, () => {
      const saved = process.env.FULCRUM_TCP_RELAY;
      before(() => {
        if (relay === 'js') process.env.FULCRUM_TCP_RELAY = 'js';
        else delete process.env.FULCRUM_TCP_RELAY;
      });
      after(() => {
        if (saved === undefined) delete process.env.FULCRUM_TCP_RELAY;
        else process.env.FULCRUM_TCP_RELAY = saved;
      });
      body(relay);
    });
  }
}

/** The lines of the access log file at `path` (of a proxy in this process), once there are at least `count`. */
export async function accessLogLines(path: string, count: number): Promise<string[]> {
  let lines: string[] = [];
  await waitFor(
    () => {
      flushAccessLogs();
      try {
        lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
      } catch {
        return false;
      }
      return lines.length >= count;
    },
    5000,
    () => `${count} access log lines, got ${lines.length}`,
  );
  return lines;
}

/**
 * An HTTPS listener `www` (with HTTP/2) on 127.0.0.1:0 whose `lines` (its routes and
 * more, 4 spaces in) follow its tls section, over pools `web` and `canary` (echo
 * backends named so); stopped after the test.
 */
export async function policyProxy(t: TestContext, lines: (ports: { web: number; canary: number }) => string): Promise<RunningProxy> {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const web = await echoBackend(t, 'web');
  const canary = await echoBackend(t, 'canary');
  return proxyFor(
    t,
    `listeners:
  - name: www
    bind: 127.0.0.1:0
    tls:
      certificates: [{ cert: "${www.cert}", key: "${www.key}" }]
${lines({ web: web.port, canary: canary.port })}
pools:
  web:
    servers: [{ name: s1, address: "127.0.0.1:${web.port}" }]
  canary:
    servers: [{ name: c1, address: "127.0.0.1:${canary.port}" }]
`,
  );
}

