/**
 * Request IDs (listener `request_id`): each request gets one, kept from a trusted client
 * that sent a well-formed one, else made here; rewriteRequestHead sends it to the server
 * (replacing the client's own), added-fields.ts returns it on the response, and the
 * access log records it.
 *
 * A made ID is 24 hex digits: 14 random ones drawn once per process, then a counter
 * that starts at 16^9, so it always has 10 digits (for the next 10^12 requests). No
 * crypto call and one string per request; two processes collide only if their random
 * prefixes do (1 in 2^56).
 */
import { randomBytes } from 'node:crypto';
import type { RequestIdConfig } from '../../config/types.js';
import { eqLower } from './chars.js';
import type { RequestHead } from './head.js';

const PREFIX = randomBytes(7).toString('hex');
let counter = 0x1000000000;

/** A new request ID, unique to this process and very likely to every other. */
export function newRequestId(): string {
  return PREFIX + (counter++).toString(16);
}

/** The longest client ID kept (a UUID is 36, a W3C trace id 32). */
export const MAX_REQUEST_ID = 128;

/** A client's ID is kept only when it is 1 to MAX_REQUEST_ID visible ASCII characters. */
export function wellFormedId(v: string): boolean {
  const n = v.length;
  if (n === 0 || n > MAX_REQUEST_ID) return false;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** One listener's request IDs. */
export class RequestIds {
  /** The field name as configured ("X-Request-ID"), for the request and response heads. */
  readonly name: string;
  /** The same, lower-case: for matching and HTTP/2. */
  readonly lower: string;
  /** The header line's start, "X-Request-ID: ". */
  readonly linePrefix: string;
  readonly generate: boolean;
  /** Return the ID on the response. */
  readonly response: boolean;

  constructor(cfg: RequestIdConfig) {
    this.name = cfg.header;
    this.lower = cfg.header.toLowerCase();
    this.linePrefix = `${cfg.header}: `;
    this.generate = cfg.generate;
    this.response = cfg.response;
  }

  /** Whether header field name `name` is the request ID's. */
  isField(name: string): boolean {
    return name.length === this.lower.length && eqLower(name, this.lower);
  }

  /**
   * The ID of a request: the client's own when it is trusted and sent exactly one
   * well-formed value, else a new one (or null when `generate` is off).
   */
  idFor(req: RequestHead, trusted: boolean): string | null {
    if (trusted) {
      let found: string | undefined;
      let n = 0;
      const names = req.names;
      for (let k = 0; k < names.length; k++) {
        if (this.isField(names[k]!)) {
          found = req.values[k];
          n++;
        }
      }
      if (n === 1 && wellFormedId(found!)) return found!;
    }
    return this.generate ? newRequestId() : null;
  }
}
