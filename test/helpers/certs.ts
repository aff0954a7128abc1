/**
 * Test certificates made by the openssl CLI in a temp directory (removed when the test
 * process exits): a CA, certificates it signs, and self-signed ones, ECDSA P-256 unless asked for
 * RSA. Tests that need them skip when openssl is not installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const SBIN = ['/usr/bin', '/usr/local/bin', '/bin'];

/** The openssl binary, or undefined when it is not installed. */
export const OPENSSL = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SBIN].map((d) => join(d, 'openssl')).find((p) => existsSync(p));

/** Why certificate tests skip, or false when they can run. */
export const NO_OPENSSL: string | false = OPENSSL === undefined ? 'openssl is not installed (apt-get install openssl): no test certificates' : false;

/** A certificate and its key: file paths and contents. */
export interface CertFiles {
  cert: string;
  key: string;
  certPem: Buffer;
  keyPem: Buffer;
}

export interface CertOptions {
  /** Sign with this CA (default: self-signed). */
  ca?: CertFiles;
  /** ec (P-256, default) or rsa (2048 bits). */
  keyType?: 'ec' | 'rsa';
  /** Validity in days (default 2). */
  days?: number;
}

/** Makes certificates under one temp directory, removed when the test process exits. */
export class TestPki {
  readonly dir: string;
  private n = 0;

  constructor(t: TestContext) {
    if (OPENSSL === undefined) throw new Error('openssl is not installed');
    this.dir = mkdtempSync(join(tmpdir(), 'fulcrum-pki-'));
    // removed when the test process exits: proxies still running in later after-hooks
    // would otherwise see their certificate files vanish
    void t;
    process.once('exit', () => rmSync(this.dir, { recursive: true, force: true }));
  }

  private openssl(args: string[]): void {
    const r = spawnSync(OPENSSL!, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000, cwd: this.dir });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr?.toString() ?? r.error?.message}`);
  }

  private keyArgs(type: 'ec' | 'rsa'): string[] {
    return type === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  }

  private files(base: string): CertFiles {
    const cert = join(this.dir, `${base}.pem`);
    const key = join(this.dir, `${base}.key`);
    return { cert, key, certPem: readFileSync(cert), keyPem: readFileSync(key) };
  }

  /** A CA certificate (self-signed, CA:TRUE). */
  ca(name: string): CertFiles {
    const base = `ca${++this.n}`;
    this.openssl([
      'req', '-x509', ...this.keyArgs('ec'), '-nodes', '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', `${base}.key`, '-out', `${base}.pem`,
    ]);
    return this.files(base);
  }

  /**
   * A certificate for `names` (DNS names, or IP addresses written as such) with the first
   * as its common name; usable for servers and clients.
   */
  leaf(names: string[], opts: CertOptions = {}): CertFiles {
    const base = `leaf${++this.n}`;
    const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    const days = String(opts.days ?? 2);
    const keyType = opts.keyType ?? 'ec';
    if (opts.ca === undefined) {
      this.openssl([
        'req', '-x509', ...this.keyArgs(keyType), '-nodes', '-days', days, '-subj', `/CN=${names[0]}`,
        '-addext', `subjectAltName=${san}`, '-keyout', `${base}.key`, '-out', `${base}.pem`,
      ]);
      return this.files(base);
    }
    writeFileSync(join(this.dir, `${base}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`);
    this.openssl(['req', '-new', ...this.keyArgs(keyType), '-nodes', '-subj', `/CN=${names[0]}`, '-keyout', `${base}.key`, '-out', `${base}.csr`]);
    this.openssl([
      'x509', '-req', '-in', `${base}.csr`, '-CA', opts.ca.cert, '-CAkey', opts.ca.key, '-CAcreateserial',
      '-days', days, '-extfile', `${base}.ext`, '-out', `${base}.pem`,
    ]);
    return this.files(base);
  }

  /** A path in the directory, for files a test writes itself. */
  path(name: string): string {
    return join(this.dir, name);
  }
}
