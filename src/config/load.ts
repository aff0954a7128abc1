/**
 * Loads a YAML configuration into a normalised Config, collecting every problem at once:
 * YAML syntax errors, schema errors (wrong types, unknown keys with suggestions, missing
 * keys, bad values) and cross-checks, each with the file, line and column to edit.
 */
import { dirname, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { isCollection, isMap, isScalar, LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml';
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from './listeners/defaults.js';
import { serverName } from './pools/defaults.js';
import { buildDns } from './dns/parse.js';
import { buildServices } from './services/parse.js';
import { buildListenerTls, buildPoolTls } from './tls/build.js';
import { filePath } from './common/paths.js';
import { formatPath, locate } from './locate.js';
import { configSchema, type ParsedConfig } from './schema.js';
import type { Config, ConfigIssue, PoolConfig } from './types.js';
import { crossCheck, type CheckOptions, type PathIssue } from './validate.js';
import { buildVrrp } from './vrrp/parse.js';
import { fromZodIssues } from './zod-issues.js';

export { formatIssue } from './format.js';

/** The result of loading: a Config exactly when `issues` is empty. */
export interface LoadResult {
  config?: Config;
  issues: ConfigIssue[];
}

/**
 * Parses and validates configuration text; `file` names it in issues and becomes
 * `config.source`. Returns a Config only when there is no issue at all (YAML warnings,
 * such as an unknown tag, count as issues). YAML syntax errors stop the check there (the
 * tree behind them is unreliable); otherwise schema errors and cross-checks are reported
 * together. Issues are sorted by position. Never throws on bad input.
 */
export function loadConfigText(text: string, file: string, opts: CheckOptions = {}): LoadResult {
  // A byte-order mark is not a column: editors do not count it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const at = (pos: readonly [number, number]): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(pos[0]);
    return { line, column: col };
  };
  const yamlIssues = [...doc.errors, ...doc.warnings].map((e) => ({ file, ...at(e.pos), path: '', message: yamlMessage(e) }));
  const shapeIssues = yamlShapeIssues(doc).map(({ offset, message }) => ({ file, ...at([offset, offset]), path: '', message }));
  if (doc.errors.length > 0 || shapeIssues.length > 0) return { issues: sortIssues([...yamlIssues, ...shapeIssues]) };
  if (doc.contents === null) {
    return { issues: [...yamlIssues, { file, line: 0, column: 0, path: '', message: 'the file holds no configuration: expected a mapping with `listeners` and `pools` (see examples/seed.yaml)' }] };
  }

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { issues: [...yamlIssues, { file, line: 0, column: 0, path: '', message: `cannot read the YAML: ${(e as Error).message}` }] };
  }
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  const pathIssues: PathIssue[] = parsed.success ? [] : fromZodIssues(configSchema, parsed.error.issues);
  pathIssues.push(...crossCheck(raw, opts));

  const issues = [
    ...yamlIssues,
    ...pathIssues.map((p) => ({ file, ...locate(doc, lineCounter, p.path, p.at), path: formatPath(p.path), message: p.message })),
  ];
  if (issues.length > 0 || !parsed.success) return { issues: sortIssues(issues) };
  return { config: toConfig(parsed.data, file, poolOrder(doc)), issues: [] };
}

/**
 * Reads and loads a configuration file (see loadConfigText). A file that cannot be read
 * yields a single issue at line 0.
 */
export async function loadConfigFile(path: string, opts: CheckOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { issues: [{ file: path, line: 0, column: 0, path: '', message: `cannot read the configuration file: ${readError(e)}` }] };
  }
  // files the configuration names are read relative to it
  return loadConfigText(text, path, { baseDir: dirname(resolve(path)), ...opts });
}

function readError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (e as Error).message;
}

/** yaml's own words, on one line, with fixes for the messages that speak to programmers. */
function yamlMessage(e: YAMLError): string {
  if (e.code === 'MULTIPLE_DOCS') return 'the file holds more than one YAML document: a configuration is a single document, so remove this `---` and what follows';
  return e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim();
}

/** Stable sort by position; exact duplicates (same place, same words) are dropped. */
function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((i) => {
      const key = `${i.line}:${i.column}:${i.path}:${i.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * YAML that parses but cannot become configuration data: an alias without an anchor
 * (yaml reports it only in toJS(), without a position) and a list or mapping used as a
 * key (which toJS() would stringify, with a process warning).
 */
function yamlShapeIssues(doc: Document.Parsed): Array<{ offset: number; message: string }> {
  const found: Array<{ offset: number; message: string }> = [];
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return;
      const name = alias.source;
      const hint = name.startsWith('.') ? `; to write a wildcard host, quote it: "*${name}"` : '';
      found.push({ offset: alias.range?.[0] ?? 0, message: `alias \`*${name}\` has no anchor \`&${name}\` before it${hint}` });
    },
    Pair(_, pair) {
      if (isCollection(pair.key)) {
        found.push({ offset: pair.key.range?.[0] ?? 0, message: 'a key must be a plain value such as `web`, not a list or a mapping' });
      }
    },
  });
  return found;
}

/** Pool names in the order the file lists them (a plain object would put "1" first). */
function poolOrder(doc: Document.Parsed): string[] {
  const root = doc.contents;
  if (!isMap(root)) return [];
  const pools = root.items.find((p) => isScalar(p.key) && p.key.value === 'pools')?.value;
  if (!isMap(pools)) return [];
  return pools.items.map((p) => String(isScalar(p.key) ? p.key.value : p.key));
}

function toConfig(parsed: ParsedConfig, source: string, order: string[]): Config {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...parsed.timeouts };
  const limits = { ...DEFAULT_LIMITS, ...parsed.limits };
  const names = [...new Set([...order.filter((n) => Object.hasOwn(parsed.pools, n)), ...Object.keys(parsed.pools)])];
  const pools = new Map<string, PoolConfig>();
  for (const name of names) {
    const p = parsed.pools[name]!;
    pools.set(name, {
      name,
      ...p,
      tls: buildPoolTls(p.tls, source),
      servers: p.servers.map((s, i) => ({ ...s, name: serverName(s.name, i) })),
    });
  }
  return {
    source,
    listeners: parsed.listeners.map(({ timeoutOverrides, limitOverrides, ...l }) => ({
      ...l,
      tls: buildListenerTls(l.tls, source),
      errorPages: Object.fromEntries(Object.entries(l.errorPages).map(([status, path]) => [status, filePath(path, source)])),
      routes: l.routes.map((r) => (r.basicAuth === null ? r : { ...r, basicAuth: { ...r.basicAuth, htpasswd: filePath(r.basicAuth.htpasswd, source) } })),
      timeouts: { ...timeouts, ...timeoutOverrides },
      limits: { ...limits, ...limitOverrides },
    })),
    pools,
    timeouts,
    limits,
    dns: parsed.dns ? buildDns(parsed.dns, source) : null,
    runtime: parsed.runtime,
    logging: parsed.logging,
    vrrp: parsed.vrrp ? buildVrrp(parsed.vrrp) : null,
    bgp: parsed.bgp ?? null,
    services: buildServices(parsed.services ?? [], new Map([...pools].map(([n, p]) => [n, p.servers.length]))),
    admin: parsed.admin ? { ...parsed.admin, tokenFile: parsed.admin.tokenFile === null ? null : filePath(parsed.admin.tokenFile, source) } : null,
  };
}
