/**
 * Server names to certificates, as TLS clients check them (RFC 6125 section 6.4.3): an
 * exact name, or a wildcard `*.example.com` that covers exactly one more label
 * (`www.example.com`, not `example.com` nor `a.b.example.com`). An exact name wins over a
 * wildcard; among entries for the same name, the first added wins. Pure: no I/O.
 */
export class SniTable<T> {
  private readonly exact = new Map<string, T>();
  /** Wildcards by the name below the star: "*.example.com" is stored as "example.com". */
  private readonly wildcard = new Map<string, T>();

  /** Adds `value` for `pattern` (lower-case, exact or "*." wildcard) unless already taken. */
  add(pattern: string, value: T): void {
    const map = pattern.startsWith('*.') ? this.wildcard : this.exact;
    const key = pattern.startsWith('*.') ? pattern.slice(2) : pattern;
    if (!map.has(key)) map.set(key, value);
  }

  /** The entry for a server name as a ClientHello sends it (any case, maybe with a trailing dot). O(1). */
  lookup(servername: string): T | undefined {
    let name = servername.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    const dot = name.indexOf('.');
    if (dot <= 0) return undefined;
    return this.wildcard.get(name.slice(dot + 1));
  }

  /** Every pattern held, exact names first (for logs). */
  patterns(): string[] {
    return [...this.exact.keys(), ...[...this.wildcard.keys()].map((k) => `*.${k}`)];
  }
}
