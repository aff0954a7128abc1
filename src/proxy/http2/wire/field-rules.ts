/**
 * The rules RFC 9113 section 8.2 sets for each regular field of an HTTP/2 message, the
 * same for requests from clients (request-block.ts) and responses from servers
 * (h2-client.ts): lowercase names of token characters, no NUL, CR or LF in values, no
 * connection-specific fields; and one reading of content-length (section 8.1.1).
 */

/** tchar (RFC 9110 section 5.6.2) without upper-case letters: 1 where a field name may have the byte. */
const NAME_CHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;

/** Fields that exist only between two HTTP/1.1 hops; an HTTP/2 message carrying one is malformed (RFC 9113 section 8.2.2). */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Why a value may not be carried (NUL, CR or LF in it), or null. */
export function valueProblem(name: string, value: string): string | null {
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k);
    if (c === 0 || c === 10 || c === 13) return `field ${name} with NUL, CR or LF in its value`;
  }
  return null;
}

/** Why a regular field (not a pseudo-field) makes the message malformed, or null. */
export function fieldProblem(name: string, value: string): string | null {
  if (name.length === 0) return 'an empty field name';
  for (let k = 0; k < name.length; k++) {
    if (NAME_CHAR[name.charCodeAt(k)] !== 1) return `a field name with a character it may not have: ${JSON.stringify(name)}`;
  }
  const bad = valueProblem(name, value);
  if (bad !== null) return bad;
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
  return null;
}

/**
 * A content-length value after `known` (the one seen before, -1 for none): the length,
 * or why it is malformed (not digits, or another value than before).
 */
export function contentLengthOf(value: string, known: number): number | string {
  if (!/^[0-9]{1,15}$/.test(value)) return `a content-length of "${value}"`;
  const n = Number(value);
  if (known >= 0 && known !== n) return 'two different content-length values';
  return n;
}
