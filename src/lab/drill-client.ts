/**
 * The client side of a drill (`fulcrum lab --drills`), run in the client's namespace:
 * `node dist/src/lab/drill-client.js SPEC` with SPEC a JSON `DrillSpec`. For
 * `durationMs` it holds one slow download (`GET /drip/MS`) and, beside it, sends a small
 * `GET /name` every `intervalMs` on one keep-alive connection (a new one after an
 * error), as a browser would; a redirect is followed and remembered, a DNS name resolved
 * once. Once the download's head names its server, it prints `{"downloadServer":NAME}`,
 * so that the lab can kill that server; at the end, one JSON `DrillOutcome` line. Times
 * are milliseconds since the drill's start (`t0`, epoch milliseconds).
 */
import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { labAgent } from './client.js';

export interface DrillSpec {
  base: string;
  /** For https: the PEM file of the certificate to trust. */
  ca?: string;
  dns?: { server: string; name: string };
  durationMs: number;
  intervalMs: number;
  dripMs: number;
  /** A request that takes longer than this is given up (and counted as stalled). */
  requestTimeoutMs: number;
}

export interface DrillRequest {
  t: number;
  ms: number;
  server?: string;
  error?: string;
}

export interface DrillOutcome {
  t0: number;
  download: { server?: string; start: number; end: number; bytes: number; expected: number; outcome: 'completed' | 'cut' | 'stalled' | 'failed'; error?: string };
  requests: DrillRequest[];
}

const now = (t0: number) => Date.now() - t0;

function get(url: URL, agent: http.Agent, timeoutMs: number, onHead?: (res: http.IncomingMessage) => void): Promise<{ status: number; location?: string; server?: string; bytes: number; expected: number }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { agent, headers: { Host: 'www.example.com' } }, (res) => {
      onHead?.(res);
      let bytes = 0;
      res.on('data', (b: Buffer) => (bytes += b.length));
      res.on('end', () => {
        clearTimeout(timer);
        const expected = Number(res.headers['content-length'] ?? bytes);
        if (bytes < expected) reject(new Error(`cut after ${bytes} of ${expected} bytes`));
        else resolve({ status: res.statusCode ?? 0, location: res.headers.location, server: res.headers['x-served-by'] as string | undefined, bytes, expected });
      });
      res.on('error', (err) => (clearTimeout(timer), reject(err)));
      res.on('aborted', () => (clearTimeout(timer), reject(new Error(`cut after ${bytes} bytes`))));
    });
    const timer = setTimeout(() => req.destroy(new Error(`stalled: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => (clearTimeout(timer), reject(err)));
  });
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

export async function runDrill(spec: DrillSpec): Promise<DrillOutcome> {
  const t0 = Date.now();
  let base = new URL(spec.base);
  if (spec.dns !== undefined) {
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([spec.dns.server]);
    const [address] = await resolver.resolve4(spec.dns.name);
    base = new URL(`http://${address}:${base.port || 80}`);
  }
  const out: DrillOutcome = { t0, download: { start: now(t0), end: 0, bytes: 0, expected: 0, outcome: 'failed' }, requests: [] };

  const download = (async () => {
    const agent = labAgent(base.href, spec.ca, { keepAlive: false });
    let url = new URL(`/drip/${spec.dripMs}`, base);
    try {
      for (let hop = 0; hop < 3; hop++) {
        const r = await get(url, agent, spec.dripMs + spec.requestTimeoutMs, (res) => {
          const server = res.headers['x-served-by'] as string | undefined;
          if (server !== undefined && res.statusCode === 200) {
            out.download.server = server;
            process.stdout.write(`${JSON.stringify({ downloadServer: server })}\n`);
          }
          out.download.expected = Number(res.headers['content-length'] ?? 0);
        });
        out.download.bytes = r.bytes;
        if (r.status >= 300 && r.status < 400 && r.location !== undefined) {
          url = new URL(r.location, url);
          continue;
        }
        out.download.outcome = 'completed';
        break;
      }
    } catch (err) {
      const text = errorText(err);
      out.download.error = text;
      out.download.outcome = text.startsWith('stalled') ? 'stalled' : 'cut';
    }
    out.download.end = now(t0);
  })();

  const agent = labAgent(base.href, spec.ca, { keepAlive: true, maxSockets: 1 });
  while (now(t0) < spec.durationMs) {
    const t = now(t0);
    const entry: DrillRequest = { t, ms: 0 };
    try {
      let r = await get(new URL('/name', base), agent, spec.requestTimeoutMs);
      if (r.status >= 300 && r.status < 400 && r.location !== undefined) {
        base = new URL(new URL(r.location, base).origin);
        r = await get(new URL('/name', base), agent, spec.requestTimeoutMs);
      }
      if (r.status === 200) entry.server = r.server;
      else entry.error = `HTTP ${r.status}`;
    } catch (err) {
      entry.error = errorText(err);
    }
    entry.ms = now(t0) - t;
    out.requests.push(entry);
    const wait = t + spec.intervalMs - now(t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  agent.destroy();
  await download;
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as DrillSpec;
  const hardStop = setTimeout(() => process.exit(1), spec.durationMs + spec.dripMs + 3 * spec.requestTimeoutMs + 5000);
  const outcome = await runDrill(spec);
  clearTimeout(hardStop);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}
