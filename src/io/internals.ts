/**
 * The self-test of the Node internals Fulcrum's I/O relies on, run once per process
 * when the first listener (or anything else in src/io that needs one) asks. Each internal
 * is checked for the shape the code uses; one that is missing or changed (another Node
 * version) is reported in ONE log line naming it and the public API used instead, and
 * the code takes that public path. Nothing here throws.
 *
 * | internal      | what is checked                                        | fallback                                   |
 * |---------------|--------------------------------------------------------|--------------------------------------------|
 * | tcp_wrap      | process.binding('tcp_wrap'/'stream_wrap'): TCP and its | tcp listeners relay over net.Socket; HTTP  |
 * |               | methods, the request wraps, streamBaseState            | writes go through socket.write             |
 * | onread        | net.Socket's `onread` option and its private symbols   | accepted sockets read through 'data'       |
 * |               | (kBuffer, kBufferCb, kBufferGen), `_handle` on sockets | events (TLS sockets too)                   |
 * | onconnection  | a listening net.Server's `_handle.onconnection`        | net.Server's 'connection' event            |
 * |               | (checked at the first listener: accept.ts)             |                                            |
 * | fast_buffer   | Buffer.prototype.latin1Slice / latin1Write             | the same methods in plain JavaScript       |
 * | addon         | the native addon's exported constants (addon.ts)       | the JavaScript path, as when not built     |
 *
 * FULCRUM_IO_DISABLE=tcp_wrap,onread,onconnection,fast_buffer,addon (or `all`) makes the
 * self-test treat those as missing: for tests of the fallbacks.
 */
import net from 'node:net';
import { log } from '../core/log.js';
import { probeTcpWrap, type Handles } from './tcp-handles.js';

/** The internals by the names FULCRUM_IO_DISABLE and the log lines use. */
export const INTERNAL_NAMES = ['tcp_wrap', 'onread', 'onconnection', 'fast_buffer', 'addon'] as const;
export type InternalName = (typeof INTERNAL_NAMES)[number];

/** net's private symbols behind the `onread` option. */
export interface OnreadSymbols {
  buffer: symbol;
  callback: symbol;
  gen: symbol;
}

/** What the self-test found usable. */
export interface Internals {
  /** The libuv TCP bindings, or null: net.Socket instead. */
  readonly handles: Handles | null;
  /** net's onread symbols (and `_handle` on sockets), or null: 'data' events instead. */
  readonly onread: OnreadSymbols | null;
  /** Buffer's latin1Slice/latin1Write are Node's own (false: the public fallback is installed). */
  readonly fastBuffer: boolean;
}

/** How each internal is looked at; a test passes fakes. A string is why it is not usable. */
export interface Probes {
  tcpWrap(): Handles | string;
  onread(): OnreadSymbols | string;
  fastBuffer(): true | string;
}

/** What replaces each internal, for the log line. */
export const FALLBACKS: Record<InternalName, string> = {
  tcp_wrap: 'net.Socket for tcp listeners (relay) and socket.write for HTTP writes',
  onread: "'data' events for accepted sockets (plain and TLS)",
  onconnection: "net.Server's 'connection' event for accepted sockets",
  fast_buffer: 'plain JavaScript latin1 conversions for Buffer.latin1Slice/latin1Write',
  addon: 'the JavaScript path (as when the addon is not built)',
};

/** The line logged for a missing internal. */
export function missingLine(name: InternalName, why: string): string {
  return `io: Node internal ${name} is not usable (${why}): using ${FALLBACKS[name]} instead`;
}

/** The names in FULCRUM_IO_DISABLE (`all`: every one). */
export function disabledByEnv(value = process.env.FULCRUM_IO_DISABLE): ReadonlySet<InternalName> {
  const out = new Set<InternalName>();
  for (const part of (value ?? '').split(',')) {
    const name = part.trim();
    if (name === 'all') for (const n of INTERNAL_NAMES) out.add(n);
    else if ((INTERNAL_NAMES as readonly string[]).includes(name)) out.add(name as InternalName);
  }
  return out;
}

export const NODE_PROBES: Probes = {
  tcpWrap: probeTcpWrap,
  onread: probeOnread,
  fastBuffer: probeFastBuffer,
};

/**
 * Runs the probes (skipping the disabled ones, which count as missing), calls `report`
 * once per missing internal, and installs the public latin1 methods when Node's are
 * missing. Pure apart from that: for tests.
 */
