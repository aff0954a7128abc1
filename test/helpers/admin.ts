/**
 * Calls to the admin listener's JSON API for tests: the method, path, JSON body and
 * token in, the status, headers and parsed `{ok, message, data}` out.
 */
import type http from 'node:http';
import type { TestContext } from 'node:test';
import { poolBackends, type PoolBackend } from './backends.js';
import { tempDir, type TempDir } from './files.js';
import { send } from './http-client.js';
import { spawnCli, type SpawnedCli } from './spawn.js';
import { waitFor } from './wait.js';

export interface AdminReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The parsed body (null when it is not JSON). */
  json: { ok: boolean; message: string; data?: any } | null;
}

export interface AdminCallOptions {
  /** Sent as JSON (with `Content-Type: application/json` unless `headers` says otherwise). */
  body?: unknown;
  /** Sent as-is instead of `body`. */
  raw?: string;
  token?: string;
  headers?: http.OutgoingHttpHeaders;
}

/** One call to the admin listener on 127.0.0.1:`port`. */
export async function adminCall(port: number, method: string, path: string, opts: AdminCallOptions = {}): Promise<AdminReply> {
  const changes = method !== 'GET' && method !== 'HEAD';
  const headers: http.OutgoingHttpHeaders = {
    ...(changes ? { 'Content-Type': 'application/json' } : {}),
    ...(opts.token === undefined ? {} : { Authorization: `Bearer ${opts.token}` }),
    ...opts.headers,
  };
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  // node:http sends no Content-Length of its own for a DELETE body.
  if (body !== undefined && body !== '' && headers['Content-Length'] === undefined && headers['Transfer-Encoding'] === undefined) headers['Content-Length'] = Buffer.byteLength(body);
  for (const [k, v] of Object.entries(headers)) if (v === undefined) delete headers[k];
  const r = await send(port, { method, path, headers, body });
  let json: AdminReply['json'] = null;
  try {
    json = JSON.parse(r.body) as AdminReply['json'];
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.headers, body: r.body, json };
}

/** The admin listener's port from `fulcrum run`'s log line, or undefined before it. */
export function adminPort(stderr: string): number | undefined {
  const m = /admin listening on http:\/\/[^\s]+:(\d+)/.exec(stderr);
  return m === null ? undefined : Number(m[1]);
}

/**
 * A configuration for the admin tests: listener `www` on 127.0.0.1 (a free port) over
 * pool `web` with servers s1, s2, ... at `ports` and HTTP checks of /health every
 * `checkInterval`, two workers, the control socket at `sock`, and `admin` (YAML lines,
 * indented by two) as the admin section.
 */
export function adminTestConfig(ports: number[], sock: string, admin: string, checkInterval = '60s'): string {
  return `listeners:
  - name: www
    bind: 127.0.0.1:0
    routes: [{ pool: web }]
pools:
  web:
    health: { type: http, interval: ${checkInterval}, timeout: 500ms, http: { path: /health } }
    servers:
${ports.map((p, i) => `      - { name: s${i + 1}, address: "127.0.0.1:${p}" }`).join('\n')}
runtime: { workers: 2, control_socket: ${sock} }
admin:
${admin}
`;
}

/** What startAdminInstance started: stopped and removed after the test. */
export interface AdminInstance {
  cli: SpawnedCli;
  /** The admin listener's port. */
  port: number;
  /** Backends s1 and s2 of pool `web`. */
  s1: PoolBackend;
  s2: PoolBackend;
  dir: TempDir;
  /** The control socket. */
  sock: string;
}

/**
 * `fulcrum run` with adminTestConfig over two new pool backends, in a new temporary
 * directory (`token`, when given, is written to admin.token there first); resolves once
 * the admin listener has logged its port.
 */
export async function startAdminInstance(t: TestContext, opts: { prefix: string; admin: string; checkInterval?: string; token?: string; cwd?: string }): Promise<AdminInstance> {
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  const dir = tempDir(opts.prefix, t);
  const sock = dir.file('ctl.sock');
  if (opts.token !== undefined) dir.write('admin.token', opts.token);
  const file = dir.write('fulcrum.yaml', adminTestConfig([s1!.port, s2!.port], sock, opts.admin, opts.checkInterval));
  const cli = await spawnCli(['run', '-c', file], { cwd: opts.cwd });
  t.after(() => cli.stop());
  const port = await waitFor(() => adminPort(cli.stderr()), 10_000, () => `the admin listening line; stderr:\n${cli.stderr()}`);
  return { cli, port, s1: s1!, s2: s2!, dir, sock };
}
