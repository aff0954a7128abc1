/**
 * The authoritative responder: query bytes in, response bytes out, with no sockets. It
 * answers from the zones and, for pool-backed names, from the pools' usable servers.
 *
 * Speed comes from caching encoded answer sections. A response is
 * `header | question | sections | OPT`: the question is copied from the query (so 0x20
 * case randomisation survives byte for byte), the header is written per query (ID, RD,
 * CD, counts), the OPT is written per query (DO bit, ECS echo with its SCOPE), and the
 * sections in between come from a cache. Names in the sections are compressed against
 * the question at offset 12, which sits at the same place in every answer to the same
 * name, so one cached section serves every query for (name, type), and for pool-backed
 * names every query for (name, type, answering pool, pool version, policy choice).
 * A pool's `version` moves on every health or weight change, so the next answer after
 * a transition is rebuilt from the new usable set.
 */
import type { Pool } from '../backend/pool.js';
import type { Server } from '../backend/server.js';
import type { DnsConfig } from '../config/types.js';
import { GeoIpDatabase, GeoIpSteering } from './geoip.js';
import { PoolAnswer, PoolView, TextClient, type Family, type QueryClient } from './policy.js';
import { SteeringTable } from './steering.js';
import { NameNode, Zone, ZoneSet } from './zone.js';
import {
  CLASS,
  EDNS_UDP_MAX,
  isAtOrBelow,
  keyToDotted,
  MessageWriter,
  OPTION_ECS,
  ParsedQuery,
  parseQuery,
  ParseStatus,
  RCODE,
  TCP_MAX,
  TYPE,
  UDP_PLAIN_MAX,
} from './wire.js';
import { log } from '../core/log.js';
import type { DnsTally, RcodeRow } from '../metrics/dns-tally.js';

/** How the query arrived: limits the answer size (UDP) and allows zone transfers (TCP). */
export type Transport = 'udp' | 'tcp';

/** Encoded sections of an answer plus what the header needs to describe them. */
interface Body {
  readonly rcode: number;
  readonly aa: boolean;
  readonly an: number;
  readonly ns: number;
  readonly ar: number;
  /** Answer, authority and additional records, compressed against a question at offset 12. */
  readonly bytes: Buffer;
}

interface Cname {
  owner: string;
  ttl: number;
  target: string;
}

/** An answer that never changes: encoded once. */
interface StaticRoute {
  readonly kind: 'static';
  readonly body: Body;
}

/** An answer that ends at a pool-backed name: one cached body per selection. */
interface PoolRoute {
  readonly kind: 'pool';
  /** The queried name (where the chain starts). */
  readonly qname: string;
  readonly chain: Cname[];
  readonly node: NameNode;
  readonly family: Family;
  readonly answer: PoolAnswer;
  readonly cache: Map<number, { view: PoolView; version: number; body: Body }>;
}

type Route = StaticRoute | PoolRoute;

/** Counters, for tests and metrics. Monotonic. */
export interface ResponderStats {
  queries: number;
  dropped: number;
  /** Answers built from scratch (cache misses) for pool-backed names. */
  poolBuilds: number;
  truncated: number;
  byRcode: Record<number, number>;
}

/** Options of a Responder. */
export interface ResponderOptions {
  /** Where problems (steering file lines, ...) are reported; default stderr. */
  log?: (msg: string) => void;
  /** Random source of weighted policies; default Math.random. */
  random?: () => number;
  /** Watch steering files and GeoIP databases for changes (default true). */
  watch?: boolean;
  /** Counts answers by zone, name and rcode (metrics); it outlives the responder. */
  tally?: DnsTally;
}

const EMPTY = Buffer.alloc(0);
/** The client of zone transfers: none (steering is not consulted). */
const NO_CLIENT = new TextClient('');
/** Longest CNAME chain followed inside a zone. */
const MAX_CHAIN = 8;
/** AXFR messages are cut after this many octets. */
const AXFR_CHUNK = 16_000;

const QTYPE_FAMILY = (qtype: number): Family | 0 => (qtype === TYPE.A ? 4 : qtype === TYPE.AAAA ? 6 : 0);

