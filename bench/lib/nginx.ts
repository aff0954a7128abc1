/**
 * A private nginx instance: its own prefix, config, pid file, error log and temp paths in
 * a temp dir, `daemon off`, one worker unless told otherwise, no access log. It never reads or writes the
 * system nginx configuration. Used for the http backends and the nginx-proxy peer (and
 * later, with a stream block, for tcp).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from './process.js';

export interface NginxOptions {
  /** Directives inside `http { }` (servers, upstreams). */
  readonly http?: string;
  /** Directives inside `stream { }`. */
  readonly stream?: string;
  readonly workerConnections?: number;
  /** worker_processes (default 1). */
  readonly workers?: number;
}

export function renderNginxConf(dir: string, o: NginxOptions): string {
  const indent = (s: string) => s.trim().split('\n').map((l) => `  ${l}`).join('\n');
  const parts = [
    'daemon off;',
    'master_process on;',
    `worker_processes ${o.workers ?? 1};`,
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    `events { worker_connections ${o.workerConnections ?? 4096}; }`,
  ];
  if (o.http !== undefined) {
    parts.push(`http {
  access_log off;
  default_type text/plain;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
${indent(o.http)}
}`);
  }
  if (o.stream !== undefined) parts.push(`stream {\n${indent(o.stream)}\n}`);
  return `${parts.join('\n')}\n`;
}

/**
 * Writes the config into `dir` (created if needed) and starts `nginx -p dir/ -e dir/error.log
 * -c dir/nginx.conf`. The caller waits for readiness and stops the returned process
 * (SIGTERM to the master; its worker is remembered and killed by pid if it lingers).
 */
export async function startNginx(name: string, nginxBin: string, dir: string, o: NginxOptions): Promise<ManagedProcess> {
  mkdirSync(dir, { recursive: true });
  // When run as root the worker runs as an unprivileged user: let it traverse its dir.
  chmodSync(dir, 0o755);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, renderNginxConf(dir, o));
  return startProcess(name, nginxBin, ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', conf]);
}
