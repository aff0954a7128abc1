/**
 * Reads just enough of an HTTP/1.x response to judge a health check: the status line
 * (strictly), and when a body match is asked for, the head's framing headers and the
 * body, decoded from Content-Length, chunked or close-delimited framing, searched as it
 * arrives. Pure and incremental (bytes in, verdict out), so it is tested without sockets.
 */
import type { ProbeResult } from '../probe.js';

/** Most head bytes (status line and header lines, interim responses included) read. */
export const MAX_HEAD_BYTES = 32 * 1024;
/** Most body bytes searched for the match; a match further in fails the check. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Longest chunk-size line (with extensions) accepted. */
const MAX_CHUNK_LINE = 4 * 1024;

/** What passes: read once from the HTTP check configuration. */
export interface HttpExpectation {
  /** Inclusive status ranges that pass. */
  expectStatus: ReadonlyArray<readonly [number, number]>;
  /** Substring the body must contain; null: the status decides alone. */
  bodyMatch: string | null;
  /** The request was HEAD: the response has no body whatever its headers say. */
  headRequest: boolean;
}

type Phase = 'status' | 'headers' | 'length' | 'close' | 'chunk-size' | 'chunk-data' | 'chunk-crlf';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// HTTP-version SP 3DIGIT [SP reason-phrase]; the reason may be empty or (leniently) absent
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;
const VERSION_PREFIX = Buffer.from('HTTP/1.', 'latin1');

/**
 * One response being read. Feed it the bytes as they arrive; the first non-null
 * verdict is final (feed nothing after it). Allocates the body window (at most
 * MAX_BODY_BYTES) only when a body match is configured and a body arrives.
 */
export class HttpResponseReader {
  private readonly match: Buffer | null;
  private pending: Buffer = Buffer.alloc(0);
  private phase: Phase = 'status';
  /** Nothing received yet. */
  private empty = true;
  private headBytes = 0;
  private status = 0;
  private interim = false;
  private contentLength = -1;
  private transferEncoding = false;
  private chunked = false;
  /** Bytes left in the Content-Length body or in the current chunk. */
  private remaining = 0;
  private body: Buffer | null = null;
  private bodyLength = 0;

  constructor(private readonly expect: HttpExpectation) {
    this.match = expect.bodyMatch === null ? null : Buffer.from(expect.bodyMatch, 'utf8');
  }

