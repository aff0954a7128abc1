/**
 * Shared helpers for the malformed-input corpus (test/integration/corpus-*.test.ts): its
 * configuration (short timeouts, small limits), small response parsers, the check of an
 * error reply, and a watch on uncaught exceptions. Its backend is scriptedBackend
 * (backends.ts), its client rawReply (http-client.ts).
 */
import assert from 'node:assert/strict';
import type { RawReply } from './http-client.js';

// ---- configuration ---------------------------------------------------------------

/** The corpus configuration: short timeouts and small limits, one listener on 127.0.0.1:0. */
export function corpusYaml(opts: { mainPort: number; refusedPort?: number }): string {
  const refused =
    opts.refusedPort === undefined
      ? ''
      : `  refused:
    servers:
      - address: 127.0.0.1:${opts.refusedPort}
`;
  const refusedRoute = opts.refusedPort === undefined ? '' : '      - host: refused.test\n        pool: refused\n';
  return `listeners:
  - name: corpus
    bind: 127.0.0.1:0
    routes:
${refusedRoute}      - pool: main
pools:
  main:
    servers:
      - address: 127.0.0.1:${opts.mainPort}
${refused}timeouts: {header: 300ms, keepalive: 500ms, connect: 300ms, server: 500ms, client: 500ms}
limits: {header_size: 4KiB, url_size: 1KiB, header_count: 50}
`;
}

// ---- parsing ---------------------------------------------------------------------

/** Status line parts, or undefined when `text` does not start with one. */
export function parseStatusLine(text: string): { version: string; status: number; reason: string } | undefined {
  const m = /^(HTTP\/\d\.\d) (\d{3})(?: ([^\r\n]*))?\r\n/.exec(text);
  if (m === null) return undefined;
  return { version: m[1]!, status: Number(m[2]), reason: m[3] ?? '' };
}

export interface ParsedResponse {
  status: number;
  reason: string;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  /** Body as far as Content-Length says (or everything after the head without one). */
  body: string;
  /** The body was complete according to Content-Length. */
  complete: boolean;
  /** Bytes after this response (a second response, or garbage). */
  rest: string;
}

/** Parses the first response in `text` (latin1), or undefined when its head is incomplete/invalid. */
export function parseResponse(text: string): ParsedResponse | undefined {
  const sl = parseStatusLine(text);
  if (sl === undefined) return undefined;
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const headers = new Map<string, string>();
  for (const line of text.slice(text.indexOf('\r\n') + 2, end).split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  const after = text.slice(end + 4);
  const cl = headers.get('content-length');
  if (cl === undefined) return { status: sl.status, reason: sl.reason, headers, body: after, complete: false, rest: '' };
  const n = Number(cl);
  return {
    status: sl.status,
    reason: sl.reason,
    headers,
    body: after.slice(0, n),
    complete: after.length >= n,
    rest: after.slice(n),
  };
}

/**
 * Asserts that `reply` is exactly one error response of the proxy with `status`, a
 * non-empty text body that names the status (and matches `mention` if given), and that
 * the proxy closed the connection with a FIN afterwards.
 */
export function assertErrorReply(reply: RawReply, status: number, mention?: RegExp): ParsedResponse {
  const res = parseResponse(reply.text);
  assert.ok(res, `expected an HTTP response, got ${JSON.stringify(reply.text.slice(0, 200))} (ended=${reply.ended}, error=${reply.error}, timedOut=${reply.timedOut})`);
  assert.equal(res.status, status, `status; reply was ${JSON.stringify(reply.text.slice(0, 300))}`);
  assert.ok(res.complete, 'error body complete per Content-Length');
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/, 'error body is text');
  assert.ok(res.body.trim().length > 0, 'error body is not empty');
  assert.match(res.body, new RegExp(`\\b${status}\\b`), 'error body names the status');
  if (mention !== undefined) assert.match(res.body, mention, 'error body says what happened');
  assert.equal(res.rest, '', 'nothing after the error response');
  assert.match(res.headers.get('connection') ?? '', /close/i, 'Connection: close announced');
  assert.equal(reply.timedOut, false, 'the proxy closed the connection before the deadline');
  assert.equal(reply.ended, true, `the proxy closed with FIN (error=${reply.error})`);
  return res;
}

/**
 * Records uncaught exceptions (the proxy runs in the test process, so a throw inside one
 * of its socket handlers lands here; in production it would kill the balancer).
 */
export function watchUncaught(): { take(): string[]; stop(): void } {
  let seen: string[] = [];
  const onError = (err: unknown) => {
    seen.push(err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err));
  };
  process.on('uncaughtException', onError);
  return {
    take() {
      const out = seen;
      seen = [];
      return out;
    },
    stop() {
      process.off('uncaughtException', onError);
    },
  };
}