/**
 * Answers DNS queries for the configured zones. Build one per server; `respond` is
 * synchronous, never throws on any input and keeps no per-query state after it returns.
 */
export class Responder {
  /** The zones, built from the configuration. */
  readonly zones: ZoneSet;
  /** Counters since construction. */
  readonly stats: ResponderStats = { queries: 0, dropped: 0, poolBuilds: 0, truncated: 0, byRcode: {} };
  private readonly q = new ParsedQuery();
  private readonly answers = new Map<NameNode, PoolAnswer>();
  private readonly steering: SteeringTable[] = [];
  /** GeoIP databases by path (names that share a file share one reader). */
  private readonly geoip = new Map<string, GeoIpDatabase>();
  private readonly nxCache = new Map<Zone, Map<number, Body>>();
  private readonly log: (msg: string) => void;
  private readonly tally: DnsTally | null;
  /** The tally's row of each name (or zone, for names it does not have; null: no zone of ours). */
  private readonly rows = new Map<NameNode | Zone | null, RcodeRow>();
  /** What the query being answered is about, for the tally. */
  private about: NameNode | Zone | null = null;
  /** The client of `respond` and `respondAll` queries. */
  private readonly textClient = new TextClient();
  /** Where `finish` writes the answer of `respondInto` (null: a new Buffer), and how much it wrote. */
  private out: Buffer | null = null;
  private outAt = 0;
  private outMax = 0;
  private written = 0;

  /**
   * Builds the zones and the pool-backed names' runtimes (and loads steering files and
   * GeoIP databases; one that cannot be loaded is logged, never thrown).
   * Throws an Error naming the zone and record on bad zone data or an unknown pool.
   */
  constructor(cfg: DnsConfig, pools: ReadonlyMap<string, Pool>, opts: ResponderOptions = {}) {
    this.log = opts.log ?? ((msg) => log().warn(`dns: ${msg}`));
    this.tally = opts.tally ?? null;
    this.zones = new ZoneSet(cfg.zones);
    const views = new Map<string, PoolView>();
    const viewOf = (name: string) => {
      const pool = pools.get(name);
      if (pool === undefined) return undefined;
      let v = views.get(name);
      if (v === undefined) views.set(name, (v = new PoolView(pool)));
      return v;
    };
    const known = new Set(pools.keys());
    for (const zone of this.zones.zones) {
      for (const node of zone.nodes.values()) {
        const pc = node.pool;
        if (pc === null) continue;
        let steering: SteeringTable | null = null;
        if (pc.steering.length > 0 || pc.steeringFile !== null) {
          steering = new SteeringTable(pc.steering, pc.steeringFile, known, this.log);
          this.steering.push(steering);
          if (opts.watch !== false) steering.watch();
        }
        let geoip: GeoIpSteering | null = null;
        if (pc.geoip !== null) {
          let db = this.geoip.get(pc.geoip.database);
          if (db === undefined) {
            db = new GeoIpDatabase(pc.geoip.database, this.log);
            this.geoip.set(pc.geoip.database, db);
            if (opts.watch !== false) db.watch();
          }
          geoip = new GeoIpSteering(pc.geoip, db, known, this.log, pc.name);
        }
        this.answers.set(node, new PoolAnswer(pc, viewOf, steering, pools, opts.random, geoip));
      }
    }
  }

  /** Stops watching steering files and GeoIP databases. */
  close(): void {
    for (const s of this.steering) s.close();
    for (const g of this.geoip.values()) g.close();
  }

  /** The steering tables of the pool-backed names (for tests: reload, inspect). */
  steeringTables(): readonly SteeringTable[] {
    return this.steering;
  }

  /** The GeoIP databases in use, one per file (for tests: reload, inspect). */
  geoipDatabases(): readonly GeoIpDatabase[] {
    return [...this.geoip.values()];
  }

