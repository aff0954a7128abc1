/**
 * Session tickets that renew on resumption, as HAProxy's and nginx's do.
 *
 * Node's own ticket handling (the `ticketKeys` option) accepts a ticket but never asks
 * OpenSSL to renew it. With TLS 1.3 a resumed connection then gets no new ticket, so a
 * client that keeps only its latest session falls back to a full handshake on every
 * other connection. Measured with wrk and `Connection: close`: half the handshakes
 * were full, against about none behind HAProxy. Browsers use each TLS 1.3 ticket once,
 * so they run out of tickets the same way.
 *
 * The fix uses the context's JavaScript ticket callback: `enableTicketKeyCallback` and
 * `onticketkeycallback`. It is the hook tls.Server's ticket-key API is built on, not a
 * documented API. OpenSSL calls it to seal a ticket and to open one. It uses the same
 * 48 bytes and the same algorithms as `ticketKeys` (HMAC-SHA256, AES-128-CBC), so tickets
 * from either kind of context open on the other. An opened ticket is answered with
 * "valid, renew it", and OpenSSL sends a fresh ticket with the resumed handshake.
 */
import { randomFillSync } from 'node:crypto';
import type tls from 'node:tls';

/** What the native context offers (Node's SecureContext binding). */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/** OpenSSL's ticket callback results. */
const REFUSE = 0;
const SEALED = 1;
const VALID_RENEW = 2;

/**
 * Makes `ctx` renew the tickets it accepts, with `keys` (48 bytes: name, HMAC key, AES
 * key, as for `ticketKeys`). Returns false, changing nothing, when this Node version lacks
 * the hook; the context then keeps Node's behaviour (resumption without renewal).
 */
export function renewTickets(ctx: tls.SecureContext, keys: Buffer): boolean {
  const native = (ctx as unknown as { context?: NativeContext }).context;
  if (native === undefined || typeof native.enableTicketKeyCallback !== 'function' || keys.length !== 48) return false;
  const name = Buffer.from(keys.subarray(0, 16));
  const hmac = Buffer.from(keys.subarray(16, 32));
  const aes = Buffer.from(keys.subarray(32, 48));
  // The answers to an opened ticket never change, so they are made once (Node only reads them).
  // Node reads the two keys whatever the result: without them a foreign ticket aborts the process.
  const renew = [VALID_RENEW, hmac, aes];
  const refuse = [REFUSE, hmac, aes];
  native.onticketkeycallback = (ticketName: Buffer, _iv: Buffer, encrypt: boolean): unknown[] => {
    if (encrypt) return [SEALED, hmac, aes, name, randomFillSync(Buffer.allocUnsafe(16))];
    return ticketName.equals(name) ? renew : refuse;
  };
  native.enableTicketKeyCallback();
  return true;
}
