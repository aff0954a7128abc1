/**
 * The lab's client side, run in the client's namespace: `node dist/src/lab/client.js
 * SPEC` with SPEC a JSON `TransferSpec`. It runs one transfer against the servers S1 and
 * S2 (src/lab/server.ts) as a browser would, and prints one JSON `TransferOutcome` line:
 *
 *   upload    POST /upload of `size` bytes, with `Expect: 100-continue`, so that a
 *             redirect arrives before the body is sent and the body goes only to S1/S2;
 *   download  GET /bytes/`size`;
 *   requests  `count` GET /name, one after the other on one keep-alive connection.
 *
 * A redirect (3xx with Location) is followed, and later requests of the same transfer go
 * where it pointed (a browser stays on s1.example.com after being sent there). With
 * `dns`, the name is first resolved by asking that DNS server directly (the resolver's
 * part), and the transfer goes to the first address of the answer. Every transfer is
 * bounded by `timeoutMs`.
 */
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';

export type TransferKind = 'upload' | 'download' | 'requests';

export interface TransferSpec {
  kind: TransferKind;
  /** Where the transfer starts: http://HOST[:PORT] or https://HOST[:PORT] (no path), unless `dns` gives the host. */
  base: string;
  /** For https: the PEM file of the certificate to trust (the lab's, for www.example.com). */
  ca?: string;
  /** Bytes to upload or download. */
  size: number;
  /** Requests, for `requests`. */
  count: number;
  /** Resolve `name` at `server` (an IPv4 address, port 53) first. */
  dns?: { server: string; name: string };
  timeoutMs: number;
}

export interface TransferOutcome {
  ok: boolean;
  error?: string;
  /** Milliseconds from the first byte sent (the DNS query included) to the last received. */
  ms: number;
  /** Payload bytes moved: the body sent (upload) or received (download, requests). */
  bytes: number;
  /** Answers per server (X-Served-By). */
  servers: Record<string, number>;
  /** Redirects followed. */
  redirects: number;
}

interface Answer {
  status: number;
  location?: string;
  server?: string;
  body: Buffer;
}

/** One request; with `body`, sent only after 100 Continue (or not at all when the answer comes first). */
function request(agent: http.Agent, url: URL, method: string, body: Buffer | null): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Host: 'www.example.com' };
    if (body !== null) Object.assign(headers, { 'Content-Length': body.length, Expect: '100-continue', 'Content-Type': 'application/octet-stream' });
    const req = (url.protocol === 'https:' ? https : http).request(url, { method, agent, headers });
    req.on('continue', () => req.end(body));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        const sentAll = body === null || req.writableEnded;
        if (!sentAll) req.destroy(); // answered before the body: the connection cannot be reused
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, server: res.headers['x-served-by'] as string | undefined, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === null) req.end();
    else req.flushHeaders();
  });
}

/** An agent for `base`: for https, one that verifies the server's certificate for www.example.com against `ca`. */
export function labAgent(base: string, ca: string | undefined, opts: http.AgentOptions): http.Agent {
  if (new URL(base).protocol !== 'https:') return new http.Agent(opts);
  return new https.Agent({ ...opts, ...(ca === undefined ? {} : { ca: readFileSync(ca) }), servername: 'www.example.com' });
}

export async function runTransfer(spec: TransferSpec): Promise<TransferOutcome> {
  const out: TransferOutcome = { ok: false, ms: 0, bytes: 0, servers: {}, redirects: 0 };
  const agent = labAgent(spec.base, spec.ca, { keepAlive: true, maxSockets: 1 });
  const start = process.hrtime.bigint();
  const timer = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ...out, ok: false, error: `timed out after ${spec.timeoutMs} ms`, ms: spec.timeoutMs })}\n`);
    process.exit(1);
  }, spec.timeoutMs);
  try {
    let base = new URL(spec.base);
    if (spec.dns !== undefined) {
      const resolver = new Resolver({ timeout: 2000, tries: 2 });
      resolver.setServers([spec.dns.server]);
      const [address] = await resolver.resolve4(spec.dns.name);
      if (address === undefined) throw new Error(`no address for ${spec.dns.name}`);
      base = new URL(`http://${address}:${base.port || 80}`);
    }
    const body = spec.kind === 'upload' ? Buffer.alloc(spec.size, 'u') : null;
    const path = spec.kind === 'upload' ? '/upload' : spec.kind === 'download' ? `/bytes/${spec.size}` : '/name';
    const rounds = spec.kind === 'requests' ? spec.count : 1;
    for (let i = 0; i < rounds; i++) {
      let answer = await request(agent, new URL(path, base), body === null ? 'GET' : 'POST', body);
      for (let hops = 0; answer.status >= 300 && answer.status < 400 && answer.location !== undefined; hops++) {
        if (hops === 3) throw new Error('more than 3 redirects');
        const next = new URL(answer.location, base);
        base = new URL(next.origin); // later requests go where the redirect pointed
        out.redirects++;
        answer = await request(agent, next, body === null ? 'GET' : 'POST', body);
      }
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
      if (answer.server !== undefined) out.servers[answer.server] = (out.servers[answer.server] ?? 0) + 1;
      if (body !== null) {
        const got = JSON.parse(answer.body.toString()) as { bytes: number };
        if (got.bytes !== body.length) throw new Error(`the server received ${got.bytes} of ${body.length} bytes`);
        out.bytes += got.bytes;
      } else out.bytes += answer.body.length;
    }
    if (spec.kind === 'download' && out.bytes !== spec.size) throw new Error(`received ${out.bytes} of ${spec.size} bytes`);
    out.ok = true;
  } catch (err) {
    out.error = (err as Error).message;
  } finally {
    clearTimeout(timer);
    agent.destroy();
  }
  out.ms = Number(process.hrtime.bigint() - start) / 1e6;
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as TransferSpec;
  const outcome = await runTransfer(spec);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  process.exitCode = outcome.ok ? 0 : 1;
}
