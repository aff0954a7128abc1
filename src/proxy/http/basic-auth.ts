/**
 * HTTP basic authentication for a route (RFC 7617) from an htpasswd file of bcrypt hashes
 * (`htpasswd -B`). bcrypt is slow on purpose, so a check runs asynchronously (bcryptjs
 * yields to the event loop) and a credential that passed is remembered for a few minutes
 * (by a hash of the header, never the password itself): a client sending the same
 * credentials on every request costs one bcrypt comparison, not one per request.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { FulcrumError } from '../../core/errors.js';

/** How long a credential that passed is trusted without another bcrypt comparison. */
const REMEMBER_MS = 5 * 60_000;
/** The most credentials remembered at once (the oldest go first). */
const REMEMBER_MAX = 1000;
/** A hash compared when the user is unknown, so an unknown user takes as long as a wrong password. */
const DUMMY = bcrypt.hashSync('not a password', 10);

export class BasicAuth {
  private readonly users = new Map<string, string>();
  private readonly passed = new Map<string, number>();
  /** The WWW-Authenticate value of a refusal. */
  readonly challenge: string;

  /** Reads the htpasswd file; throws (FULCRUM_ERR_CONFIG) when it cannot be read or holds anything but bcrypt hashes. */
  constructor(
    readonly realm: string,
    file: string,
    where: string,
  ) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `${where}: cannot read the htpasswd file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1).trim();
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new FulcrumError('FULCRUM_ERR_CONFIG', `${where}: ${file} line ${i + 1}: expected USER:BCRYPT-HASH (make it with \`htpasswd -B\`); other hash kinds are not accepted`);
      }
      this.users.set(user, hash);
    });
    this.challenge = `Basic realm="${realm.replace(/["\\]/g, '')}", charset="UTF-8"`;
  }

  /**
   * Whether an Authorization value carries a known user and the right password: true or
   * false at once when it can tell (no or malformed credentials, remembered ones), else a
   * promise.
   */
  check(authorization: string | undefined): boolean | Promise<boolean> {
    const m = authorization === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization);
    if (m === null) return false;
    const key = createHash('sha256').update(m[1]!).digest('base64');
    const until = this.passed.get(key);
    const now = Date.now();
    if (until !== undefined && until > now) return true;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const hash = this.users.get(decoded.slice(0, colon));
    const password = decoded.slice(colon + 1);
    return bcrypt.compare(password, hash ?? DUMMY).then((ok) => {
      if (!ok || hash === undefined) return false;
      if (this.passed.size >= REMEMBER_MAX) this.passed.delete(this.passed.keys().next().value!);
      this.passed.set(key, now + REMEMBER_MS);
      return true;
    });
  }
}
