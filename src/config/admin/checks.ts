/**
 * Cross-checks of the `admin:` section that no single field can make: an address off
 * loopback needs an access token file, and the admin listener may not take a listener's
 * or the DNS server's address. They read the section field by field (common/parsed.ts)
 * and skip values the schema rejects.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { bindsClash } from '../common/address.js';
import { parseFields, type Obj, type PathIssue } from '../common/parsed.js';
import type { FileParts } from '../parts.js';
import { adminFields } from './schema.js';

/** Runs every check of the `admin` section and appends what it finds to `issues`. */
export function checkAdmin(admin: Obj, parts: FileParts, issues: PathIssue[]): void {
  const a = parseFields(adminFields, admin);
  const listen = a?.fields.listen;
  if (!a || listen === undefined) return;
  const written = String(admin.listen ?? '127.0.0.1:9090');
  if (!isLoopback(listen.host) && !a.given('token_file')) {
    issues.push({
      path: ['admin', 'listen'],
      message: `${written} is reachable from other machines, and the admin API changes server states: give \`token_file\` (a file with a secret token), or listen on loopback such as "127.0.0.1:9090"`,
    });
  }
  parts.listeners.forEach((l, k) => {
    const b = l?.fields.bind;
    if (!l || !b || l.fields.mode === 'udp' || !bindsClash(listen, b)) return;
    issues.push({ path: ['admin', 'listen'], message: `${written} is already used by listeners[${k}] (${String(l.raw.bind)}): give the admin listener another port` });
  });
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and `localhost`. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) {
    const h = host.toLowerCase();
    return h === '::1' || /^::ffff:127\./.test(h) || h === '0:0:0:0:0:0:0:1';
  }
  return false;
}
