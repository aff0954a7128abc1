/**
 * Fulcrum's HTTP/1.1 request head parser against llhttp, the parser behind Node's own
 * HTTP server (reached through `_http_common`'s HTTPParser, in its default strict mode).
 * What both accept must mean the same (method, target, version, every field name and
 * value); where one accepts and the other refuses, the case must be one of the
 * deliberate differences listed in DELIBERATE, or it is a finding.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { HttpParseError, parseRequestHead, type RequestHead } from '../../src/proxy/http/head.js';

const require = createRequire(import.meta.url);
interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | (Error & { code: string; reason: string });
  finish(): unknown;
  close(): void;
  [k: number]: unknown;
}
const { HTTPParser, methods } = require('_http_common') as {
  HTTPParser: (new () => LlhttpParser) & { REQUEST: number; kOnHeaders: number; kOnHeadersComplete: number };
  methods: string[];
};

type Ours = { ok: true; head: RequestHead } | { ok: false; status: number; reason: string };
type Theirs = { ok: true; method: string; url: string; minor: number; major: number; headers: string[] } | { ok: false; code: string };

function ours(raw: string): Ours {
  try {
    return { ok: true, head: parseRequestHead(raw, { urlBytes: 8192, headerCount: 100 }) };
  } catch (err) {
    if (err instanceof HttpParseError) return { ok: false, status: err.status, reason: err.reason };
    throw err;
  }
}

function theirs(raw: string): Theirs {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 0, 0);
  let got: Theirs | null = null;
  const headers: string[] = [];
  p[HTTPParser.kOnHeaders] = (h: string[]) => headers.push(...h);
  p[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, h: string[] | undefined, method: number, url: string | undefined) => {
    if (h !== undefined) headers.push(...h);
    got = { ok: true, method: methods[method]!, url: url ?? '', major, minor, headers };
  };
  const r = p.execute(Buffer.from(raw, 'latin1'));
  p.close();
  if (r instanceof Error) return { ok: false, code: r.code };
  return got ?? { ok: false, code: 'INCOMPLETE' };
}

/**
 * The deliberate differences: a name for why the two parsers disagree on `raw`, or null
 * when they should not. Each is a choice written down in docs/security.md.
 */
function deliberate(raw: string, a: Ours, b: Theirs): string | null {
  const line = raw.slice(0, raw.indexOf('\r\n') >>> 0);
  const method = line.split(' ')[0] ?? '';
  if (!a.ok && b.ok) {
    // Fulcrum refuses; llhttp accepts
    if (a.status === 505) return 'only HTTP/1.0 and HTTP/1.1 are spoken (505 for other versions)';
    if (a.status === 501) return 'CONNECT is not proxied (501)';
    if (a.status === 417) return 'Expect other than 100-continue (417)';
    if (/Host/.test(a.reason)) return 'Host is required in HTTP/1.1, once, and must be a valid authority (RFC 9112 section 3.2)';
    if (b.major === 0) return 'HTTP/0.9 simple requests (no version) are refused';
    if (/^\S+ {2,}|^\S+ \S+ {2,}/.test(line) && /request line|HTTP version/.test(a.reason)) return 'one space between the parts of the request line, as RFC 9112 section 3 writes it';
    if (/^(\r?\n|\r)/.test(raw) && /method|bare LF/.test(a.reason)) return 'a bare LF or CR before the request line is refused (only CRLF empty lines are skipped)';
    if (/transfer[- ]coding|transfer-encoding/i.test(a.reason)) return 'Transfer-Encoding: only ending in chunked, not in HTTP/1.0, not beside Content-Length';
    if (/Content-Length/i.test(a.reason) && /content-length/i.test(raw)) return 'Content-Length must be one decimal value (identical repeats allowed)';
    if (/bare LF|line ending/i.test(a.reason)) return 'a bare LF ends no line (RFC 9112 section 2.2 allows refusing it)';
    if (/obs-fold|folded/i.test(a.reason)) return 'obs-fold is refused (RFC 9112 section 5.2)';
    return null;
  }
  if (a.ok && !b.ok) {
    // llhttp refuses; Fulcrum accepts
    if ((b.code === 'HPE_INVALID_CONTENT_LENGTH' || b.code === 'HPE_UNEXPECTED_CONTENT_LENGTH') && oneLength(raw)) {
      return 'identical Content-Length values (in a list or repeated) are one length, and OWS around them is allowed (RFC 9110 sections 8.6 and 5.6.3)';
    }
    if (b.code === 'HPE_INVALID_TRANSFER_ENCODING' && /\ntransfer-encoding:([ \t]{2,}chunked[ \t]*|[ \t]*chunked[ \t]+)\r\n/i.test(raw)) {
      return 'OWS around a field value (RFC 9110 section 5.6.3); llhttp misreads "Transfer-Encoding:  chunked" or "chunked " in some heads';
    }
    if (method === 'PRI' && (b.code === 'HPE_INVALID_VERSION' || b.code === 'HPE_INVALID_CONSTANT')) return 'PRI is a method token like any other outside the HTTP/2 preface (llhttp keeps it for "PRI * HTTP/2.0")';
    if (b.code === 'HPE_INVALID_METHOD' && !methods.includes(method)) return 'any method token is relayed (llhttp knows a fixed list)';
    if (b.code === 'HPE_INVALID_URL' || b.code === 'HPE_INVALID_CONSTANT') return 'the request target is checked for its characters only; its form is the server\'s business';
    return null;
  }
  return null;
}

