/**
 * The admin listener (YAML `admin:`): an HTTP server in the primary process that serves
 * the runtime API as JSON under `/api/`, the live dashboard at `/` and the metrics at
 * `/metrics`. It only translates HTTP to the runtime API (src/runtime/api.ts); reads are
 * open, and every call that changes state needs the token (when a token file is
 * configured), a JSON content type and, from a browser, the listener's own Origin. Bad
 * input gets a JSON answer with its status; nothing a client sends can throw out of it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminConfig } from '../config/types.js';
import { log } from '../core/log.js';
import type { RuntimeApi } from '../runtime/api.js';
import { bearerMatches, isJson, originAllowed, readToken } from './auth.js';
import { DASHBOARD_ROUTES } from './dashboard/routes.js';
import { HttpError, readJson, sendJson, sendText } from './http.js';
import { allowOf, CHANGES_STATE, matchRoute, ROUTES, type Answer, type Route } from './routes.js';

const OPENMETRICS = /application\/openmetrics-text/i;

/** The metrics route: Prometheus text, or OpenMetrics when the Accept header asks for it. */
const METRICS_ROUTE: Route = {
  path: '/metrics',
  methods: {
    GET: async ({ api, accept }) => {
      let exposition: { contentType: string; body: string };
      try {
        exposition = await api.metrics(OPENMETRICS.test(accept));
      } catch (err) {
        throw new HttpError(503, `no metrics: ${(err as Error).message}`);
      }
      return { text: exposition.body, contentType: exposition.contentType };
    },
  },
};

export class AdminServer {
  private readonly server: http.Server;
  private token: string | null;
  private routes: Route[];
  private bound: { host: string; port: number } | null = null;