  /** Bytes from the server; returns the verdict once there is one, else null. */
  feed(chunk: Buffer): ProbeResult | null {
    if (chunk.length === 0) return null;
    this.empty = false;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const before = this.pending.length;
      const phase = this.phase;
      const verdict = this.step();
      if (verdict !== null) return verdict;
      // no progress: wait for more bytes
      if (this.pending.length === before && this.phase === phase) return null;
    }
  }

  /** The server closed the connection: the verdict on what arrived. */
  end(): ProbeResult {
    switch (this.phase) {
      case 'status':
        return fail(this.empty && this.headBytes === 0 ? 'connection closed without a response' : 'connection closed in the status line');
      case 'headers':
        return fail('connection closed in the response head');
      case 'close':
        return this.noMatch('');
      case 'length':
        return this.noMatch(` (connection closed after ${this.bodyLength} of ${this.contentLength} bytes)`);
      default:
        return this.noMatch(' (connection closed inside the chunked body)');
    }
  }

  /** What the reader waits for, for a timeout detail: "status line", "body (12 bytes read)". */
  waitingFor(): string {
    if (this.phase === 'status') return 'status line';
    if (this.phase === 'headers') return 'response head';
    return `body (${this.bodyLength} bytes read)`;
  }

  /** One parsing step over `pending`; returns a verdict, or null (progress or need more). */
  private step(): ProbeResult | null {
    switch (this.phase) {
      case 'status':
        return this.statusLine();
      case 'headers':
        return this.headerLine();
      case 'length': {
        const n = Math.min(this.remaining, this.pending.length);
        if (n === 0) return null;
        this.remaining -= n;
        const verdict = this.addBody(this.take(n));
        if (verdict !== null) return verdict;
        return this.remaining === 0 ? this.noMatch('') : null;
      }
      case 'close':
        if (this.pending.length === 0) return null;
        return this.addBody(this.take(this.pending.length));
      case 'chunk-size': {
        const line = this.line(MAX_CHUNK_LINE, 'chunk size line');
        if (line === null || typeof line !== 'string') return line;
        const m = CHUNK_SIZE.exec(line);
        if (m === null) return fail(`bad chunk size line: ${excerpt(line)}`);
        const size = parseInt(m[1]!, 16);
        if (size === 0) return this.noMatch(''); // last chunk: trailers do not matter
        this.remaining = size;
        this.phase = 'chunk-data';
        return null;
      }
      case 'chunk-data': {
        const n = Math.min(this.remaining, this.pending.length);
        if (n === 0) return null;
        this.remaining -= n;
        if (this.remaining === 0) this.phase = 'chunk-crlf';
        return this.addBody(this.take(n));
      }
      case 'chunk-crlf':
        if (this.pending.length < 2) return null;
        if (this.pending[0] !== 0x0d || this.pending[1] !== 0x0a) return fail('chunk data not followed by CRLF');
        this.take(2);
        this.phase = 'chunk-size';
        return null;
    }
  }

  private statusLine(): ProbeResult | null {
    // reject garbage as soon as the first bytes cannot start "HTTP/1."
    const n = Math.min(this.pending.length, VERSION_PREFIX.length);
    if (this.pending.compare(VERSION_PREFIX, 0, n, 0, n) !== 0) {
      return fail(`not an HTTP/1.x response: ${excerpt(this.pending.toString('latin1'))}`);
    }
    const line = this.line(MAX_HEAD_BYTES, 'status line');
    if (line === null || typeof line !== 'string') return line;
    const m = STATUS_LINE.exec(line);
    if (m === null) return fail(`malformed status line: ${excerpt(line)}`);
    const status = Number(m[1]);
    this.status = status;
    this.phase = 'headers';
    if (status >= 100 && status < 200 && status !== 101) {
      // interim response (100 Continue, 103 Early Hints): skip its head, read the next
      this.interim = true;
      return null;
    }
    this.interim = false;
    if (!statusPasses(status, this.expect.expectStatus)) {
      return fail(`status ${status} not in ${formatRanges(this.expect.expectStatus)}`);
    }
    // the status alone decides: no need to read the head
    if (this.match === null) return pass(`status ${status}`);
    return null;
  }

  private headerLine(): ProbeResult | null {
    const line = this.line(MAX_HEAD_BYTES, 'response head');
    if (line === null || typeof line !== 'string') return line;
    if (line === '') return this.endOfHead();
    if (line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) return fail('obsolete line folding in the response head');
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return fail(`malformed header line: ${excerpt(line)}`);
    if (this.interim) return null;
    const name = line.slice(0, colon).toLowerCase();
    if (name === 'content-length') {
      const value = trimOws(line.slice(colon + 1));
      if (!/^[0-9]{1,15}$/.test(value)) return fail(`invalid Content-Length: ${excerpt(value)}`);
      const length = Number(value);
      if (this.contentLength !== -1 && this.contentLength !== length) return fail('conflicting Content-Length headers');
      this.contentLength = length;
    } else if (name === 'transfer-encoding') {
      const codings = line.slice(colon + 1).split(',');
      const last = trimOws(codings[codings.length - 1]!).toLowerCase();
      this.transferEncoding = true;
      if (last !== '') this.chunked = last === 'chunked';
    }
    return null;
  }

  private endOfHead(): ProbeResult | null {
    if (this.interim) {
      this.phase = 'status';
      return null;
    }
    const s = this.status;
    if (this.expect.headRequest || s === 204 || s === 304) return this.noMatch(' (the response has no body)');
    if (this.transferEncoding) {
      // a Transfer-Encoding overrides Content-Length; one not ending in chunked runs to close
      this.phase = this.chunked ? 'chunk-size' : 'close';
    } else if (this.contentLength >= 0) {
      if (this.contentLength === 0) return this.noMatch(' (empty body)');
      this.remaining = this.contentLength;
      this.phase = 'length';
    } else {
      this.phase = 'close';
    }
    return null;
  }

  /**
   * The next CRLF-terminated line (without CRLF, latin1), null when it has not fully
   * arrived, or a failure (bare LF, or longer than `max` / the head budget).
   */
  private line(max: number, what: string): string | ProbeResult | null {
    const lf = this.pending.indexOf(0x0a);
    const counted = this.phase === 'status' || this.phase === 'headers';
    if (lf === -1) {
      if (this.pending.length > max || (counted && this.headBytes + this.pending.length > MAX_HEAD_BYTES)) {
        return fail(counted ? `response head longer than ${MAX_HEAD_BYTES} bytes` : `${what} longer than ${max} bytes`);
      }
      return null;
    }
    if (lf === 0 || this.pending[lf - 1] !== 0x0d) return fail(`${what} not terminated by CRLF`);
    if (counted) {
      this.headBytes += lf + 1;
      if (this.headBytes > MAX_HEAD_BYTES) return fail(`response head longer than ${MAX_HEAD_BYTES} bytes`);
    }
    const line = this.pending.toString('latin1', 0, lf - 1);
    this.take(lf + 1);
    return line;
  }

  /** Removes and returns the first `n` pending bytes. */
  private take(n: number): Buffer {
    const head = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return head;
  }

  /** Appends decoded body bytes to the window and searches the new part. */
  private addBody(bytes: Buffer): ProbeResult | null {
    const match = this.match!;
    if (this.body === null) this.body = Buffer.allocUnsafe(MAX_BODY_BYTES);
    const copied = bytes.copy(this.body, this.bodyLength, 0, Math.min(bytes.length, MAX_BODY_BYTES - this.bodyLength));
    const from = Math.max(0, this.bodyLength - match.length + 1);
    this.bodyLength += copied;
    if (this.body.subarray(0, this.bodyLength).indexOf(match, from) !== -1) {
      return pass(`status ${this.status}, body contains ${excerpt(this.expect.bodyMatch!)}`);
    }
    if (this.bodyLength === MAX_BODY_BYTES && (copied < bytes.length || this.phase !== 'length' || this.remaining > 0)) {
      return this.noMatch(` in its first ${MAX_BODY_BYTES} bytes`);
    }
    return null;
  }

  private noMatch(why: string): ProbeResult {
    return fail(`body does not contain ${excerpt(this.expect.bodyMatch ?? '')}${why}`);
  }
}

/** True when `status` falls in one of the inclusive ranges. */
export function statusPasses(status: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [lo, hi] of ranges) if (status >= lo && status <= hi) return true;
  return false;
}

/** "200-399", "200-299,404": the ranges as a detail shows them. */
export function formatRanges(ranges: ReadonlyArray<readonly [number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
}

function pass(detail: string): ProbeResult {
  return { ok: true, detail };
}

function fail(detail: string): ProbeResult {
  return { ok: false, detail };
}

function trimOws(s: string): string {
  return s.replace(/^[\t ]+|[\t ]+$/g, '');
}

/** A quoted, escaped, bounded rendering of untrusted text for a detail. */
function excerpt(s: string, max = 60): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}
