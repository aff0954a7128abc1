/**
 * The socket half shared by the TCP and HTTP probes: connect, let a dialogue read and
 * decide, and guarantee the probe contract (settles exactly once, never rejects, socket
 * destroyed and timer cleared on every path, one deadline for the whole check).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamTls } from '../../tls/upstream-tls.js';
import type { ProbeResult, ProbeTarget } from '../probe.js';

/** What one probe says and listens for on a connected socket. */
export interface SocketDialogue {
  /** Called once connected: returns a verdict to finish at once, or null to read on. */
  connected(socket: net.Socket): ProbeResult | null;
  /** Bytes from the server: a verdict, or null to read on. */
  data(chunk: Buffer): ProbeResult | null;
  /** The server closed its side (FIN): a verdict is required. */
  end(): ProbeResult;
  /** What the dialogue is waiting for, for the timeout detail ("status line"). */
  waitingFor(): string;
}

/**
 * Connects to `target` and runs `dialogue` until it returns a verdict, the socket
 * fails, or `timeoutMs` (at least 1) passes since the call. Never rejects. The socket is
 * destroyed and the timer cleared before the promise settles. Costs one socket and one
 * timer for the duration of the check.
 */
export function runDialogue(target: ProbeTarget, timeoutMs: number, secure: UpstreamTls | null, dialogue: SocketDialogue): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    const ms = Math.max(1, Math.floor(timeoutMs));
    let done = false;
    let connected = false;
    let socket: net.Socket | null = null;
    let timer: NodeJS.Timeout | null = null;

    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      socket?.destroy();
      resolve(result);
    };
    // Any exception inside a dialogue is a failed check, never a crash or a hang.
    const guard = (step: () => ProbeResult | null): void => {
      if (done) return;
      let result: ProbeResult | null;
      try {
        result = step();
      } catch (err) {
        result = { ok: false, detail: `probe error: ${errorDetail(err)}` };
      }
      if (result !== null) finish(result);
    };

    timer = setTimeout(() => {
      finish({ ok: false, detail: `timeout after ${ms} ms (waiting for ${connected ? dialogue.waitingFor() : 'connect'})` });
    }, ms);
    if (!Number.isInteger(target.port) || target.port <= 0 || target.port > 65535) {
      finish({ ok: false, detail: `connect: invalid port ${target.port}` });
      return;
    }
    // Socket and listeners first, connect last: if connect() throws, the handle it may
    // have made is still ours to destroy. With `secure`, TLS with the pool's context: the
    // dialogue starts once the handshake is done (and the certificate checked).
    let sock: net.Socket;
    try {
      sock =
        secure === null
          ? new net.Socket()
          : tls.connect({ host: target.host, port: target.port, secureContext: secure.context, servername: secure.servername(target.host) ?? '', rejectUnauthorized: secure.verify, ALPNProtocols: ['http/1.1'] });
    } catch (err) {
      finish({ ok: false, detail: `connect ${errorDetail(err)}` });
      return;
    }
    socket = sock;
    // Stays attached after finish: a late error on a destroyed socket must not throw.
    sock.on('error', (err) => finish({ ok: false, detail: `${secure !== null && !connected ? 'TLS ' : ''}${errorDetail(err)}` }));
    sock.on(secure === null ? 'connect' : 'secureConnect', () => {
      connected = true;
      guard(() => dialogue.connected(sock));
    });
    sock.on('data', (chunk: Buffer) => guard(() => dialogue.data(chunk)));
    sock.on('end', () => guard(() => dialogue.end()));
    // 'close' without 'end' or 'error' should not happen; finish anyway so nothing hangs.
    sock.on('close', () => finish({ ok: false, detail: 'connection closed' }));
    if (secure !== null) return;
    try {
      sock.connect({ host: target.host, port: target.port });
    } catch (err) {
      finish({ ok: false, detail: `connect ${errorDetail(err)}` });
    }
  });
}

/** "connect ECONNREFUSED", "read ECONNRESET", "getaddrinfo ENOTFOUND", or the message. */
function errorDetail(err: unknown): string {
  if (err === null || typeof err !== 'object') return String(err);
  const e = err as { syscall?: unknown; code?: unknown; message?: unknown; errors?: unknown };
  let code = typeof e.code === 'string' ? e.code : undefined;
  let syscall = typeof e.syscall === 'string' ? e.syscall : undefined;
  // happy eyeballs (autoSelectFamily) reports every failed address in an AggregateError
  if ((code === undefined || syscall === undefined) && Array.isArray(e.errors) && e.errors.length > 0) {
    const first = e.errors[0] as { syscall?: unknown; code?: unknown };
    code ??= typeof first.code === 'string' ? first.code : undefined;
    syscall ??= typeof first.syscall === 'string' ? first.syscall : undefined;
  }
  if (code !== undefined) return syscall !== undefined ? `${syscall} ${code}` : code;
  return typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
}
