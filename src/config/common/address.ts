/**
 * Parsers for the address-like strings of the configuration: listener binds, server
 * addresses, trusted-proxy CIDRs and route host patterns. Each returns the normalised
 * form or throws an Error whose message says what is wrong and what to write instead.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** A host (IP literal without brackets, or a lower-case DNS name) and a port. */
export interface HostPort {
  host: string;
  port: number;
}

/** True for a DNS name made of 1..63-character labels of letters, digits, '-' and '_'. */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.split('.').every((label) => /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i.test(label));
}

function parsePort(text: string, whole: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) throw new Error(`invalid port "${text}" in "${whole}": expected a number from ${allowZero ? 0 : 1} to 65535`);
  const port = Number(text);
  if (port > 65535) throw new Error(`port ${port} in "${whole}" is out of range: expected ${allowZero ? 0 : 1} to 65535`);
  if (port === 0 && !allowZero) throw new Error(`port 0 in "${whole}" cannot be connected to: expected 1 to 65535`);
  return port;
}

function checkHost(host: string, whole: string): string {
  if (isIP(host)) return host;
  if (host.includes(':')) throw new Error(`"${whole}": an IPv6 address needs brackets, e.g. "[::1]:8080"`);
  if (/^[\d.]+$/.test(host)) throw new Error(`"${host}" in "${whole}" is not a valid IPv4 address`);
  if (!isHostname(host)) throw new Error(`"${host}" in "${whole}" is neither an IP address nor a valid host name`);
  return host.toLowerCase();
}

function splitHostPort(s: string, example: string): { host: string; portText: string } {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) throw new Error(`"${s}": missing "]" after the IPv6 address, e.g. "[::1]:8080"`);
    const host = s.slice(1, end);
    if (!isIPv6(host)) throw new Error(`"${host}" in "${s}" is not a valid IPv6 address`);
    const rest = s.slice(end + 1);
    if (!rest.startsWith(':')) throw new Error(`"${s}": missing ":PORT" after the address, e.g. "${example}"`);
    return { host, portText: rest.slice(1) };
  }
  const colon = s.lastIndexOf(':');
  if (colon < 0) throw new Error(`"${s}": missing port; write HOST:PORT, e.g. "${example}"`);
  const host = s.slice(0, colon);
  if (host.includes(':')) {
    if (isIPv6(s)) throw new Error(`"${s}" reads as an IPv6 address without a port: write the address in brackets, then the port, e.g. "[2001:db8::1]:80"`);
    throw new Error(`"${s}": an IPv6 address needs brackets, e.g. "[::1]:8080"`);
  }
  return { host, portText: s.slice(colon + 1) };
}

/**
 * Parses a listener bind: "127.0.0.1:8080", "[::1]:8080", "localhost:8080" or ":8080"
 * (all IPv4 interfaces, host "0.0.0.0"). Port 0 asks the OS for an ephemeral port.
 */
export function parseBind(s: string): HostPort {
  const { host, portText } = splitHostPort(s, '127.0.0.1:8080');
  const port = parsePort(portText, s, true);
  return { host: host === '' ? '0.0.0.0' : checkHost(host, s), port };
}

/** Parses a server address: "192.0.2.11:80", "[2001:db8::1]:80" or "web1.internal:80" (port 1..65535). */
export function parseServerAddress(s: string): HostPort {
  const { host, portText } = splitHostPort(s, '192.0.2.11:80');
  if (host === '') throw new Error(`"${s}": missing host; write HOST:PORT, e.g. "192.0.2.11:80"`);
  return { host: checkHost(host, s), port: parsePort(portText, s, false) };
}

