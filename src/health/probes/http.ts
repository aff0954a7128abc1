/**
 * HTTP check over a plain TCP socket, or TLS with the pool's settings (no http module, no agent, no pooling): one
 * `Connection: close` request per check, the status line read strictly and matched
 * against the expected ranges, and the body searched when a match is configured. The
 * whole exchange, connect included, shares one deadline.
 */
import type { HttpCheckConfig } from '../../config/types.js';
import type { UpstreamTls } from '../../tls/upstream-tls.js';
import type { Probe, ProbeResult, ProbeTarget } from '../probe.js';
import { runDialogue } from './dialogue.js';
import { HttpResponseReader, type HttpExpectation } from './http-response.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// request-target: visible ASCII without spaces (absolute path or absolute form)
const TARGET = /^[\x21-\x7e]+$/;
const HOST = /^[\x21-\x7e]+$/;

/**
 * Passes when the server answers with a status in `expectStatus` (and, when `bodyMatch`
 * is set, a body containing it within its first 64 KiB). The request is
 * `METHOD PATH HTTP/1.1` with `Host` (the configured host, or the target's host:port),
 * `Connection: close` and `User-Agent: fulcrum-health`.
 */
export class HttpProbe implements Probe {
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly expectation: HttpExpectation;

  /**
   * Builds the request once. Throws a TypeError when the method, path or host could not
   * be sent as-is (contains spaces or control characters): configuration validation
   * should have refused them.
   */
  constructor(
    private readonly cfg: HttpCheckConfig,
    /** The pool's TLS when checks go over TLS (health.tls), else null. */
    private readonly tls: UpstreamTls | null = null,
  ) {
    if (!TOKEN.test(cfg.method)) throw new TypeError(`health check method ${JSON.stringify(cfg.method)} is not an HTTP token`);
    if (!TARGET.test(cfg.path)) throw new TypeError(`health check path ${JSON.stringify(cfg.path)} contains spaces or control characters`);
    if (cfg.host !== null && !HOST.test(cfg.host)) throw new TypeError(`health check host ${JSON.stringify(cfg.host)} contains spaces or control characters`);
    this.prefix = `${cfg.method} ${cfg.path} HTTP/1.1\r\nHost: `;
    this.suffix = '\r\nConnection: close\r\nUser-Agent: fulcrum-health\r\nAccept: */*\r\n\r\n';
    this.expectation = {
      expectStatus: cfg.expectStatus,
      bodyMatch: cfg.bodyMatch,
      headRequest: cfg.method === 'HEAD',
    };
  }

  /** One request on a new connection; see the Probe contract. */
  check(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
    const request = this.prefix + (this.cfg.host ?? hostHeader(target)) + this.suffix;
    const reader = new HttpResponseReader(this.expectation);
    return runDialogue(target, timeoutMs, this.tls, {
      connected: (socket) => {
        socket.setNoDelay(true);
        socket.write(request, 'latin1');
        return null;
      },
      data: (chunk) => reader.feed(chunk),
      end: () => reader.end(),
      waitingFor: () => reader.waitingFor(),
    });
  }
}

/** "127.0.0.1:8080", "[::1]:8080". */
function hostHeader(target: ProbeTarget): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}
