/**
 * Calls to the admin listener's JSON API for tests: the method, path, JSON body and
 * token in, the status, headers and parsed `{ok, message, data}` out.
 */
import type http from 'node:http';
import { send } from './http-client.js';

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
