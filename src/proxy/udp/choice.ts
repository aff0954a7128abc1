import type { Pool } from '../../backend/pool.js';
import type { Server } from '../../backend/server.js';
import type { PickContext } from '../../balance/balancer.js';
import { ALGORITHM_TRAITS, hashKey } from '../../balance/index.js';

/**
 * Errors that say nothing about the server (the balancer itself is short of file
 * descriptors, buffers or ports): they end a session but are not reported to passive
 * health.
 */
const LOCAL_ERRORS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'EPERM']);

/**
 * True when an upstream socket error counts against the server as a 'connect-error'
 * for passive health: ICMP port/host/network unreachable (ECONNREFUSED, EHOSTUNREACH,
 * ENETUNREACH), a failed name lookup, anything else that is not a local shortage.
 */
export function isServerFault(code: string | undefined): boolean {
  return code === undefined || !LOCAL_ERRORS.has(code);
}

/** The client's IP as hashing and logs want it: an IPv4-mapped IPv6 address ("::ffff:192.0.2.1") as plain IPv4. */
export function clientIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The session key of a client: "ADDRESS:PORT". Unambiguous for IPv6 too (a port has no
 * colon, so the last colon always splits). One string allocation per datagram.
 */
export function clientKey(address: string, port: number): string {
  return address + ':' + port;
}

/** The per-packet flow key of a (client, server) pair. */
export function flowKey(client: string, server: Server): string {
  return client + '/' + server.id;
}

/**
 * True while a session's server may keep the session: it is still in `pool.usable`
 * (not down, ejected, drained, or a backup after a primary came back). Checks the
 * usable set only when the pool's version moved since the last check, so a datagram of
 * a settled session costs one integer comparison.
 */
export function stillUsable(session: { server: Server | null; poolVersion: number }, pool: Pool): boolean {
  const server = session.server;
  if (server === null) return false;
  if (session.poolVersion === pool.version) return true;
  if (!pool.usable.includes(server)) return false;
  session.poolVersion = pool.version;
  return true;
}

/**
 * Picks servers of one pool for UDP clients. With `balance: maglev` the key is the
 * client's IP address (the only key a datagram has: a `hash` source other than `ip`
 * has nothing to read at layer 4, so it is hashed the same way), so every port of a
 * client reaches the same server; other algorithms get hash 0. Reuses one PickContext
 * and one avoid set: no allocation per pick.
 */
export class Chooser {
  private readonly ctx: PickContext = { avoid: null, hash: 0, sticky: null };
  private readonly avoidOne = new Set<Server>();
  private readonly hashing: boolean;

  constructor(readonly pool: Pool) {
    this.hashing = ALGORITHM_TRAITS[pool.config.balance].input === 'hash';
  }

  /**
   * A server for a datagram from `address`, avoiding `avoid` when another server can
   * take it (a server that just failed this client is still better than none: UDP
   * costs nothing to try). Undefined when no usable server has room. Synchronous.
   */
  pick(address: string, avoid: Server | null): Server | undefined {
    const ctx = this.ctx;
    ctx.hash = this.hashing ? hashKey(clientIp(address)) : 0;
    if (avoid !== null) {
      this.avoidOne.add(avoid);
      ctx.avoid = this.avoidOne;
      const s = this.pool.pick(ctx);
      ctx.avoid = null;
      this.avoidOne.clear();
      if (s !== undefined) return s;
    }
    return this.pool.pick(ctx);
  }
}
