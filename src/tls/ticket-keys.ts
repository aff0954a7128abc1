/** TLS session-ticket keys (48 bytes: name, AES and HMAC keys, as Node's ticketKeys option wants). */
import { randomBytes } from 'node:crypto';

export function newTicketKeys(): Buffer {
  return randomBytes(48);
}

/**
 * The session-ticket keys of this process: the primary makes one set and hands it to
 * every worker (setProcessTicketKeys), so a ticket issued by one worker resumes on
 * another, and across reloads. Random per process until set.
 */
let processKeys: Buffer | null = null;

export function setProcessTicketKeys(keys: Buffer): void {
  processKeys = keys;
}

export function processTicketKeys(): Buffer {
  return (processKeys ??= newTicketKeys());
}
