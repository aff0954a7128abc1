/**
 * Steering by a MaxMind GeoIP2 / GeoLite2 database (Country, City or Enterprise): the
 * client's address -> country code -> pool, else continent code -> pool. The database
 * is read at start and re-read whenever its file changes (fs.watch on its directory,
 * plus a modification-time poll); a file that cannot be loaded is reported and changes
 * nothing: without a previous database the names answer as if no `geoip` were set,
 * with one the previous database stays in use.
 *
 * Lookups go through the `maxmind` package's Reader (`getWithPrefixLength`), which also
 * gives the prefix length of the database network that matched: the ECS SCOPE of an
 * answer chosen by the database.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Reader, type CountryResponse } from 'maxmind';
import { FileWatch, fileStamp } from '../core/file-watch.js';
import type { QueryClient } from './policy.js';

/** Decoded database records kept (by data offset); the cache is emptied when full. */
const RECORD_CACHE = 8_192;

/** The `geoip` key of a pool-backed name. */
export interface GeoIpConfig {
  database: string;
  countries: Record<string, string>;
  continents: Record<string, string>;
}

/** What a lookup found. One object per database, reused: read it before the next lookup. */
export interface GeoLookup {
  /** ISO 3166-1 country code of the matched network ("DE"), or undefined. */
  country: string | undefined;
  /** Continent code ("EU"), or undefined. */
  continent: string | undefined;
  /**
   * Prefix length of the database network the address fell in (with or without data):
   * every address sharing this many leading bits gets the same record. -1 when no lookup
   * was made (no database loaded, or an address the database cannot hold).
   */
  prefix: number;
}

/** The decoder cache handed to the Reader: offset -> decoded record, emptied when full. */
class RecordCache {
  private readonly map = new Map<string | number, unknown>();
  get(key: string | number): unknown {
    return this.map.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.map.size >= RECORD_CACHE) this.map.clear();
    this.map.set(key, value);
  }
}

/** Why `buf` is not a usable MaxMind database, or the Reader over it. Throws with a one-line reason. */
function openReader(buf: Buffer): Reader<CountryResponse> {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) throw new Error('the file is gzip-compressed: decompress it (the .mmdb inside the .tar.gz)');
  let reader: Reader<CountryResponse>;
  try {
    reader = new Reader<CountryResponse>(buf, { cache: new RecordCache() });
  } catch (err) {
    throw new Error(`not a MaxMind DB file (${(err as Error).message})`);
  }
  const md = reader.metadata;
  if (md.binaryFormatMajorVersion !== 2) throw new Error(`MaxMind DB format ${md.binaryFormatMajorVersion}, expected 2`);
  if (md.ipVersion !== 4 && md.ipVersion !== 6) throw new Error(`ip_version ${md.ipVersion}, expected 4 or 6`);
  if (![24, 28, 32].includes(md.recordSize)) throw new Error(`record_size ${md.recordSize}, expected 24, 28 or 32`);
  if (md.searchTreeSize + 16 > buf.length) throw new Error('the file is truncated (search tree larger than the file)');
  // A few lookups through the tree and into the data section: a damaged file throws here
  // rather than on a query.
  for (const probe of md.ipVersion === 6 ? ['1.1.1.1', '81.2.69.160', '2001:db8::1', '2a02::1'] : ['1.1.1.1', '81.2.69.160']) {
    try {
      reader.getWithPrefixLength(probe);
    } catch (err) {
      throw new Error(`the file is damaged (looking up ${probe}: ${(err as Error).message})`);
    }
  }
  return reader;
}

/**
 * One database file, shared by every pool-backed name that names it. `reader` is
 * replaced whole on reload; null until a load succeeds.
 */
export class GeoIpDatabase {
  /** The loaded database, or null when none could be loaded yet. */
  reader: Reader<CountryResponse> | null = null;
  /** Successful loads since start (the first included; for tests). */
  loads = 0;
  private readonly result: GeoLookup = { country: undefined, continent: undefined, prefix: -1 };
  private readonly watcher: FileWatch;
  private loading: Promise<boolean> | null = null;
  private again = false;
  private closed = false;
  private lookupFailed = false;

  /** Loads the file now (synchronously); a failure is logged and leaves the database unloaded. */
  constructor(
    readonly path: string,
    private readonly log: (msg: string) => void,
  ) {
    this.watcher = new FileWatch(path, `geoip database ${path}`, () => void this.reload(), log);
    let buf: Buffer;
    try {
      this.watcher.seen(fileStamp(path));
      buf = readFileSync(path);
    } catch (err) {
      this.log(`geoip database ${path}: cannot read it (${reason(err)}); answering without geoip until it can be loaded`);
      return;
    }
    this.install(buf, 'answering without geoip until it can be loaded');
  }

  private install(buf: Buffer, otherwise: string): boolean {
    let reader: Reader<CountryResponse>;
    try {
      reader = openReader(buf);
    } catch (err) {
      this.log(`geoip database ${this.path}: cannot load it: ${(err as Error).message}; ${otherwise}`);
      return false;
    }
    const md = reader.metadata;
    const built = Number.isFinite(md.buildEpoch.getTime()) ? md.buildEpoch.toISOString().slice(0, 10) : 'unknown date';
    this.log(`geoip database ${this.path}: loaded ${md.databaseType} (built ${built}, ${md.nodeCount} nodes)`);
    if (!/country|city|enterprise/i.test(md.databaseType)) {
      this.log(`geoip database ${this.path}: type ${md.databaseType} may have no country or continent data (a GeoIP2/GeoLite2 Country or City database has)`);
    }
    this.reader = reader;
    this.lookupFailed = false;
    this.loads++;
    return true;
  }