  /**
   * Answers one query: the response bytes, or null when the packet must be dropped
   * (shorter than a header, or QR=1; over TCP the caller should close the connection).
   * `client` is the sender's address as the socket reports it (used for steering when
   * the query has no Client Subnet option). A zone transfer larger than one message
   * answers only its first message here: use `respondAll`.
   */
  respond(query: Buffer, client: string, transport: Transport): Buffer | null {
    this.textClient.address = client;
    try {
      return this.answer(query, this.textClient, transport, null);
    } catch (err) {
      return this.internalError(query, err);
    }
  }

  /**
   * Answers one query that came over UDP into `out` at `at` (at most `max` octets), for
   * sockets that send answers in batches: the answer's length, or 0 when the packet is
   * dropped (as `respond` returning null) or its answer does not fit.
   */
  respondInto(query: Buffer, client: QueryClient, out: Buffer, at: number, max: number): number {
    this.out = out;
    this.outAt = at;
    this.outMax = max;
    this.written = 0;
    let r: Buffer | null;
    try {
      r = this.answer(query, client, 'udp', null);
    } catch (err) {
      r = this.internalError(query, err);
    } finally {
      this.out = null;
    }
    if (r === null) return 0;
    if (r === out) return this.written;
    if (r.length > max) return 0;
    r.copy(out, at);
    return r.length;
  }

  /**
   * Like `respond`, but returns every message of the answer: one, except for zone
   * transfers over TCP. An empty array means drop.
   */
  respondAll(query: Buffer, client: string, transport: Transport): Buffer[] {
    const out: Buffer[] = [];
    this.textClient.address = client;
    try {
      const first = this.answer(query, this.textClient, transport, out);
      if (first !== null && out.length === 0) out.push(first);
    } catch (err) {
      const r = this.internalError(query, err);
      return r === null ? [] : [r];
    }
    return out;
  }

