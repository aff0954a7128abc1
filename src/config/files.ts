/**
 * The files a configuration names that must be usable before anything starts: route
 * `basic_auth` htpasswd files, listener TLS certificates and keys, `error_pages`,
 * pools' TLS CA bundles and client certificates, and the admin `token_file`. `fulcrum
 * check`, the start and every reload read them here (relative paths against the
 * configuration file's folder), with
 * the same code that loads them later, so a file the balancer would refuse at start is
 * refused with the line and key path that names it, and a reload keeps the old
 * configuration. Files watched and re-read while running (DNS steering files, GeoIP
 * databases) are not checked here.
 */
import { resolve } from 'node:path';
import { certificateProblem } from '../tls/certificate.js';
import { poolTlsProblem } from '../tls/upstream-tls.js';
import { readErrorPage } from '../proxy/exchange/error-pages.js';
import { tokenFileProblem } from '../admin/auth.js';
import { isObj, list, type PathIssue } from './common/parsed.js';
import { routesOf } from './listeners/checks.js';
import { htpasswdProblem } from './listeners/htpasswd.js';
import type { FileParts } from './parts.js';

/** A path as written in the file (a non-empty string), or null when it is not one (the schema reports that). */
function pathText(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v : null;
}

/** Checks every file the configuration names; appends what it finds to `issues`. */
export function checkFiles(parts: FileParts, baseDir: string, issues: PathIssue[]): void {
  checkListenerFiles(parts, baseDir, issues);
  checkPoolFiles(parts, baseDir, issues);
  const admin = parts.raw.admin;
  const token = isObj(admin) ? pathText(admin.token_file) : null;
  if (token !== null) {
    const problem = tokenFileProblem(resolve(baseDir, token));
    if (problem !== null) issues.push({ path: ['admin', 'token_file'], message: problem });
  }
}

function checkListenerFiles(parts: FileParts, baseDir: string, issues: PathIssue[]): void {
  parts.listeners.forEach((l, i) => {
    if (!l) return;
    routesOf(l).forEach((r, j) => {
      const file = r?.fields.basic_auth?.htpasswd;
      if (typeof file !== 'string') return;
      const problem = htpasswdProblem(file, baseDir);
      if (problem !== null) issues.push({ path: ['listeners', i, 'routes', j, 'basic_auth', 'htpasswd'], message: problem });
    });
    const tls = l.raw.tls;
    if (isObj(tls)) {
      list(tls.certificates).forEach((c, k) => {
        if (!isObj(c)) return;
        const cert = pathText(c.cert);
        const key = pathText(c.key);
        if (cert === null || key === null) return;
        const problem = certificateProblem(resolve(baseDir, cert), resolve(baseDir, key));
        if (problem !== null) issues.push({ path: ['listeners', i, 'tls', 'certificates', k, problem.file], message: problem.message });
      });
    }
    const pages = l.raw.error_pages;
    if (isObj(pages)) {
      for (const [status, path] of Object.entries(pages)) {
        const file = pathText(path);
        if (file === null) continue;
        const page = readErrorPage(resolve(baseDir, file));
        if (typeof page === 'string') issues.push({ path: ['listeners', i, 'error_pages', status], message: page });
      }
    }
  });
}

function checkPoolFiles(parts: FileParts, baseDir: string, issues: PathIssue[]): void {
  for (const [name, p] of parts.pools ?? []) {
    const tls = p?.raw.tls;
    if (!isObj(tls)) continue;
    const file = (k: string) => {
      const v = pathText(tls[k]);
      return v === null ? null : resolve(baseDir, v);
    };
    const cert = file('cert');
    const key = file('key');
    const problem = poolTlsProblem(name, { ca: file('ca'), cert, key, minVersion: tls.min_version === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2' });
    if (problem !== null) issues.push({ path: ['pools', name, 'tls', ...(problem.key === 'tls' ? [] : [problem.key])], message: problem.message });
  }
}