/** Every Content-Length field value of `raw`, split at commas, is the same decimal number (as HAProxy reads them: "2, 02" is 2). */
function oneLength(raw: string): boolean {
  const values = [...raw.matchAll(/\ncontent-length:([^\r\n]*)\r\n/gi)].flatMap((m) => m[1]!.split(',').map((v) => v.replace(/^[ \t]+|[ \t]+$/g, '')));
  return values.length > 0 && values.every((v) => /^\d+$/.test(v) && Number(v) === Number(values[0]));
}

/** Checks one head: both parsers agree, or the difference is deliberate. Throws on a finding. */
export function compareWithLlhttp(whole: string): void {
  // the head ends at the first empty line, as the proxy cuts it
  const end = whole.indexOf('\r\n\r\n');
  const raw = end < 0 ? whole : whole.slice(0, end + 4);
  const a = ours(raw);
  const b = theirs(raw);
  if (a.ok && b.ok) {
    const h = a.head;
    const mine = { method: h.method, url: h.target, version: `1.${h.minor}`, headers: h.names.flatMap((n, i) => [n.toLowerCase(), h.values[i]]) };
    const other = { method: b.method, url: b.url, version: `${b.major}.${b.minor}`, headers: b.headers.map((x, i) => (i % 2 === 0 ? x.toLowerCase() : x)) };
    if (JSON.stringify(mine) !== JSON.stringify(other)) throw new Error(`both accept ${JSON.stringify(raw)} with different meanings: ours ${JSON.stringify(mine)}, llhttp ${JSON.stringify(other)}`);
    return;
  }
  if (a.ok === b.ok) return; // both refuse
  if (deliberate(raw, a, b) === null) {
    throw new Error(`${a.ok ? 'ours accepts' : `ours refuses (${a.status} ${a.reason})`}, ${b.ok ? 'llhttp accepts' : `llhttp refuses (${b.code})`}: ${JSON.stringify(raw)}`);
  }
}

const tchar = fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split(''));
const token = fc.array(tchar, { minLength: 1, maxLength: 12 }).map((c) => c.join(''));
const pathChar = fc.constantFrom(...'abcxyz0123/-._~%!$&\'()*+,;=:@?'.split(''));
const fieldChar = fc.constantFrom(...'abc XYZ 0123,;=/"\t!~'.split(''), '\x80', '\xe9', '\xff');

/** Request heads, mostly well formed: the grammar's parts with a few odd choices among them. */
export function requestHead(): fc.Arbitrary<string> {
  const method = fc.oneof({ arbitrary: fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND'), weight: 6 }, { arbitrary: token, weight: 1 });
  const target = fc.oneof(
    { arbitrary: fc.array(pathChar, { maxLength: 20 }).map((c) => `/${c.join('')}`), weight: 6 },
    { arbitrary: fc.constantFrom('*', 'http://www.example.com/a', 'www.example.com:443', 'a/b'), weight: 1 },
  );
  const version = fc.oneof({ arbitrary: fc.constantFrom('HTTP/1.1', 'HTTP/1.0'), weight: 8 }, { arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.10'), weight: 1 });
  const name = fc.oneof({ arbitrary: fc.constantFrom('Accept', 'User-Agent', 'X-Trace', 'Cookie', 'Connection', 'Content-Length', 'Transfer-Encoding', 'Expect', 'Upgrade'), weight: 4 }, { arbitrary: token, weight: 1 });
  const value = fc.oneof(
    { arbitrary: fc.array(fieldChar, { maxLength: 16 }).map((c) => c.join('')), weight: 4 },
    { arbitrary: fc.constantFrom('0', '5', '5, 5', '5, 6', '-1', 'chunked', 'gzip, chunked', 'close', 'keep-alive', 'Upgrade', '100-continue', 'websocket'), weight: 3 },
  );
  const host = fc.oneof({ arbitrary: fc.constantFrom('www.example.com', 'a', '127.0.0.1:8080', '[::1]:80'), weight: 8 }, { arbitrary: fc.constantFrom('', 'a b', 'u@x', 'x/y'), weight: 1 });
  const field = fc.tuple(name, fc.constantFrom(':', ': ', ':  ', ':\t'), value).map(([n, sep, v]) => `${n}${sep}${v}\r\n`);
  return fc
    .record({
      method,
      target,
      version,
      host: fc.option(host, { freq: 8 }),
      fields: fc.array(field, { maxLength: 6 }),
    })
    .map((r) => `${r.method} ${r.target} ${r.version}\r\n${r.host === null ? '' : `Host: ${r.host}\r\n`}${r.fields.join('')}\r\n`);
}