  /**
   * Re-reads the file; resolves false (keeping the database in use) when it cannot be
   * read or is not a usable database. Reloads requested while one runs are merged into
   * one more run after it.
   */
  reload(): Promise<boolean> {
    if (this.loading !== null) {
      this.again = true;
      return this.loading;
    }
    const run = async (): Promise<boolean> => {
      let ok: boolean;
      do {
        this.again = false;
        const keep = this.reader === null ? 'answering without geoip until it can be loaded' : 'keeping the previous database';
        let buf: Buffer;
        try {
          this.watcher.seen(fileStamp(this.path));
          buf = await readFile(this.path);
        } catch (err) {
          this.log(`geoip database ${this.path}: cannot read it (${reason(err)}); ${keep}`);
          ok = false;
          continue;
        }
        ok = this.closed ? false : this.install(buf, keep);
      } while (this.again && !this.closed);
      return ok;
    };
    this.loading = run().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  /**
   * Looks `address` up (an IPv4 or IPv6 address as text). Never throws: a lookup the
   * database cannot answer is a miss.
   */
  lookup(address: string): GeoLookup {
    const r = this.result;
    r.country = r.continent = undefined;
    r.prefix = -1;
    const reader = this.reader;
    if (reader === null || address === '') return r;
    if (reader.metadata.ipVersion === 4 && address.includes(':')) return r;
    try {
      const [rec, prefix] = reader.getWithPrefixLength(address);
      r.prefix = prefix;
      if (rec !== null) {
        r.country = rec.country?.iso_code;
        r.continent = rec.continent?.code;
      }
    } catch (err) {
      if (!this.lookupFailed) {
        this.lookupFailed = true;
        this.log(`geoip database ${this.path}: lookup of ${address} failed (${(err as Error).message}); such lookups answer without geoip`);
      }
      r.country = r.continent = undefined;
      r.prefix = -1;
    }
    return r;
  }

  /** Starts watching the file for changes (see FileWatch). */
  watch(): void {
    if (!this.closed) this.watcher.start();
  }

  /** Stops watching. Idempotent. */
  close(): void {
    this.closed = true;
    this.watcher.close();
  }
}

function reason(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** The result of `GeoIpSteering.match`; one object per steering, reused. */
export interface GeoMatch {
  /** The pool the client's country (else continent) maps to; undefined when neither is mapped. */
  pool: string | undefined;
  /** Prefix length of the database network that decided (-1: no lookup was made). */
  prefix: number;
}

/**
 * The `geoip` rule of one pool-backed name: the (shared) database and its country and
 * continent maps. Codes are compared upper-case; entries naming an unknown pool are
 * logged and dropped.
 */
export class GeoIpSteering {
  private readonly countries = new Map<string, string>();
  private readonly continents = new Map<string, string>();
  private readonly result: GeoMatch = { pool: undefined, prefix: -1 };

  constructor(
    readonly config: GeoIpConfig,
    readonly db: GeoIpDatabase,
    knownPools: ReadonlySet<string>,
    log: (msg: string) => void,
    name = '',
  ) {
    for (const [kind, map, into] of [
      ['country', config.countries, this.countries],
      ['continent', config.continents, this.continents],
    ] as const) {
      for (const [code, pool] of Object.entries(map)) {
        if (!knownPools.has(pool)) {
          log(`${name}: geoip ${kind} ${code} -> ${pool} ignored: no pool named ${JSON.stringify(pool)}`);
          continue;
        }
        into.set(code.toUpperCase(), pool);
      }
    }
  }

  /**
   * The pool for a client: its ECS subnet when `ecs` (family 1 or 2, `ecsPrefix` bits of
   * `ecsAddr`; a /0 subnet says nothing about the client and is not looked up), else its
   * address `client` as a socket reports it. Country first, then continent.
   */
  match(ecs: boolean, ecsFamily: number, ecsAddr: Uint8Array, ecsPrefix: number, client: QueryClient): GeoMatch {
    const r = this.result;
    r.pool = undefined;
    r.prefix = -1;
    if (this.db.reader === null) return r;
    let address: string;
    if (ecs) {
      if (ecsPrefix === 0) return r;
      address = ecsFamily === 1 ? ipv4Text(ecsAddr) : ipv6Text(ecsAddr);
    } else {
      address = socketAddress(client.text());
    }
    const found = this.db.lookup(address);
    r.prefix = found.prefix;
    if (found.country !== undefined) r.pool = this.countries.get(found.country);
    if (r.pool === undefined && found.continent !== undefined) r.pool = this.continents.get(found.continent);
    return r;
  }
}

function ipv4Text(a: Uint8Array): string {
  return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
}

function ipv6Text(a: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i += 2) s += (i === 0 ? '' : ':') + ((a[i]! << 8) | a[i + 1]!).toString(16);
  return s;
}

/** A socket's address as the database wants it: IPv4-mapped IPv6 as IPv4, no zone index. */
function socketAddress(client: string): string {
  if (client.startsWith('::ffff:') && client.includes('.')) return client.slice(7);
  const zone = client.indexOf('%');
  return zone >= 0 ? client.slice(0, zone) : client;
}
