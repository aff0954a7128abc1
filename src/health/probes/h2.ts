/**
 * Health checks over HTTP/2, for pools whose servers speak it (`protocol: h2c` or `h2`):
 * the `http` check as an HTTP/2 request, or gRPC's health protocol
 * (grpc.health.v1.Health/Check, GRPC health checking protocol): passes when the server
 * answers grpc-status 0 with the status SERVING. Each check is one new connection, closed
 * when it settles; the whole check, connect included, shares one deadline.
 */
import http2 from 'node:http2';
import type { HealthConfig, PoolConfig } from '../../config/types.js';
import { upstreamTlsFor, type UpstreamTls } from '../../tls/upstream-tls.js';
import type { Probe, ProbeResult, ProbeTarget } from '../probe.js';
import { MAX_BODY_BYTES } from './http-response.js';

const HEALTH_PATH = '/grpc.health.v1.Health/Check';
/** HealthCheckResponse.ServingStatus names. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** The HTTP or gRPC check of a pool whose servers speak HTTP/2. */
export class H2Probe implements Probe {
  private readonly tls: UpstreamTls | null;
  private readonly grpcRequest: Buffer | null;

  /** Builds the request once; the pool's TLS context (protocol h2) is the one its traffic uses. */
  constructor(
    private readonly cfg: HealthConfig,
    pool: PoolConfig,
  ) {
    this.tls = pool.protocol === 'h2' ? upstreamTlsFor(pool) : null;
    this.grpcRequest = cfg.type === 'grpc' ? healthCheckRequest(cfg.grpc?.service ?? '') : null;
  }

  /** One request on a new connection; see the Probe contract. */
  check(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const ms = Math.max(1, Math.floor(timeoutMs));
      const grpc = this.grpcRequest !== null;
      let waiting = 'connect';
      let done = false;
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      const options: http2.SecureClientSessionOptions = { settings: { enablePush: false } };
      const tls = this.tls;
      if (tls !== null) {
        options.secureContext = tls.context;
        options.servername = tls.servername(target.host) ?? '';
        options.rejectUnauthorized = tls.verify;
        options.ALPNProtocols = ['h2'];
      }
      const session = http2.connect(`${tls === null ? 'http' : 'https'}://${host}:${target.port}`, options);
      const finish = (result: ProbeResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        session.destroy();
        resolve(result);
      };
      const timer = setTimeout(() => finish({ ok: false, detail: `timeout after ${ms} ms (waiting for ${waiting})` }), ms);
      session.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, detail: waiting === 'connect' ? `connect ${err.code ?? err.message}` : `HTTP/2 ${err.code ?? err.message}` }));
      session.on('close', () => finish({ ok: false, detail: 'connection closed' }));
      session.on('connect', () => (waiting = grpc ? 'grpc-status' : 'status'));
      const http = this.cfg.http;
      const authority = http.host ?? `${host}:${target.port}`;
      const headers: http2.OutgoingHttpHeaders = grpc
        ? { ':method': 'POST', ':path': HEALTH_PATH, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'fulcrum-health' }
        : { ':method': http.method, ':path': http.path, ':authority': authority, 'user-agent': 'fulcrum-health' };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: !grpc });
      } catch (err) {
        finish({ ok: false, detail: `HTTP/2 ${(err as Error).message}` });
        return;
      }
      if (grpc) stream.end(this.grpcRequest);
      let status = 0;
      let body: Buffer[] = [];
      let bodyBytes = 0;
      stream.on('response', (h) => {
        status = Number(h[':status']);
        if (grpc) {
          if (h['grpc-status'] !== undefined) finish(grpcVerdict(h, null)); // trailers-only
          return;
        }
        if (http.bodyMatch === null || this.cfg.http.method === 'HEAD') finish(statusVerdict(status, http.expectStatus));
        else waiting = 'body';
      });
      stream.on('data', (chunk: Buffer) => {
        if (bodyBytes >= MAX_BODY_BYTES) return;
        body.push(chunk);
        bodyBytes += chunk.length;
      });
      stream.on('trailers', (h) => {
        if (grpc) finish(grpcVerdict(h, Buffer.concat(body)));
      });
      stream.on('end', () => {
        if (grpc) {
          finish({ ok: false, detail: status === 200 ? 'no grpc-status' : `status ${status}` });
          return;
        }
        const verdict = statusVerdict(status, http.expectStatus);
        if (!verdict.ok) {
          finish(verdict);
          return;
        }
        const text = Buffer.concat(body).subarray(0, MAX_BODY_BYTES);
        body = [];
        finish(text.includes(http.bodyMatch!) ? verdict : { ok: false, detail: `body does not contain ${JSON.stringify(http.bodyMatch)}` });
      });
      stream.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, detail: `HTTP/2 ${err.code ?? err.message}` }));
    });
  }
}

function statusVerdict(status: number, ranges: ReadonlyArray<readonly [number, number]>): ProbeResult {
  if (ranges.some(([low, high]) => status >= low && status <= high)) return { ok: true, detail: `status ${status}` };
  return { ok: false, detail: `status ${status} not in ${ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')}` };
}

/** The verdict of a Health/Check answer: grpc-status 0 and, in the message, status SERVING. */
function grpcVerdict(trailers: http2.IncomingHttpHeaders, message: Buffer | null): ProbeResult {
  const code = String(trailers['grpc-status']);
  if (code !== '0') {
    const why = trailers['grpc-message'] === undefined ? '' : ` (${decodeURIComponent(String(trailers['grpc-message']))})`;
    return { ok: false, detail: `grpc-status ${code}${why}` };
  }
  const serving = message === null ? -1 : servingStatus(message);
  if (serving === 1) return { ok: true, detail: 'SERVING' };
  return { ok: false, detail: serving < 0 ? 'no HealthCheckResponse' : (SERVING_STATUS[serving] ?? `status ${serving}`) };
}

/** A gRPC message (5-byte prefix, uncompressed) of HealthCheckRequest{service}. */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const field = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(field.length, 1);
  return Buffer.concat([prefix, field]);
}

/** HealthCheckResponse.status (field 1, varint) of a gRPC message; 0 when absent (the proto3 default), -1 when unreadable. */
export function servingStatus(msg: Buffer): number {
  if (msg.length < 5 || msg[0] !== 0) return -1;
  const len = msg.readUInt32BE(1);
  if (msg.length < 5 + len) return -1;
  let i = 5;
  let status = 0;
  while (i < 5 + len) {
    const key = msg[i++]!;
    const wire = key & 7;
    if (wire === 0) {
      let v = 0;
      let shift = 0;
      let b: number;
      do {
        b = msg[i++]!;
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80 && i < 5 + len);
      if (key >> 3 === 1) status = v;
    } else if (wire === 2) {
      let l = 0;
      let shift = 0;
      let b: number;
      do {
        b = msg[i++]!;
        l += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80 && i < 5 + len);
      i += l;
    } else {
      return -1;
    }
  }
  return status;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
