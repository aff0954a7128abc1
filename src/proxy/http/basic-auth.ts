/**
 * HTTP basic authentication for a route (RFC 7617) from an htpasswd file of bcrypt hashes
 * (`htpasswd -B`). bcrypt is slow on purpose, so a check runs asynchronously (bcryptjs
 * yields to the event loop) and a credential that passed is remembered for a few minutes
 * (by a hash of the header, never the password itself): a client sending the same
 * credentials on every request costs one bcrypt comparison, not one per request.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseHtpasswd } from '../../config/listeners/htpasswd.js';
import bcrypt from 'bcryptjs';
import { FulcrumError } from '../../core/errors.js';

/** How long a credential that passed is trusted without another bcrypt comparison. */
const REMEMBER_MS = 5 * 60_000;
/** The most credentials remembered at once (the oldest go first). */
const REMEMBER_MAX = 1000;
/**
 * A hash compared when the user is unknown, so an unknown user takes as long as a wrong
 * password: cost 10 (htpasswd -B's), of a random password nobody knows. A constant: making
 * one at load would cost every process about 50 ms of CPU.
 */
const DUMMY = '$2b$10$wNhy5/Ec/zHhiIhUx9APV.X6pSvgYHtSsFtBojZTJyJIKvmClonMS';

export class BasicAuth {
  private readonly users: Map<string, string>;
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
    const parsed = parseHtpasswd(text);
    if ('badLine' in parsed) {
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `${where}: ${file} line ${parsed.badLine}: expected USER:BCRYPT-HASH (make it with \`htpasswd -B\`); other hash kinds are not accepted`);
    }
    this.users = parsed.users;
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
