/**
 * The admin listener's HTTP plumbing: JSON answers shaped like ApiResult
 * (`{ok, message, data}`), refusals as an Error carrying their status, and request
 * bodies read to a bounded size.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Largest request body the API reads. */
export const MAX_BODY = 64 * 1024;

/** A refusal: its status, message and extra headers (`Allow`, `WWW-Authenticate`). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(message);
  }
}

/** Headers on every answer: nothing cached, nothing sniffed, never framed. */
export const COMMON_HEADERS: OutgoingHttpHeaders = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** Writes `{ok, message, data}` with `status`. */
export function sendJson(res: ServerResponse, status: number, answer: { ok: boolean; message: string; data?: unknown }, headers: OutgoingHttpHeaders = {}): void {
  const body = `${JSON.stringify(answer, null, 2)}\n`;
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Writes a text body (HTML, CSS, JavaScript, metrics). */
export function sendText(res: ServerResponse, status: number, contentType: string, body: string, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Reads the body as JSON: undefined when empty; a 413 over MAX_BODY (before reading, when
 * Content-Length says so; else as soon as it is over, leaving the rest unread so that the
 * answer can still be written); a 400 when it is not JSON or does not arrive whole.
 */
export function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) return Promise.reject(new HttpError(413, `the body is ${declared} bytes; at most ${MAX_BODY} are read`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      f();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.pause();
        settle(() => reject(new HttpError(413, `the body is over ${MAX_BODY} bytes`)));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => settle(() => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve(undefined);
        return;
      }
      try {
        resolve(JSON.parse(text) as unknown);
      } catch (e) {
        reject(new HttpError(400, `the body is not JSON: ${(e as Error).message}`));
      }
    }));
    req.once('error', (e) => settle(() => reject(new HttpError(400, `the body did not arrive whole: ${e.message}`))));
  });
}