function ipToBigInt(ip: string): bigint {
  if (isIPv4(ip)) return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  let text = ip.split('%')[0]!;
  // An embedded IPv4 tail ("::ffff:192.0.2.1") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipToBigInt(v4[1]!);
    text = `${text.slice(0, v4.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...new Array<string>(missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigIntToIp(n: bigint, v4: boolean): string {
  if (v4) return [24n, 16n, 8n, 0n].map((shift) => String((n >> shift) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((n >> shift) & 0xffffn).toString(16));
  // RFC 5952: the longest run of two or more zero groups (the first on a tie) becomes "::".
  let runStart = -1;
  let runLength = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > runLength && j - i >= 2) [runStart, runLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (runStart < 0) return groups.join(':');
  return `${groups.slice(0, runStart).join(':')}::${groups.slice(runStart + runLength).join(':')}`;
}

/** An IP address in its canonical form: IPv4 as is, IPv6 lower-case and shortened (RFC 5952). */
export function canonicalIp(ip: string): string {
  return isIPv4(ip) ? ip : bigIntToIp(ipToBigInt(ip), false);
}

/**
 * Would binding both (with the same transport) fail with EADDRINUSE? Port 0 never
 * clashes: each gets its own port. A wildcard address covers every address of its family
 * (0.0.0.0 also covers host names, which usually resolve to an IPv4 address; "::" covers
 * both families).
 */
export function bindsClash(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  if (a.host === b.host || a.host === '::' || b.host === '::') return true;
  return (a.host === '0.0.0.0' && !b.host.includes(':')) || (b.host === '0.0.0.0' && !a.host.includes(':'));
}

/**
 * Parses a trusted-proxy entry: a CIDR ("10.0.0.0/8", "2001:db8::/32") or a bare IP
 * (which becomes "/32" or "/128"). Returns "ADDRESS/PREFIX" with the address
 * lower-cased. Refuses host bits set below the prefix ("10.1.2.3/8"), since that is
 * usually a typo, and names the network that was probably meant.
 */
export function parseCidr(s: string): string {
  const slash = s.indexOf('/');
  const address = (slash < 0 ? s : s.slice(0, slash)).toLowerCase();
  const family = isIP(address);
  if (family === 0) throw new Error(`"${s}" is not an IP address or CIDR such as "10.0.0.0/8" or "2001:db8::/32"`);
  const bits = family === 4 ? 32 : 128;
  if (slash < 0) return `${address}/${bits}`;
  const prefixText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw new Error(`invalid prefix length "/${prefixText}" in "${s}": expected 0 to ${bits}`);
  }
  const prefix = Number(prefixText);
  const value = ipToBigInt(address);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const network = bigIntToIp(value & ~hostMask, family === 4);
    throw new Error(`"${s}" has bits set after the /${prefix} prefix; did you mean "${network}/${prefix}"?`);
  }
  return `${address}/${prefix}`;
}

/**
 * Normalises a route host pattern: lower-cases it and strips a port
 * ("WWW.Example.com:8080" -> "www.example.com", "[::1]:80" -> "[::1]"). Accepts an exact
 * name, an IP literal (IPv6 in brackets, as in a Host header) or a leading wildcard label
 * ("*.example.com"); a "*" anywhere else, or alone, is refused.
 */
export function parseHostPattern(s: string): string {
  let host = s.toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    const inner = end < 0 ? '' : host.slice(1, end);
    const rest = end < 0 ? '' : host.slice(end + 1);
    if (!isIPv6(inner) || (rest !== '' && !/^:\d{1,5}$/.test(rest))) {
      throw new Error(`"${s}" is not a valid bracketed IPv6 host such as "[2001:db8::1]"`);
    }
    return `[${inner}]`;
  }
  const colon = host.indexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(host.slice(colon + 1))) {
      throw new Error(`"${s}" is not a host name: write an IPv6 address in brackets ("[::1]"), and a port as digits after ":"`);
    }
    host = host.slice(0, colon);
  }
  if (host === '*') throw new Error(`"*" alone is not a host pattern: leave out \`host\` to match every host`);
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.endsWith('.')) throw new Error(`"${s}": write the host name without the trailing dot (requests for "${name}" match it anyway)`);
  if (name.includes('*')) throw new Error(`"${s}": a wildcard is only allowed as the whole first label, e.g. "*.example.com"`);
  if (!isHostname(name)) throw new Error(`"${s}" is not a valid host name`);
  return host;
}

/**
 * Parses a server's public URL (redirect mode sends clients there): "http://" or
 * "https://", a host, an optional port, and nothing after it but an optional "/", since a
 * redirect appends the request's own path and query. Returns the URL's origin: scheme and
 * host lower-case, the scheme's default port left out, no trailing slash
 * ("HTTPS://S1.Example.com:443/" -> "https://s1.example.com").
 */
export function parseServerUrl(s: string): string {
  if (/\s/.test(s)) throw new Error(`${JSON.stringify(s)}: a URL may not contain spaces`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s);
  if (!scheme) throw new Error(`${JSON.stringify(s)} has no scheme: write "https://${s}" or "http://${s}"`);
  if (!/^https?$/i.test(scheme[1]!)) {
    throw new Error(`${JSON.stringify(s)}: a redirect sends browsers to an http:// or https:// URL, not ${scheme[1]!.toLowerCase()}://`);
  }
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error(`${JSON.stringify(s)} is not a valid URL such as "https://s1.example.com" or "http://192.0.2.11:8080"`);
  }
  const host = url.hostname;
  const hostOk = host.startsWith('[') ? isIPv6(host.slice(1, -1)) : isIPv4(host) || isHostname(host);
  if (!hostOk) throw new Error(`${JSON.stringify(s)}: "${host}" is neither an IP address nor a valid host name`);
  if (url.port === '0') throw new Error(`${JSON.stringify(s)}: port 0 cannot be connected to: expected 1 to 65535`);
  if (url.username !== '' || url.password !== '') {
    throw new Error(`${JSON.stringify(s)}: leave out the user name and password: browsers warn about them, and every client would see them`);
  }
  if (s.includes('?') || s.includes('#') || url.pathname !== '/') {
    throw new Error(`${JSON.stringify(s)}: give only the scheme, host and port, e.g. "${url.origin}": a redirect appends the request's own path and query to it`);
  }
  return url.origin;
}