  private constructor(
    private readonly api: RuntimeApi,
    private config: AdminConfig,
    token: string | null,
  ) {
    this.token = token;
    this.routes = routesFor(config);
    this.server = http.createServer((req, res) => void this.handle(req, res));
    // An admin listener holds few connections and short requests: slow or idle clients are cut.
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    this.server.keepAliveTimeout = 5_000;
    this.server.maxHeadersCount = 100;
    this.server.maxConnections = 256;
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Reads the token file (if any) and listens. Throws a clear Error when either fails. */
  static async start(api: RuntimeApi, config: AdminConfig): Promise<AdminServer> {
    const token = config.tokenFile === null ? null : await readToken(config.tokenFile);
    const admin = new AdminServer(api, config, token);
    await admin.listen();
    return admin;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const where = `${this.hostText()}:${this.config.port}`;
        reject(new Error(`admin: cannot listen on ${where}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.config.host, port: this.config.port, exclusive: true }, () => {
        this.server.off('error', onError);
        const a = this.server.address() as AddressInfo;
        this.bound = { host: this.config.host, port: a.port };
        resolve();
      });
    });
  }

  private hostText(): string {
    return this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
  }

  /** The base URL, with the port as bound ("http://127.0.0.1:9090"). */
  get url(): string {
    return `http://${this.hostText()}:${this.bound?.port ?? this.config.port}`;
  }

  get port(): number {
    return this.bound?.port ?? this.config.port;
  }

  /** Can `next` be applied without binding again (same address)? */
  sameAddress(next: AdminConfig): boolean {
    return next.host === this.config.host && next.port === this.config.port;
  }

  /** Applies a reloaded section at the same address: the token (read again), the dashboard and metrics switches. */
  async update(next: AdminConfig): Promise<void> {
    const token = next.tokenFile === null ? null : await readToken(next.tokenFile);
    this.config = next;
    this.token = token;
    this.routes = routesFor(next);
  }

  /** Stops listening and closes every connection. */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The line `fulcrum run` logs. */
  describe(): string {
    const parts = [this.config.dashboard ? 'dashboard /' : null, this.config.metrics ? 'metrics /metrics' : null, this.token === null ? null : 'token required to change state'];
    const what = parts.filter((p) => p !== null).join(', ');
    return `admin listening on ${this.url}${what === '' ? '' : ` (${what})`}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      const answer = await this.dispatch(req, method);
      if ('text' in answer) {
        sendText(res, answer.status ?? 200, answer.contentType, answer.text, answer.status === undefined && answer.contentType.startsWith('text/html') ? { 'Content-Security-Policy': CSP } : {});
        return;
      }
      sendJson(res, answer.status, { ok: answer.ok, message: answer.message, ...(answer.data === undefined ? {} : { data: answer.data }) });
      if (CHANGES_STATE.has(method)) this.audit(req, answer.status, answer.message);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error).message}`);
      if (e.status === 500) log().error({ err }, `admin: ${method} ${req.url}: ${e.message}`);
      // A body not received whole (a refusal before reading it, or one too large) ends the connection.
      const close = !req.complete ? { Connection: 'close' } : {};
      if (!res.headersSent) sendJson(res, e.status, { ok: false, message: e.message }, { ...e.headers, ...close });
      else res.destroy();
      if (CHANGES_STATE.has(method)) this.audit(req, e.status, e.message);
      if (!req.complete) res.once('finish', () => req.socket?.destroySoon());
    }
  }

  private async dispatch(req: http.IncomingMessage, method: string): Promise<Answer> {
    const target = req.url ?? '/';
    if (!target.startsWith('/')) throw new HttpError(400, 'expected a request target starting with "/"');
    const path = target.split('?')[0]!;
    const match = matchRoute(this.routes, path);
    if (match === null) throw new HttpError(404, `no such route: ${path} (the dashboard is at /, the API under /api/: see docs/operating.md)`);
    const verb = method === 'HEAD' ? 'GET' : method;
    const handler = match.route.methods[verb as keyof typeof match.route.methods];
    const allow = allowOf(match.route);
    if (handler === undefined) throw new HttpError(405, `${method} is not allowed on ${path} (allowed: ${allow})`, { Allow: allow });
    if (CHANGES_STATE.has(verb)) this.admit(req);
    return handler({ api: this.api, params: match.params, body: () => readJson(req), accept: String(req.headers.accept ?? '') });
  }

  /** The checks of a call that changes state: token (401), Origin (403), content type (415). */
  private admit(req: http.IncomingMessage): void {
    if (this.token !== null && !bearerMatches(req.headers.authorization, this.token)) {
      const given = req.headers.authorization !== undefined;
      throw new HttpError(401, given ? 'the access token is wrong' : 'this call changes state: send the access token as `Authorization: Bearer TOKEN`', {
        'WWW-Authenticate': given ? 'Bearer realm="fulcrum admin", error="invalid_token"' : 'Bearer realm="fulcrum admin"',
      });
    }
    const origin = req.headers.origin;
    if (!originAllowed(origin, this.bound ?? this.config, req.headers.host, this.token !== null)) {
      throw new HttpError(403, `a call from origin ${origin} is refused: only the admin listener's own pages (${this.url}) may change state`);
    }
    if (!isJson(req.headers)) {
      throw new HttpError(415, `a call that changes state takes a JSON body: send \`Content-Type: application/json\`${req.headers['content-type'] ? ` (got ${req.headers['content-type']})` : ''}`);
    }
  }

  private audit(req: http.IncomingMessage, status: number, message: string): void {
    const line = `admin: ${req.method} ${req.url} from ${req.socket?.remoteAddress ?? '?'}: ${status} ${message}`;
    if (status < 400) log().info(line);
    else log().warn(line);
  }
}

/** The dashboard's own policy: its scripts, styles and API calls come from this listener only. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function routesFor(config: AdminConfig): Route[] {
  return [...ROUTES, ...(config.metrics ? [METRICS_ROUTE] : []), ...(config.dashboard ? DASHBOARD_ROUTES(config.tokenFile !== null) : [])];
}
