/**
 * The binding of the C addon (native/*.c, built by node-gyp at install as
 * build/Release/fulcrum_relay.node): its functions, the numbers it shares with
 * TypeScript, and its loader. The relay and byte streams are driven by native-relay.ts;
 * the DNS server's batched UDP sockets by src/dns/udp.ts; sd_notify and runtime.user
 * call their one function each (src/runtime).
 *
 * The event codes, record size, arena size and the other numbers below are written in
 * C (native/core.h, relay.c). The addon exports them as `constants`, and the loader
 * compares them with these: on any difference (an addon built from other sources) it
 * refuses the addon with one log line, and everything takes the JavaScript path, as
 * when the addon did not build.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { log } from '../core/log.js';
import { isDisabled, missingLine } from './internals.js';

/** Event record types: pairs (relay.c), then streams (stream.c); see native/core.h. */
export const EV_ACCEPT = 1;
export const EV_CONNECT = 2;
export const EV_CLOSED = 3;
export const EV_ACCEPT_ERROR = 4;
export const EV_READABLE = 5;
export const EV_S_ACCEPT = 6;
export const EV_S_CONNECT = 7;
export const EV_S_DATA = 8;
export const EV_S_EOF = 9;
export const EV_S_DRAIN = 10;
export const EV_S_ERROR = 11;
export const EV_S_SECURE = 12;
/** Numbers per event record. */
export const RECORD = 6;
/** How a pair ended (EV_CLOSED's first number). */
export const END_DONE = 0;
export const END_CLIENT_RESET = 1;
export const END_SERVER_RESET = 2;
/** The protocol a TLS stream's ALPN chose (EV_S_SECURE's second number). */
export const ALPN_NONE = 0;
export const ALPN_HTTP1 = 1;
export const ALPN_H2 = 2;
/** Where a batch's stream reads land (native/core.h ARENA_BYTES). */
export const ARENA_BYTES = 1024 * 1024;
/** Stream ids are generation * STREAM_SLOTS + slot (2^SLOT_BITS, native/core.h). */
export const STREAM_SLOTS = 4194304;
/** The events array passed to init() holds at least this many records. */
export const MIN_EVENT_RECORDS = 2048;
/** Numbers stats() writes: bytes in, bytes out, idle ms. */
export const STATS_FIELDS = 3;
/** Batched UDP sockets (native/udp.c): datagrams per batch, arena slot sizes, int32s per meta record. */
export const UDP_BATCH = 64;
export const UDP_IN_SLOT = 65536;
export const UDP_OUT_SLOT = 4096;
export const UDP_META = 8;

/** Every number above, by the name the addon's `constants` gives it. */
export const SHARED_CONSTANTS: Readonly<Record<string, number>> = {
  RECORD,
  EV_ACCEPT,
  EV_CONNECT,
  EV_CLOSED,
  EV_ACCEPT_ERROR,
  EV_READABLE,
  EV_S_ACCEPT,
  EV_S_CONNECT,
  EV_S_DATA,
  EV_S_EOF,
  EV_S_DRAIN,
  EV_S_ERROR,
  EV_S_SECURE,
  END_DONE,
  END_CLIENT_RESET,
  END_SERVER_RESET,
  ALPN_NONE,
  ALPN_HTTP1,
  ALPN_H2,
  ARENA_BYTES,
  STREAM_SLOTS,
  MIN_EVENT_RECORDS,
  STATS_FIELDS,
  UDP_BATCH,
  UDP_IN_SLOT,
  UDP_OUT_SLOT,
  UDP_META,
};

/** The addon's functions (native/relay.c). Negative numbers are -errno. */
export interface Addon {
  RECORD: number;
  /** The numbers shared with the C code (native/relay.c constants_object). */
  constants: Record<string, number>;
  init(onEvents: (count: number) => void, events: Float64Array, stats: Float64Array, reads: Uint8Array): number;
  listen(fd: number, streams: boolean): number;
  unlisten(index: number): number;
  connect(id: number, address: string, port: number, first: Uint8Array | null, counted: number): number;
  want(id: number, on: boolean): number;
  read(id: number): number;
  drop(id: number): number;
  stats(id: number): number;
  close(id: number): number;
  peer(id: number): [string, number] | undefined;
  local(id: number): [string, number] | undefined;
  buffers(): number;
  // byte streams (native/stream.c)
  streamArena(arena: Uint8Array): number;
  streamConnect(address: string, port: number): number;
  streamWrite(id: number, data: Uint8Array | string, body?: Uint8Array, start?: number, end?: number): number;
  streamEnd(id: number): number;
  streamPause(id: number, paused: boolean): number;
  streamClose(id: number): number;
  streamPeer(id: number): [string, number] | undefined;
  streamLocal(id: number): [string, number] | undefined;
  streamCount(): number;
  streamTls(id: number): NativeTlsInfo | undefined;
  // TLS on accepted streams (native/tls.c)
  tlsContext(options: NativeTlsContextOptions): number;
  tlsContextFree(id: number): number;
  tlsServer(listener: number, initial: number, fallback: number | null, names: string[], contexts: number[], prelude: boolean): number;
  streamStartTls(id: number, consumed: number): number;
  // batched UDP sockets for the DNS server (native/udp.c)
  udpArena(datagrams: Uint8Array, answers: Uint8Array, meta: Int32Array): number;
  udpOpen(host: string, port: number, bufferBytes: number, onBatch: (count: number) => void): number;
  udpLocal(id: number): [string, number] | undefined;
  udpClose(id: number): number;
  udpPeer(index: number): string | undefined;
  udpStats(id: number): [sent: number, sendErrors: number, batches: number] | undefined;
  // systemd's readiness protocol (native/notify.c)
  notify(socket: string, message: string): number;
  // runtime.user (native/privileges.c)
  dropPrivileges(uid: number, gid: number, caps: number[]): number;
  // limits shared by every worker (native/limits.c)
  LIMIT_COLUMNS: number;
  limitsCreate(): number;
  limitsAttach(fd: number): number;
  limitsTake(id: number, key: string, intervalNs: number, toleranceNs: number): number;
  limitsAcquire(id: number, key: string, max: number, column: number): number;
  limitsRelease(id: number, key: string, column: number): void;
  limitsCount(id: number, key: string): number;
  limitsClearColumn(column: number): void;
  /** This worker takes part in the accept balance: its listeners let a worker holding fewer connections accept. */
  limitsJoin(column: number): void;
}