  /** Programming errors must not take the server down: answer SERVFAIL and report once per kind. */
  private internalError(query: Buffer, err: unknown): Buffer | null {
    this.log(`internal error while answering a query: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (query.length < 12 || (query[2]! & 0x80) !== 0) return null;
    return this.bare(query, RCODE.SERVFAIL, false);
  }

  private answer(query: Buffer, client: QueryClient, transport: Transport, all: Buffer[] | null): Buffer | null {
    const q = this.q;
    this.stats.queries++;
    this.about = null;
    const st = parseQuery(query, q);
    if (st !== ParseStatus.OK) {
      switch (st) {
        case ParseStatus.DROP:
          this.stats.dropped++;
          return null;
        case ParseStatus.NOTIMP:
          return this.bare(query, RCODE.NOTIMP, q.questionEnd > 0);
        case ParseStatus.BADVERS:
          return this.finish(query, q, RCODE.BADVERS, false, 0, 0, 0, EMPTY, 0, transport);
        default:
          return this.bare(query, RCODE.FORMERR, q.questionEnd > 0);
      }
    }
    const qtype = q.qtype;
    if (q.qclass !== CLASS.IN && q.qclass !== CLASS.ANY) return this.finish(query, q, RCODE.REFUSED, false, 0, 0, 0, EMPTY, 0, transport);
    if (qtype === TYPE.OPT) return this.bare(query, RCODE.FORMERR, true);
    if (qtype === TYPE.MAILA || qtype === TYPE.MAILB) return this.finish(query, q, RCODE.NOTIMP, false, 0, 0, 0, EMPTY, 0, transport);

    const node = this.zones.node(q.qname);
    this.about = node ?? null;
    if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) return this.transfer(query, q, node, transport, all);
    if (node === undefined) {
      const zone = this.zones.zoneOf(q.qname);
      if (zone === undefined) return this.finish(query, q, RCODE.REFUSED, false, 0, 0, 0, EMPTY, 0, transport);
      this.about = zone;
      return this.sendBody(query, q, this.nxdomain(zone, q.qname.length), 0, transport);
    }
    if (qtype === TYPE.ANY) return this.sendBody(query, q, this.anyBody(node, q, client, transport === 'udp'), 0, transport);

    let route = node.answers.get(qtype) as Route | undefined;
    if (route === undefined) {
      route = this.route(node, qtype);
      node.answers.set(qtype, route);
    }
    if (route.kind === 'static') return this.sendBody(query, q, route.body, 0, transport);

    const sel = route.answer.select(route.family, q.ecs, q.ecsFamily, q.ecsAddress, q.ecsSourcePrefix, client);
    let body: Body;
    if (sel.key >= 0) {
      const ck = sel.poolIndex * 0x1000000 + sel.key;
      const hit = route.cache.get(ck);
      if (hit !== undefined && hit.view === sel.view && hit.version === sel.view.version) body = hit.body;
      else {
        body = this.poolBody(route, sel.servers(), sel.view);
        route.cache.set(ck, { view: sel.view, version: sel.view.version, body });
      }
    } else {
      body = this.poolBody(route, sel.servers(), sel.view);
    }
    return this.sendBody(query, q, body, sel.scope, transport);
  }

  // ---- building sections ----------------------------------------------------------------

  private static body(qname: string, rcode: number, aa: boolean, fill: (w: MessageWriter) => { an: number; ns: number; ar?: number }): Body {
    const start = 12 + qname.length + 4;
    const w = new MessageWriter(start);
    w.seedQuestion(qname);
    const c = fill(w);
    return { rcode, aa, an: c.an, ns: c.ns, ar: c.ar ?? 0, bytes: w.slice(start) };
  }

  private static soaAuthority(w: MessageWriter, zone: Zone): void {
    w.record(zone.origin, TYPE.SOA, zone.negativeTtl, zone.soaRdata);
  }

  private static cnames(w: MessageWriter, chain: readonly Cname[]): void {
    for (const c of chain) w.record(c.owner, TYPE.CNAME, c.ttl, (x) => x.name(c.target));
  }

  /** Follows CNAMEs inside the zone and decides what kind of answer (node, qtype) has. */
  private route(node: NameNode, qtype: number): Route {
    const zone = node.zone;
    const qname = node.key;
    const chain: Cname[] = [];
    const seen = new Set<string>([node.key]);
    const family = QTYPE_FAMILY(qtype);
    let cur = node;
    for (;;) {
      if (family !== 0 && cur.pool !== null) {
        return { kind: 'pool', qname, chain, node: cur, family, answer: this.answers.get(cur)!, cache: new Map() };
      }
      const set = cur.rrsets.get(qtype);
      if (set !== undefined) {
        const owner = cur.key;
        return {
          kind: 'static',
          body: Responder.body(qname, RCODE.NOERROR, true, (w) => {
            Responder.cnames(w, chain);
            for (const rd of set.rdata) w.record(owner, set.type, set.ttl, rd);
            return { an: chain.length + set.rdata.length, ns: 0 };
          }),
        };
      }
      const cn = qtype === TYPE.CNAME ? undefined : cur.rrsets.get(TYPE.CNAME);
      if (cn === undefined || cn.target === undefined) {
        // NODATA (also for empty non-terminals): SOA in authority (RFC 2308).
        return {
          kind: 'static',
          body: Responder.body(qname, RCODE.NOERROR, true, (w) => {
            Responder.cnames(w, chain);
            Responder.soaAuthority(w, zone);
            return { an: chain.length, ns: 1 };
          }),
        };
      }
      chain.push({ owner: cur.key, ttl: cn.ttl, target: cn.target });
      const target = cn.target;
      const next = this.zones.node(target);
      const inZone = isAtOrBelow(target, zone.origin) && (next === undefined || next.zone === zone);
      if (!inZone || seen.has(target) || chain.length >= MAX_CHAIN) {
        // Out of the zone (the resolver follows it), or a loop: the chain so far.
        return { kind: 'static', body: Responder.body(qname, RCODE.NOERROR, true, (w) => (Responder.cnames(w, chain), { an: chain.length, ns: 0 })) };
      }
      if (next === undefined) {
        // The target does not exist in our zone: NXDOMAIN (RFC 6604) after the chain.
        return {
          kind: 'static',
          body: Responder.body(qname, RCODE.NXDOMAIN, true, (w) => {
            Responder.cnames(w, chain);
            Responder.soaAuthority(w, zone);
            return { an: chain.length, ns: 1 };
          }),
        };
      }
      seen.add(target);
      cur = next;
    }
  }

  private poolBody(route: PoolRoute, servers: readonly Server[], view: PoolView): Body {
    this.stats.poolBuilds++;
    const owner = route.node.key;
    const type = route.family === 4 ? TYPE.A : TYPE.AAAA;
    const ttl = route.answer.config.ttl;
    const zone = route.node.zone;
    return Responder.body(route.qname, RCODE.NOERROR, true, (w) => {
      Responder.cnames(w, route.chain);
      for (const s of servers) {
        const addr = view.address(s);
        w.record(owner, type, ttl, (x) => x.bytes(addr));
      }
      if (servers.length === 0) {
        Responder.soaAuthority(w, zone);
        return { an: route.chain.length, ns: 1 };
      }
      return { an: route.chain.length + servers.length, ns: 0 };
    });
  }

  /** NXDOMAIN for a name `qnameLength` octets long in `zone`: depends only on where the apex sits in the question. */
  private nxdomain(zone: Zone, qnameLength: number): Body {
    let byLen = this.nxCache.get(zone);
    if (byLen === undefined) this.nxCache.set(zone, (byLen = new Map()));
    let body = byLen.get(qnameLength);
    if (body === undefined) {
      // Any name of this length ending in the apex compresses the same way: the SOA
      // owner is a pointer to where the apex starts inside the question.
      const at = 12 + qnameLength - zone.origin.length;
      const start = 12 + qnameLength + 4;
      const w = new MessageWriter(start);
      w.u16(0xc000 | at);
      w.u16(TYPE.SOA);
      w.u16(CLASS.IN);
      w.u32(zone.negativeTtl);
      const lenAt = w.pos;
      w.u16(0);
      zone.soaRdata(w);
      w.buf.writeUInt16BE(w.pos - lenAt - 2, lenAt);
      body = { rcode: RCODE.NXDOMAIN, aa: true, an: 0, ns: 1, ar: 0, bytes: w.slice(start) };
      byLen.set(qnameLength, body);
    }
    return body;
  }

  /**
   * ANY: every record set at the name (a CNAME alone), pool-backed addresses included.
   * Over UDP (`one`), only one record set, as RFC 8482 section 4.1 allows, so that a
   * small spoofed query cannot draw a large answer: the pool's addresses of one family
   * when the name has them, else its first static set. Not cached.
   */
  private anyBody(node: NameNode, q: ParsedQuery, client: QueryClient, one: boolean): Body {
    const answer = this.answers.get(node);
    const picked: Array<{ type: number; addr: Uint8Array }> = [];
    if (answer !== undefined) {
      for (const family of [4, 6] as const) {
        const sel = answer.select(family, q.ecs, q.ecsFamily, q.ecsAddress, q.ecsSourcePrefix, client);
        for (const s of sel.servers()) picked.push({ type: family === 4 ? TYPE.A : TYPE.AAAA, addr: sel.view.address(s) });
        if (one && picked.length > 0) break;
      }
    }
    return Responder.body(node.key, RCODE.NOERROR, true, (w) => {
      let an = 0;
      for (const set of node.rrsets.values()) {
        if (one && (an > 0 || picked.length > 0)) break;
        for (const rd of set.rdata) w.record(node.key, set.type, set.ttl, rd);
        an += set.rdata.length;
      }
      const ttl = answer?.config.ttl ?? 0;
      for (const p of picked) w.record(node.key, p.type, ttl, (x) => x.bytes(p.addr));
      an += picked.length;
      if (an === 0) {
        Responder.soaAuthority(w, node.zone);
        return { an: 0, ns: 1 };
      }
      return { an, ns: 0 };
    });
  }

  /**
   * AXFR (and IXFR, answered with the whole zone as RFC 1995 section 4 allows) when the
   * zone allows transfers: over TCP only, from the apex, SOA first and last. IXFR over
   * UDP gets the SOA alone (the client then retries over TCP).
   */
  private transfer(query: Buffer, q: ParsedQuery, node: NameNode | undefined, transport: Transport, all: Buffer[] | null): Buffer | null {
    const zone = node?.zone ?? this.zones.zoneOf(q.qname);
    if (zone === undefined) return this.finish(query, q, RCODE.REFUSED, false, 0, 0, 0, EMPTY, 0, transport);
    if (!zone.config.transfer) return this.finish(query, q, RCODE.NOTIMP, false, 0, 0, 0, EMPTY, 0, transport);
    if (node !== zone.apex) return this.finish(query, q, 9 /* NOTAUTH */, false, 0, 0, 0, EMPTY, 0, transport);
    if (transport === 'udp') {
      if (q.qtype === TYPE.AXFR) return this.finish(query, q, RCODE.NOTIMP, false, 0, 0, 0, EMPTY, 0, transport);
      const soa = Responder.body(zone.origin, RCODE.NOERROR, true, (w) => {
        w.record(zone.origin, TYPE.SOA, zone.config.soa.ttl, zone.soaRdata);
        return { an: 1, ns: 0 };
      });
      return this.sendBody(query, q, soa, 0, transport);
    }
    // Records as writers, packed greedily into messages.
    const recs: Array<(w: MessageWriter) => void> = [];
    const soa = (w: MessageWriter) => w.record(zone.origin, TYPE.SOA, zone.config.soa.ttl, zone.soaRdata);
    recs.push(soa);
    for (const n of zone.walk()) {
      for (const set of n.rrsets.values()) {
        if (set.type === TYPE.SOA) continue;
        for (const rd of set.rdata) recs.push((w) => w.record(n.key, set.type, set.ttl, rd));
      }
      const answer = this.answers.get(n);
      if (answer !== undefined) {
        for (const family of [4, 6] as const) {
          const sel = answer.select(family, false, 0, q.ecsAddress, 0, NO_CLIENT);
          for (const s of sel.servers()) {
            const addr = sel.view.address(s);
            recs.push((w) => w.record(n.key, family === 4 ? TYPE.A : TYPE.AAAA, answer.config.ttl, (x) => x.bytes(addr)));
          }
        }
      }
    }
    recs.push(soa);
    const msgs: Buffer[] = [];
    const start = 12 + q.qname.length + 4;
    let w = new MessageWriter(start, AXFR_CHUNK + 1024);
    w.seedQuestion(q.qname);
    let count = 0;
    const flush = () => {
      const body: Body = { rcode: RCODE.NOERROR, aa: true, an: count, ns: 0, ar: 0, bytes: w.slice(start) };
      msgs.push(this.finish(query, q, body.rcode, true, body.an, 0, 0, body.bytes, 0, 'tcp'));
      w = new MessageWriter(start, AXFR_CHUNK + 1024);
      w.seedQuestion(q.qname);
      count = 0;
    };
    for (const r of recs) {
      r(w);
      count++;
      if (w.pos > AXFR_CHUNK) flush();
    }
    if (count > 0) flush();
    if (all !== null) all.push(...msgs);
    return msgs[0]!;
  }

  // ---- assembling the message ---------------------------------------------------------

  private sendBody(query: Buffer, q: ParsedQuery, body: Body, scope: number, transport: Transport): Buffer {
    return this.finish(query, q, body.rcode, body.aa, body.an, body.ns, body.ar, body.bytes, scope, transport);
  }

  /**
   * header | question (copied from the query) | sections | OPT (when the query had EDNS).
   * Over UDP an answer larger than the limit (512, or the client's EDNS size capped at
   * 1232) is replaced by an empty one with TC=1.
   */
  private finish(query: Buffer, q: ParsedQuery, rcode: number, aa: boolean, an: number, ns: number, ar: number, sections: Buffer, scope: number, transport: Transport): Buffer {
    const qEnd = q.questionEnd;
    const opt = q.edns ? 11 + (q.ecs ? 4 + q.ecsLength : 0) : 0;
    let total = qEnd + sections.length + opt;
    const limit = transport === 'tcp' ? TCP_MAX : q.edns ? Math.min(Math.max(q.udpSize, UDP_PLAIN_MAX), EDNS_UDP_MAX) : UDP_PLAIN_MAX;
    let tc = 0;
    if (total > limit) {
      tc = 0x02;
      an = ns = ar = 0;
      sections = EMPTY;
      total = qEnd + opt;
      this.stats.truncated++;
    }
    let out: Buffer;
    let o = 0;
    if (this.out !== null && total <= this.outMax) {
      out = this.out;
      o = this.outAt;
      this.written = total;
    } else {
      out = Buffer.allocUnsafe(total);
    }
    out[o] = query[0]!;
    out[o + 1] = query[1]!;
    out[o + 2] = 0x80 | (query[2]! & 0x79) | (aa ? 0x04 : 0) | tc; // QR, opcode and RD copied
    out[o + 3] = (query[3]! & 0x10) | (rcode & 0x0f); // CD copied
    out[o + 4] = 0;
    out[o + 5] = 1;
    out[o + 6] = an >> 8;
    out[o + 7] = an & 0xff;
    out[o + 8] = ns >> 8;
    out[o + 9] = ns & 0xff;
    const arAll = ar + (opt > 0 ? 1 : 0);
    out[o + 10] = arAll >> 8;
    out[o + 11] = arAll & 0xff;
    // Loops, not Buffer.copy: these runs are tens of octets, shorter than copy's own cost.
    let p = o + 12;
    for (let i = 12; i < qEnd; i++) out[p++] = query[i]!;
    for (let i = 0, n = sections.length; i < n; i++) out[p++] = sections[i]!;
    if (opt > 0) {
      out[p] = 0; // root owner
      out[p + 1] = 0;
      out[p + 2] = TYPE.OPT;
      out[p + 3] = EDNS_UDP_MAX >> 8;
      out[p + 4] = EDNS_UDP_MAX & 0xff;
      out[p + 5] = rcode >> 4; // extended RCODE
      out[p + 6] = 0; // version
      out[p + 7] = q.dnssecOk ? 0x80 : 0;
      out[p + 8] = 0;
      const rdlen = opt - 11;
      out[p + 9] = rdlen >> 8;
      out[p + 10] = rdlen & 0xff;
      if (q.ecs) {
        const e = p + 11;
        out[e] = OPTION_ECS >> 8;
        out[e + 1] = OPTION_ECS & 0xff;
        out[e + 2] = q.ecsLength >> 8;
        out[e + 3] = q.ecsLength & 0xff;
        for (let i = 0; i < q.ecsLength; i++) out[e + 4 + i] = query[q.ecsOffset + i]!;
        out[e + 4 + 3] = scope; // SCOPE PREFIX-LENGTH; FAMILY, SOURCE and ADDRESS echoed as sent
      }
    }
    this.count(rcode);
    return out;
  }

  /** A response with no records: the header, the question when it could be read, no OPT (FORMERR, NOTIMP, SERVFAIL). */
  private bare(query: Buffer, rcode: number, withQuestion: boolean): Buffer {
    const qEnd = withQuestion ? this.q.questionEnd : 12;
    const out = Buffer.alloc(qEnd);
    out[0] = query[0]!;
    out[1] = query[1]!;
    out[2] = 0x80 | (query[2]! & 0x79);
    out[3] = (query[3]! & 0x10) | (rcode & 0x0f);
    if (withQuestion) {
      out[5] = 1;
      query.copy(out, 12, 12, qEnd);
    }
    this.count(rcode);
    return out;
  }

  private count(rcode: number): void {
    const by = this.stats.byRcode;
    by[rcode] = (by[rcode] ?? 0) + 1;
    if (this.tally !== null) {
      const about = this.about;
      let row = this.rows.get(about);
      if (row === undefined) {
        const zone = about === null ? '' : about instanceof Zone ? about.origin : about.zone.origin;
        row = this.tally.row(zone === '' ? '' : keyToDotted(zone), about instanceof NameNode ? keyToDotted(about.key) : '');
        this.rows.set(about, row);
      }
      if (rcode < row.length) row[rcode]!++;
    }
  }
}
