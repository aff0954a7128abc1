/**
 * Cross-checks of each pool that no single field can make: valid and distinct names,
 * keys that do not go with the pool's `balance`, servers `balance: first` cannot fill,
 * pools of backups only, queues that can never fill, and health-check timings. They read
 * the pool field by field (common/parsed.ts).
 */
import type { KeyPath } from '../locate.js';
import { nameProblem } from '../common/fields.js';
import { parseEach, parseFields, type Parsed, type PathIssue } from '../common/parsed.js';
import { formatDuration } from '../common/units.js';
import { serverName } from './defaults.js';
import { healthFields, serverFields, type poolFields } from './schema.js';

export type PoolPart = Parsed<typeof poolFields>;
type ServerPart = Parsed<typeof serverFields>;

/** The servers of a pool, parsed field by field (undefined where one is not a mapping). */
export function serversOf(pool: PoolPart): Array<ServerPart | undefined> {
  return parseEach(serverFields, pool.raw.servers);
}

/** The name a server goes by, or undefined when the schema rejects the one it gives. */
export function nameOf(s: ServerPart, index: number): string | undefined {
  return s.given('name') && s.fields.name === undefined ? undefined : serverName(s.fields.name, index);
}

/** Runs the checks of every pool and appends what they find to `issues`. */
export function checkPools(pools: ReadonlyMap<string, PoolPart | undefined>, issues: PathIssue[]): void {
  for (const [poolName, pool] of pools) {
    const problem = nameProblem(poolName);
    if (problem) issues.push({ path: ['pools', poolName], message: problem.replace('invalid name', 'invalid pool name'), at: 'key' });
    if (!pool) continue;
    checkServerNames(poolName, pool, issues);
    checkPoolKeys(poolName, pool, issues);
  }
}

function checkServerNames(poolName: string, pool: PoolPart, issues: PathIssue[]): void {
  const seen = new Map<string, { index: number; explicit: boolean }>();
  serversOf(pool).forEach((s, i) => {
    const name = s && nameOf(s, i);
    if (!s || name === undefined) return;
    const explicit = s.given('name');
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, { index: i, explicit });
      return;
    }
    const path: KeyPath = explicit ? ['pools', poolName, 'servers', i, 'name'] : ['pools', poolName, 'servers', i];
    const mine = explicit ? '' : ' (its default name)';
    const theirs = first.explicit ? '' : ' as its default name';
    issues.push({
      path,
      message: `duplicate server name \`${name}\`${mine} in pool \`${poolName}\`: servers[${first.index}] already uses it${theirs}; give each server a distinct \`name\``,
    });
  });
}

/** Does the server set a max_conn above 0? A value the schema rejects counts as set, so that only the schema reports it. */
function hasMaxConn(s: ServerPart): boolean {
  return (s.fields.max_conn ?? 1) > 0;
}

/** The checks of one pool's keys against each other: balance, servers, queue, health. */
function checkPoolKeys(poolName: string, pool: PoolPart, issues: PathIssue[]): void {
  const base: KeyPath = ['pools', poolName];
  const { balance, queue } = pool.fields;
  if (balance !== undefined) {
    const uses = `this pool uses ${balance}${pool.given('balance') ? '' : ' (the default)'}`;
    if (pool.given('hash') && balance !== 'maglev') {
      issues.push({ path: [...base, 'hash'], at: 'key', message: `hash is used only by balance: maglev, and ${uses}: remove \`hash\` or set \`balance: maglev\`` });
    }
    if (pool.given('sticky') && balance !== 'sticky') {
      issues.push({ path: [...base, 'sticky'], at: 'key', message: `sticky is used only by balance: sticky, and ${uses}: remove \`sticky\` or set \`balance: sticky\`` });
    }
  }

  const all = serversOf(pool);
  const servers = all.flatMap((s, i) => (s ? [{ s, i }] : []));
  if (balance === 'first') checkFirstMaxConn(base, servers, issues);

  if (servers.length > 0 && servers.length === all.length && servers.every(({ s }) => s.fields.backup === true)) {
    const which = servers.length === 1 ? `the only server of pool \`${poolName}\` is a backup` : `every server of pool \`${poolName}\` is a backup`;
    issues.push({
      path: [...base, 'servers'],
      message: `${which}, and backups take requests only while no primary server is usable, so none ever would: make at least one server a primary (leave out \`backup\` or set \`backup: false\`)`,
    });
  }

  if (queue !== undefined && queue.size > 0 && servers.length > 0 && !servers.some(({ s }) => hasMaxConn(s))) {
    issues.push({
      path: [...base, 'queue', 'size'],
      message: `no server of pool \`${poolName}\` sets max_conn, so this queue can never fill: requests wait in it only while every usable server is at its max_conn; set max_conn on the servers, or leave out the queue`,
    });
  }

  for (const { s, i } of servers) {
    if (s.given('check_address') && s.given('check_port')) {
      issues.push({
        path: [...base, 'servers', i, 'check_port'],
        at: 'key',
        message: 'give check_address or check_port, not both: check_port sends the health checks to another port of the server\'s own host, check_address to another host and port',
      });
    }
  }

  checkProtocol(base, pool, issues);
  const health = parseFields(healthFields, pool.raw.health);
  if (health) checkHealth([...base, 'health'], health, issues);
  if (health?.fields.tls === true && !(pool.given('tls') && pool.raw.tls !== false)) {
    issues.push({ path: [...base, 'health', 'tls'], message: 'health.tls sends the checks with the pool\'s `tls` settings, and this pool has no `tls`: add `tls` to the pool, or remove `health.tls`' });
  }
  if (health?.given('tls') && (health.fields.type === 'tcp' || pool.fields.protocol !== 'http1')) {
    const why = health.fields.type === 'tcp' ? 'type tcp checks only connect' : 'checks of an HTTP/2 pool follow its `protocol` (h2 is over TLS, h2c is not)';
    issues.push({ path: [...base, 'health', 'tls'], at: 'key', message: `health.tls is for type http checks of HTTP/1.1 pools, and ${why}: remove \`tls\`` });
  }
  if (health?.fields.type === 'grpc' && pool.fields.protocol === 'http1') {
    issues.push({ path: [...base, 'health', 'type'], message: `gRPC health checks go over HTTP/2, and this pool speaks HTTP/1.1${pool.given('protocol') ? '' : ' (the default protocol)'}: set \`protocol: h2c\` or \`h2\` on the pool, or check with type http or tcp` });
  }
}

