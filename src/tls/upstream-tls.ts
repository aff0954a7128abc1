/**
 * TLS from Fulcrum to the servers of a pool (re-encryption): one client context per pool
 * (its CA bundle and client certificate read once), the server name to send and verify,
 * and whether to verify. Built when a listener first routes to the pool; a file that
 * cannot be used is a configuration error naming the pool, the key and the file.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { PoolConfig } from '../config/types.js';
import { FulcrumError } from '../core/errors.js';

/** What an upstream connection of the pool needs to start TLS. */
export interface UpstreamTls {
  context: tls.SecureContext;
  /** The name sent as SNI and checked against the certificate, for a server at `host`; undefined: none (an IP address), the address is checked. */
  servername(host: string): string | undefined;
  verify: boolean;
}

const built = new WeakMap<PoolConfig, UpstreamTls | null>();

function read(pool: string, key: string, path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new FulcrumError('FULCRUM_ERR_CONFIG', `pool ${pool}: tls.${key}: cannot read ${path}: ${why}`);
  }
}

/**
 * The pool's upstream TLS, or null when its servers speak plain TCP. Memoised per pool
 * configuration, so listeners sharing a pool share its context and files are read once.
 * Throws FULCRUM_ERR_CONFIG when a file is missing or OpenSSL refuses it.
 */
export function upstreamTlsFor(pool: PoolConfig): UpstreamTls | null {
  const cached = built.get(pool);
  if (cached !== undefined) return cached;
  const cfg = pool.tls;
  if (cfg === null) {
    built.set(pool, null);
    return null;
  }
  const options: tls.SecureContextOptions = { minVersion: cfg.minVersion };
  if (cfg.ca !== null) {
    const ca = read(pool.name, 'ca', cfg.ca);
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new FulcrumError('FULCRUM_ERR_CONFIG', `pool ${pool.name}: tls.ca: ${cfg.ca} holds no PEM certificate`);
    options.ca = ca;
  }
  if (cfg.cert !== null && cfg.key !== null) {
    options.cert = read(pool.name, 'cert', cfg.cert);
    options.key = read(pool.name, 'key', cfg.key);
  }
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(options);
  } catch (err) {
    const files = [cfg.ca, cfg.cert, cfg.key].filter((f) => f !== null).join(', ');
    throw new FulcrumError('FULCRUM_ERR_CONFIG', `pool ${pool.name}: tls: OpenSSL refused ${files}: ${(err as Error).message}`);
  }
  const sni = cfg.sni;
  const result: UpstreamTls = {
    context,
    servername: (host) => sni ?? (isIP(host) === 0 ? host : undefined),
    verify: cfg.verify,
  };
  built.set(pool, result);
  return result;
}
