/**
 * Cross-checks that no single field can make, each feature's in its own checks.ts
 * (pools/, listeners/, tls/, dns/, vrrp/, services/, admin/), plus the keys a file needs. They
 * read the file field by field as the schema parses it (common/parsed.ts), whatever the
 * schema thought of the rest, so that a file with a bad weight still hears about its
 * misspelt pool name in the same run. Values the schema rejects are skipped here rather
 * than reported twice.
 */
import { isObj, type Obj, type PathIssue } from './common/parsed.js';
import { checkAdmin } from './admin/checks.js';
import { checkDns } from './dns/checks.js';
import { checkFiles } from './files.js';
import { checkListeners } from './listeners/checks.js';
import { fileParts } from './parts.js';
import { checkPools } from './pools/checks.js';
import { checkServices } from './services/checks.js';
import { checkTls } from './tls/checks.js';
import { checkVrrp, type InterfaceSubnets } from './vrrp/checks.js';
import { checkBgp } from './bgp/checks.js';

export type { PathIssue };

/** What the checks may look at beyond the file. */
export interface CheckOptions {
  /**
   * This machine's interfaces, for checks that only make sense where the file runs (a
   * VRRP virtual address inside its interface's subnet); without it those are skipped.
   */
  interfaces?: InterfaceSubnets;
  /**
   * The configuration file's folder: files it names that must exist before anything
   * starts (htpasswd files, TLS certificates and keys, error pages, pools' CA bundles:
   * files.ts) are read from there and checked. Without it they are not.
   */
  baseDir?: string;
}

/**
 * Runs every cross-check on a configuration file's data (as YAML parsed it) and returns
 * the problems found, in document order within each check. Never throws.
 */
export function crossCheck(raw: unknown, opts: CheckOptions = {}): PathIssue[] {
  if (!isObj(raw)) return [];
  const issues: PathIssue[] = [];
  const parts = fileParts(raw);
  if (parts.pools) checkPools(parts.pools, issues);
  checkRequired(raw, issues);
  checkListeners(parts, issues);
  if (opts.baseDir !== undefined) checkFiles(parts, opts.baseDir, issues);
  if (isObj(raw.dns)) checkDns(raw.dns, parts, issues);
  if (isObj(raw.vrrp)) checkVrrp(raw.vrrp, parts, issues, opts.interfaces);
  if (isObj(raw.bgp)) checkBgp(raw.bgp, parts, issues);
  if (raw.services !== undefined) checkServices(raw.services, parts, issues);
  if (isObj(raw.admin)) checkAdmin(raw.admin, parts, issues);
  checkTls(parts, issues);
  return issues;
}

/**
 * A file needs `pools` and at least one listener, unless it has a `dns` section (a
 * DNS-only balancer) or a `vrrp` section (a virtual IP for another balancer). A value of
 * the wrong type is the schema's to report.
 */
function checkRequired(raw: Obj, issues: PathIssue[]): void {
  if (raw.dns !== undefined || raw.vrrp !== undefined) return;
  // A file with virtual services may leave out listeners (but needs the pools they use).
  if (raw.services !== undefined) {
    if (raw.pools === undefined) issues.push({ path: ['pools'], message: 'missing required key `pools` (the services name pools)' });
    return;
  }
  if (raw.listeners === undefined) {
    issues.push({ path: ['listeners'], message: 'missing required key `listeners` (a file without listeners needs a `dns` section)' });
  } else if (Array.isArray(raw.listeners) && raw.listeners.length === 0) {
    issues.push({ path: ['listeners'], message: 'at least one listener is needed, e.g. `- {name: www, bind: ":8080", routes: [{pool: web}]}` (or a `dns` section)' });
  }
  if (raw.pools === undefined) issues.push({ path: ['pools'], message: 'missing required key `pools`' });
}