/** HTTP/2 to the servers: h2 needs `tls`, h2c refuses it; no PROXY header on shared connections; `http2` only with HTTP/2. */
function checkProtocol(base: KeyPath, pool: PoolPart, issues: PathIssue[]): void {
  const protocol = pool.fields.protocol;
  if (protocol === undefined) return;
  const tls = pool.given('tls') && pool.raw.tls !== false;
  if (protocol === 'h2' && !tls) {
    issues.push({ path: [...base, 'protocol'], message: 'protocol h2 is HTTP/2 over TLS, chosen by ALPN, and this pool has no `tls`: add `tls` (e.g. `tls: {verify: false}` for self-signed servers), or use `protocol: h2c` for HTTP/2 over plain TCP' });
  }
  if (protocol === 'h2c' && tls) {
    issues.push({ path: [...base, 'protocol'], message: 'protocol h2c is HTTP/2 over plain TCP, and this pool has `tls`: use `protocol: h2` for HTTP/2 over TLS, or remove `tls`' });
  }
  if (protocol !== 'http1' && pool.given('send_proxy')) {
    issues.push({ path: [...base, 'send_proxy'], at: 'key', message: `a PROXY header names one client per connection, and protocol ${protocol} carries many clients' requests on each connection: remove \`send_proxy\`, or use \`protocol: http1\`` });
  }
  if (protocol === 'http1' && pool.given('http2')) {
    issues.push({ path: [...base, 'http2'], at: 'key', message: `\`http2\` sets up HTTP/2 connections to the servers, and this pool speaks HTTP/1.1${pool.given('protocol') ? '' : ' (the default protocol)'}: set \`protocol: h2c\` or \`h2\`, or remove \`http2\`` });
  }
}

/**
 * balance: first sends each request to the first server (in file order) below its
 * max_conn, so every server but the last needs one, or the servers after it never get a
 * request. Primaries and backups are separate sets (backups are used only while no
 * primary is), and a drained server (weight 0) is never picked, so neither counts.
 */
function checkFirstMaxConn(base: KeyPath, servers: Array<{ s: ServerPart; i: number }>, issues: PathIssue[]): void {
  for (const backup of [false, true]) {
    const group = servers.filter(({ s }) => (s.fields.backup === true) === backup && s.fields.weight !== 0);
    for (const { s, i } of group.slice(0, -1)) {
      if (hasMaxConn(s)) continue;
      const path: KeyPath = s.given('max_conn') ? [...base, 'servers', i, 'max_conn'] : [...base, 'servers', i];
      const last = backup ? 'the last backup server' : 'the last server';
      issues.push({
        path,
        message: `balance: first fills each server up to its max_conn before using the next, so server \`${nameOf(s, i) ?? String(s.raw.name)}\` needs a max_conn above 0: without one it takes every request and the servers after it are never used (only ${last} may go without)`,
      });
    }
  }
}

function checkHealth(base: KeyPath, health: Parsed<typeof healthFields>, issues: PathIssue[]): void {
  const { interval, timeout, fast_interval: fast, type } = health.fields;
  if (interval !== undefined) {
    const shown = `${formatDuration(interval)}${health.given('interval') ? '' : ', the default'}`;
    if (timeout !== undefined && timeout > interval) {
      issues.push({
        path: [...base, 'timeout'],
        message: `timeout (${formatDuration(timeout)}) must not be longer than interval (${shown}): each check must end, or time out, before the next one is due`,
      });
    }
    if (fast !== undefined && fast > interval) {
      issues.push({
        path: [...base, 'fast_interval'],
        message: `fast_interval (${formatDuration(fast)}) must not be longer than interval (${shown}): it is the quicker pace used while a server's state is changing`,
      });
    }
  }
  if (type !== 'grpc' && health.given('grpc')) {
    issues.push({ path: [...base, 'grpc'], at: 'key', message: `\`grpc\` settings apply only to type: grpc checks, and this check is type: ${type}: remove \`grpc\` or set \`type: grpc\`` });
  }
  if (type !== 'http' && health.given('http')) {
    issues.push({ path: [...base, 'http'], at: 'key', message: `\`http\` settings apply only to type: http checks, and this check is type: ${type}: remove \`http\` or set \`type: http\`` });
  }
}
