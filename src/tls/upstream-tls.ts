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

/** A pool's TLS file that cannot be used: `key` is the field at fault (ca, cert or key; tls: the files together). */
class PoolTlsError extends FulcrumError {
  constructor(
    readonly key: 'ca' | 'cert' | 'key' | 'tls',
    message: string,
  ) {
    super('FULCRUM_ERR_CONFIG', message);
  }
}

function read(pool: string, key: 'ca' | 'cert' | 'key', path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new PoolTlsError(key, `pool ${pool}: tls.${key}: cannot read ${path}: ${why}`);
  }
}

/** The files a pool's `tls` names (absolute paths), and its minimum version. */
export interface PoolTlsFiles {
  ca: string | null;
  cert: string | null;
  key: string | null;
  minVersion: tls.SecureVersion;
}

/** Reads the pool's files and makes its client context; throws PoolTlsError naming the field and the file. */
function clientContext(pool: string, cfg: PoolTlsFiles): tls.SecureContext {
  const options: tls.SecureContextOptions = { minVersion: cfg.minVersion };
  if (cfg.ca !== null) {
    const ca = read(pool, 'ca', cfg.ca);
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new PoolTlsError('ca', `pool ${pool}: tls.ca: ${cfg.ca} holds no PEM certificate`);
    options.ca = ca;
  }
  if (cfg.cert !== null && cfg.key !== null) {
    options.cert = read(pool, 'cert', cfg.cert);
    options.key = read(pool, 'key', cfg.key);
  }
  try {
    return tls.createSecureContext(options);
  } catch (err) {
    const files = [cfg.ca, cfg.cert, cfg.key].filter((f) => f !== null).join(', ');
    throw new PoolTlsError('tls', `pool ${pool}: tls: OpenSSL refused ${files}: ${(err as Error).message}`);
  }
}

/**
 * What is wrong with a pool's TLS files (`fulcrum check`, start and reload read them
 * before anything starts, as the first listener routing to the pool would), with the
 * field at fault, or null. The same reading as upstreamTlsFor.
 */
export function poolTlsProblem(pool: string, cfg: PoolTlsFiles): { key: 'ca' | 'cert' | 'key' | 'tls'; message: string } | null {
  try {
    clientContext(pool, cfg);
    return null;
  } catch (err) {
    if (err instanceof PoolTlsError) return { key: err.key, message: err.message };
    throw err;
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
  const context = clientContext(pool.name, cfg);
  const sni = cfg.sni;
  const result: UpstreamTls = {
    context,
    servername: (host) => sni ?? (isIP(host) === 0 ? host : undefined),
    verify: cfg.verify,
  };
  built.set(pool, result);
  return result;
}
