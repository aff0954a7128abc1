/**
 * Reads one certificate and its key from PEM files and turns them into a TLS context,
 * refusing anything OpenSSL would fail on later, with a message that names the file and
 * says what is wrong: a missing or unreadable file, no PEM certificate, no usable
 * private key (encrypted keys are refused), or a key that belongs to another certificate.
 */
import { constants, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import tls from 'node:tls';
import type { CertificateConfig } from '../config/tls/types.js';
import type { NativeContexts } from './native-contexts.js';
import { renewTickets } from './ticket-renewal.js';

/** What every context of one listener shares (versions, ciphers, resumption). */
export interface ContextOptions {
  minVersion: tls.SecureVersion;
  ciphers: string | null;
  /** 48 bytes shared by every context of a listener, so tickets survive SNI switches and reloads; null: tickets off. */
  ticketKeys: Buffer | null;
  sessionTimeoutS: number;
  /** Same for every context of a listener, so a resumed session matches whichever context it lands on. */
  sessionIdContext: string;
}

/** A certificate ready to serve. */
export interface LoadedCertificate {
  context: tls.SecureContext;
  /** The same pair as a native/tls.c context's id, when the listener terminates TLS there; else null. */
  native: number | null;
  /** The names it is chosen for (configured, or read from the certificate). */
  names: string[];
  subject: string;
  /** End of validity. */
  notAfter: Date;
  /** Stamps of the two files as read (see file-watch.ts), to tell a later version apart. */
  stamps: { cert: string; key: string };
}

/** A certificate or key that cannot be used; the message names the file, `file` says which of the two is at fault. */
export class CertificateError extends Error {
  constructor(
    message: string,
    readonly file: 'cert' | 'key' = 'cert',
  ) {
    super(message);
  }
}

function readPem(path: string, what: string): { text: string; stamp: string } {
  let text: string;
  let stamp: string;
  try {
    const s = statSync(path);
    if (s.isDirectory()) throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
    stamp = `${s.mtimeMs}:${s.size}:${s.ino}`;
    text = readFileSync(path, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new CertificateError(`cannot read the ${what} file ${path}: ${why}`, what === 'key' ? 'key' : 'cert');
  }
  return { text, stamp };
}

/** OpenSSL's words without the "error:0480006C:PEM routines::" prefix. */
function opensslReason(err: unknown): string {
  const msg = (err as Error).message ?? String(err);
  return msg.replace(/^error:[0-9A-F]+:[^:]*::?/i, '');
}

/** The resumption options of a context: shared ticket keys, or tickets off. */
function resumption(opts: ContextOptions): tls.SecureContextOptions {
  const common = { sessionTimeout: opts.sessionTimeoutS, sessionIdContext: opts.sessionIdContext };
  return opts.ticketKeys === null ? { ...common, secureOptions: constants.SSL_OP_NO_TICKET } : { ...common, ticketKeys: opts.ticketKeys };
}

/** A server context with `opts`' resumption: tickets renewed on each resumption (ticket-renewal.ts), or none. */
export function serverContext(base: tls.SecureContextOptions, opts: ContextOptions): tls.SecureContext {
  const context = tls.createSecureContext({ ...base, ...resumption(opts) });
  if (opts.ticketKeys !== null) renewTickets(context, opts.ticketKeys);
  return context;
}

/** DNS names a certificate is valid for: its subjectAltName DNS entries, else its common name. */
export function certificateNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san !== undefined) {
    const names = san
      .split(/,\s*/)
      .filter((e) => e.startsWith('DNS:'))
      .map((e) => e.slice(4).toLowerCase());
    if (names.length > 0) return names;
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn !== undefined && /^(\*\.)?[a-z0-9_.-]+$/i.test(cn) ? [cn.toLowerCase()] : [];
}

/** A certificate and its key as read and checked, before any context is made. */
interface CheckedPair {
  cert: { text: string; stamp: string };
  key: { text: string; stamp: string };
  x509: X509Certificate;
}

/** Reads the pair and checks it as OpenSSL would; throws CertificateError naming the file at fault (its `file`: which one). */
function readPair(certPath: string, keyPath: string): CheckedPair {
  const cert = readPem(certPath, 'certificate');
  const key = readPem(keyPath, 'key');
  if (!cert.text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CertificateError(`${certPath} holds no PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.text);
  } catch (err) {
    throw new CertificateError(`${certPath}: the certificate cannot be parsed: ${opensslReason(err)}`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key.text)) {
    throw new CertificateError(`${keyPath}: the private key is encrypted; give Fulcrum an unencrypted key (e.g. \`openssl pkey -in ${keyPath} -out plain.key\`) readable only by its user`, 'key');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key.text);
  } catch (err) {
    throw new CertificateError(`${keyPath} holds no usable private key: ${opensslReason(err)}`, 'key');
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new CertificateError(`the key in ${keyPath} does not belong to the certificate in ${certPath} (${x509.subject.replace(/\n/g, ', ')}): give the key the certificate was issued for`, 'key');
  }
  return { cert, key, x509 };
}

/**
 * What is wrong with a listener's certificate pair (`fulcrum check`, start and reload
 * check the files before anything starts), with the key at fault, or null when it
 * would load. The same reading and checks as loadCertificate.
 */
export function certificateProblem(certPath: string, keyPath: string): { file: 'cert' | 'key'; message: string } | null {
  try {
    readPair(certPath, keyPath);
    return null;
  } catch (err) {
    if (err instanceof CertificateError) return { file: err.file, message: err.message };
    throw err;
  }
}

/**
 * Loads the pair and builds its context (and its native one with `native`). Throws CertificateError with a message naming
 * the file at fault. Synchronous (startup and reloads; a reload reads two small files).
 */
export function loadCertificate(cfg: CertificateConfig, opts: ContextOptions, native: NativeContexts | null = null): LoadedCertificate {
  const { cert, key, x509 } = readPair(cfg.cert, cfg.key);
  let context: tls.SecureContext;
  try {
    context = serverContext({ cert: cert.text, key: key.text, minVersion: opts.minVersion, ...(opts.ciphers === null ? {} : { ciphers: opts.ciphers }) }, opts);
  } catch (err) {
    throw new CertificateError(`${cfg.cert} with ${cfg.key}: OpenSSL refused the pair: ${opensslReason(err)}`);
  }
  let nativeId: number | null = null;
  if (native !== null) {
    try {
      nativeId = native.make(cert.text, key.text, opts);
    } catch (err) {
      throw new CertificateError(`${cfg.cert} with ${cfg.key}: OpenSSL refused the pair: ${(err as Error).message}`);
    }
  }
  return {
    context,
    native: nativeId,
    names: cfg.names ?? certificateNames(x509),
    subject: x509.subject.replace(/\n/g, ', '),
    notAfter: new Date(x509.validTo),
    stamps: { cert: cert.stamp, key: key.stamp },
  };
}