export function selfTest(disabled: ReadonlySet<InternalName>, probes: Probes, report: (line: string) => void): Internals {
  const off = 'disabled by FULCRUM_IO_DISABLE';
  const tcp = disabled.has('tcp_wrap') ? off : probes.tcpWrap();
  if (typeof tcp === 'string') report(missingLine('tcp_wrap', tcp));
  const onread = disabled.has('onread') ? off : probes.onread();
  if (typeof onread === 'string') report(missingLine('onread', onread));
  const fast = disabled.has('fast_buffer') ? off : probes.fastBuffer();
  if (typeof fast === 'string') {
    report(missingLine('fast_buffer', fast));
    installLatin1Fallback();
  }
  return {
    handles: typeof tcp === 'string' ? null : tcp,
    onread: typeof onread === 'string' ? null : onread,
    fastBuffer: fast === true,
  };
}

let current: Internals | undefined;
let disabled: ReadonlySet<InternalName> | undefined;

/** The self-test's result for this process (run on the first call; log lines then). */
export function internals(): Internals {
  return (current ??= selfTest(disabledInternals(), NODE_PROBES, (line) => log().warn(line)));
}

/** The libuv TCP bindings, or null when the self-test found them unusable. */
export function loadHandles(): Handles | null {
  return internals().handles;
}

/** Whether FULCRUM_IO_DISABLE names `name` (read once per process). */
export function isDisabled(name: InternalName): boolean {
  return disabledInternals().has(name);
}

function disabledInternals(): ReadonlySet<InternalName> {
  return (disabled ??= disabledByEnv());
}

const reported = new Set<InternalName>();

/** Logs the line for an internal found missing outside the self-test (onconnection, addon), once per process. */
export function reportMissing(name: InternalName, why: string): void {
  if (reported.has(name)) return;
  reported.add(name);
  log().warn(missingLine(name, why));
}

/**
 * net.Socket's `onread` option as the HTTP engine uses it beyond the documented part: the
 * private symbols it sets (redirected for TLS sockets and HTTP/2), and `_handle`, through
 * which accepted sockets are re-wrapped. One unconnected Socket, destroyed at once.
 */
function probeOnread(): OnreadSymbols | string {
  try {
    const buffer = Buffer.alloc(1);
    const callback = (): boolean => true;
    const sock = new net.Socket({ onread: { buffer, callback } } as net.SocketConstructorOpts);
    try {
      if (!('_handle' in sock)) return 'net.Socket has no _handle';
      const find = (name: string) => Object.getOwnPropertySymbols(sock).find((s) => s.description === name);
      const b = find('kBuffer');
      const cb = find('kBufferCb');
      const gen = find('kBufferGen');
      if (b === undefined || cb === undefined || gen === undefined) return "net.Socket's kBuffer/kBufferCb/kBufferGen symbols are not there";
      const o = sock as unknown as Record<symbol, unknown>;
      if (o[b] !== buffer || o[cb] !== callback) return "net.Socket's onread symbols do not hold the onread option";
      return { buffer: b, callback: cb, gen };
    } finally {
      sock.destroy();
    }
  } catch (err) {
    return `new net.Socket({ onread }) threw: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function probeFastBuffer(): true | string {
  const proto = Buffer.prototype as unknown as Record<string, unknown>;
  if (typeof proto.latin1Slice !== 'function') return 'Buffer.prototype.latin1Slice is not there';
  if (typeof proto.latin1Write !== 'function') return 'Buffer.prototype.latin1Write is not there';
  try {
    const b = Buffer.from('ab\xe9', 'latin1') as Buffer & { latin1Slice(s: number, e: number): string; latin1Write(s: string, o: number): number };
    if (b.latin1Slice(1, 3) !== 'b\xe9' || b.latin1Write('z', 0) !== 1 || b[0] !== 0x7a) return 'Buffer.prototype.latin1Slice/latin1Write behave differently';
  } catch (err) {
    return `latin1Slice threw: ${err instanceof Error ? err.message : String(err)}`;
  }
  return true;
}

/**
 * The hot path calls buf.latin1Slice/latin1Write (fast-buffer.ts); where Node's are not
 * usable, they are defined on Buffer.prototype in plain JavaScript over indexed access
 * (not over toString/write, which end in these very methods in Node versions that have
 * them: FULCRUM_IO_DISABLE=fast_buffer replaces working ones).
 */
function installLatin1Fallback(): void {
  Object.defineProperty(Buffer.prototype, 'latin1Slice', {
    configurable: true,
    writable: true,
    value: function latin1Slice(this: Uint8Array, start: number, end: number): string {
      const to = Math.min(end, this.length);
      let out = '';
      for (let i = Math.max(0, start); i < to; i += 4096) out += String.fromCharCode.apply(null, this.subarray(i, Math.min(to, i + 4096)) as unknown as number[]);
      return out;
    },
  });
  Object.defineProperty(Buffer.prototype, 'latin1Write', {
    configurable: true,
    writable: true,
    value: function latin1Write(this: Uint8Array, s: string, offset: number): number {
      const n = Math.min(s.length, this.length - offset);
      for (let i = 0; i < n; i++) this[offset + i] = s.charCodeAt(i) & 0xff;
      return n;
    },
  });
}
