/**
 * Who may change state through the admin listener: the access token (read from
 * `admin.token_file`, compared in constant time) and the browser checks that keep another
 * site from driving the API through an operator's browser (a JSON content type, which a
 * cross-site form cannot send, and an Origin that is the admin listener's own).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';

/** The token in `path`, white space around it removed. Throws an Error that says what is wrong with the file. */
export async function readToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(unreadable(path, e));
  }
  const token = tokenOf(path, text);
  if (token.problem !== null) throw new Error(token.problem);
  return token.token;
}

/** What is wrong with the token file at `path`, or null (`fulcrum check`, start and reload: config/files.ts). */
export function tokenFileProblem(path: string): string | null {
  try {
    return tokenOf(path, readFileSync(path, 'utf8')).problem;
  } catch (e) {
    return unreadable(path, e);
  }
}

function unreadable(path: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
  return `admin: cannot read the token file ${path}: ${why}`;
}

function tokenOf(path: string, text: string): { token: string; problem: string | null } {
  const token = text.trim();
  if (token === '') return { token, problem: `admin: the token file ${path} is empty: write a secret token in it (e.g. \`openssl rand -hex 32 > ${path}\`)` };
  if (/[\s]/.test(token)) return { token, problem: `admin: the token file ${path} holds white space inside the token: write the token alone, on one line` };
  return { token, problem: null };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Does the `Authorization` header carry `Bearer TOKEN`? The comparison takes the same time
 * whatever the header holds (both sides are hashed first, so their lengths say nothing).
 */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  const given = m === null ? '' : m[1]!;
  // Always compare, so a missing header costs what a wrong one does.
  const same = timingSafeEqual(digest(given), digest(token));
  return m !== null && same;
}

/** Is the request's body declared as JSON (`application/json`, any parameters)? */
export function isJson(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return type !== undefined && type.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

/**
 * The origins a browser may call the API from: the admin listener's own address, and
 * for loopback also the other names of loopback. With a token, the page's own origin as
 * the browser named it (the Host header) is accepted too: the token, which only the
 * dashboard holds, is then what keeps other sites out.
 */
export function originAllowed(origin: string | undefined, own: { host: string; port: number }, host: string | undefined, tokenRequired: boolean): boolean {
  if (origin === undefined) return true;
  const hostPart = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const allowed = new Set([`http://${hostPart(own.host)}:${own.port}`]);
  if (own.host.startsWith('127.') || own.host === '::1' || own.host === 'localhost') {
    for (const h of ['127.0.0.1', '[::1]', 'localhost']) allowed.add(`http://${h}:${own.port}`);
  }
  if (tokenRequired && host !== undefined) allowed.add(`http://${host.toLowerCase()}`);
  return allowed.has(origin.toLowerCase());
}