/** A TLS context for native/tls.c: what tls.createSecureContext takes, already split and checked. */
export interface NativeTlsContextOptions {
  /** PEM certificate (then its chain) and key; both null: a context that refuses every handshake. */
  cert: string | null;
  key: string | null;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list (TLS 1.2) and TLS 1.3 suites, as Node splits its `ciphers` option. */
  cipherList: string;
  cipherSuites: string;
  /** 48 bytes (name, HMAC key, AES key, as Node's ticketKeys), or null: no tickets. */
  ticketKeys: Buffer | null;
  sessionTimeout: number;
  sessionIdContext: string;
  /** Offer h2 before http/1.1 by ALPN. */
  h2: boolean;
}

/** A TLS stream's [server name, ALPN protocol, version, cipher, why its handshake failed]. */
export type NativeTlsInfo = [string | null, string | null, string, string, string | null];

/**
 * Why the module `mod` (what require gave) is not the addon this code was written for
 * (a missing `constants` object, a number that differs, a missing function), or null
 * when it is.
 */
export function addonMismatch(mod: unknown): string | null {
  const m = mod as Partial<Addon> | null;
  if (m == null || typeof m !== 'object') return 'the module exports nothing';
  const c = m.constants;
  if (c == null || typeof c !== 'object') return 'the module exports no constants (built from older sources: run npm run build:native)';
  for (const [name, value] of Object.entries(SHARED_CONSTANTS)) {
    if (c[name] !== value) return `its constant ${name} is ${String(c[name])} in C but ${value} in TypeScript`;
  }
  for (const fn of ['init', 'listen', 'streamArena', 'streamWrite', 'tlsServer', 'udpOpen', 'notify', 'dropPrivileges', 'limitsCreate'] as const) {
    if (typeof m[fn] !== 'function') return `it has no function ${fn}`;
  }
  return null;
}

let addon: Addon | null | undefined;
let whyNot = '';

/**
 * The addon's module, loaded once per process without starting the relay (sd_notify and
 * runtime.user need only a function of it), or null when it cannot be used here (see
 * {@link nativeAddonMissing}).
 */
export function nativeAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  // where node-gyp puts it: build/Release under the package root
  const path = fileURLToPath(new URL('../../../build/Release/fulcrum_relay.node', import.meta.url));
  if (isDisabled('addon')) {
    whyNot = 'the native addon is disabled by FULCRUM_IO_DISABLE';
    log().warn(missingLine('addon', 'disabled by FULCRUM_IO_DISABLE'));
  } else if (process.platform !== 'linux') {
    whyNot = `the native relay is built for Linux only, not ${process.platform}`;
  } else if (!existsSync(path)) {
    whyNot = `${path} was not built (npm install runs node-gyp, which needs python3, make and g++)`;
  } else {
    let mod: unknown;
    try {
      mod = createRequire(import.meta.url)(path);
    } catch (err) {
      whyNot = `cannot load ${path}: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (mod !== undefined) {
      const mismatch = addonMismatch(mod);
      if (mismatch === null) {
        addon = mod as Addon;
      } else {
        whyNot = `${path} does not match this code: ${mismatch}`;
        log().warn(`native addon refused: ${whyNot}; using the JavaScript path instead`);
      }
    }
  }
  return addon;
}

/** Why nativeAddon() is null ('' when it is not); loads the module but starts nothing. */
export function nativeAddonMissing(): string {
  nativeAddon();
  return whyNot;
}

/** Records why the addon could not be used after loading (the relay did not start). */
export function addonFailed(why: string): void {
  whyNot = why;
}
