import type { PoolConfig } from '../../config/types.js';
import { ALGORITHM_TRAITS, hashKey, type PickContext } from '../../balance/index.js';
import type { RequestHead } from '../http/head.js';
import { cookieValue, requestKey } from '../http/request-keys.js';

/** Hash of a request key; requests without the key spread at random. */
export function keyHash(key: string | null): number {
  return key === null ? (Math.random() * 0x100000000) >>> 0 : hashKey(key);
}

/**
 * Fills `ctx` for the first pick of a request: what the pool's algorithm reads besides
 * `avoid`, as its traits declare (a hash of the request key, or the sticky cookie).
 */
export function fillPickContext(ctx: PickContext, cfg: PoolConfig, req: RequestHead, clientIp: string): void {
  const input = ALGORITHM_TRAITS[cfg.balance].input;
  ctx.avoid = null;
  ctx.hash = input === 'hash' ? keyHash(requestKey(cfg.hash, req, clientIp)) : 0;
  ctx.sticky = input === 'sticky' ? cookieValue(req, cfg.sticky.cookie) : null;
}

/** The Set-Cookie value that pins a client to `server`, when the pool is sticky and the client is not pinned there yet; else null. */
export function stickyCookie(cfg: PoolConfig, ctx: PickContext, serverName: string): string | null {
  if (ALGORITHM_TRAITS[cfg.balance].input !== 'sticky' || ctx.sticky === serverName) return null;
  return `${cfg.sticky.cookie}=${serverName}; Path=/; HttpOnly`;
}
