/**
 * The template of a custom access log format (`access_log: {format: custom, template}`):
 * text with nginx-like variables, `$name` or `${name}` (`$$` is a `$`). Parsed here, where
 * the configuration is checked (an unknown variable is refused with its key path), and
 * compiled once per listener by proxy/access-log.ts.
 */

/** The variables a template may use, with what they write (for the reference and errors). */
export const LOG_VARIABLES: Readonly<Record<string, string>> = {
  remote_addr: 'the client address (from a trusted PROXY header, else the socket)',
  time_local: 'when the request arrived, as `07/Dec/2026:06:28:35 +0000` (UTC)',
  time_iso8601: 'when the request arrived, as `2026-12-07T06:28:35.509Z`',
  msec: 'when the request arrived, in seconds since the epoch with milliseconds',
  request: 'the request line, `GET /a?b HTTP/1.1` (HTTP/2: `HTTP/2.0`)',
  method: 'the request method',
  target: 'the request target as sent',
  version: 'the HTTP version: `1.0`, `1.1` or `2`',
  host: 'the Host header (HTTP/2: `:authority`)',
  status: 'the response status',
  bytes_sent: 'bytes written to the client (head and body)',
  request_time: 'seconds from the request head to the last byte of the response, with milliseconds',
  server: 'the server that answered, `pool/name`',
  upstream_connect_time: 'seconds to connect to the server (0 on a reused connection), with milliseconds',
  upstream_response_time: 'seconds from the start of the last attempt to the response head, with milliseconds',
  upstream_attempts: 'how many times the request was sent to a server (more than 1 after retries)',
  request_id: 'the request ID (listener `request_id`)',
  listener: 'the listener\'s name',
};

/** A parsed template: literal text and variable names, alternately (text first, text last). */
export interface LogTemplate {
  texts: string[];
  /** A variable of LOG_VARIABLES, or `http_NAME` (the request header NAME, `_` for `-`). */
  vars: string[];
}

const VAR = /\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]*))/y;

/** Parses a template; throws an Error naming the first unknown or empty variable. */
export function parseLogTemplate(template: string): LogTemplate {
  const texts: string[] = [];
  const vars: string[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf('$', i);
    if (d < 0) {
      text += template.slice(i);
      break;
    }
    text += template.slice(i, d);
    if (template.charCodeAt(d + 1) === 0x24) {
      text += '$';
      i = d + 2;
      continue;
    }
    VAR.lastIndex = d;
    const m = VAR.exec(template)!;
    const name = m[1] ?? m[2]!;
    if (name === '') throw new Error(`a lone "$" at character ${d + 1}: write a variable such as $remote_addr, or $$ for a "$"`);
    if (!(name in LOG_VARIABLES) && !/^http_[a-z0-9_]+$/.test(name)) {
      throw new Error(`unknown variable $${name} at character ${d + 1}; known: ${Object.keys(LOG_VARIABLES).map((v) => `$${v}`).join(', ')}, and $http_NAME for a request header`);
    }
    texts.push(text);
    vars.push(name);
    text = '';
    i = d + m[0].length;
  }
  texts.push(text);
  return { texts, vars };
}
