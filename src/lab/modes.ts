/**
 * The lab's modes: for each, the `fulcrum run` configuration it generates, the routes the
 * hosts need, where the client starts, and why the numbers come out as they do. Every
 * mode balances the same two servers, S1 192.0.2.11:80 and S2 192.0.2.12:80.
 */
import { type NsProcess, PAIR_ADDRESSES, PAIR_VIRTUAL, ROUTER_IP, SERVER_IPS, VIP } from './topology.js';

export const MODE_NAMES = ['http', 'https', 'tcp', 'udp', 'redirect', 'dns', 'nat', 'fullnat', 'dsr', 'ecmp'] as const;
export type ModeName = (typeof MODE_NAMES)[number];

export interface LabMode {
  name: ModeName;
  title: string;
  /** Needs nftables (the kernel data plane). */
  kernel: boolean;
  /**
   * Both balancers active behind a router (BIRD, on the same link) that spreads the
   * client's flows over them by ECMP: each announces the VIP over BGP and holds it on lo;
   * no VRRP. The in and out columns count both balancers. Needs `bird`.
   */
  ecmp: boolean;
  /** The transfers go in datagrams (src/lab/udp-client.ts) to the VIP's UDP port 80; there is no drill. */
  udp: boolean;
  /** The client speaks HTTPS to the VIP's port 443: the listener terminates TLS with the lab's certificate (TLS_CERT), which openssl makes. */
  tls: boolean;
  /** The client reaches the servers' subnet directly on the shared link (not through the balancer). */
  clientDirect: boolean;
  /** The servers' route back to the client. */
  serverReturn: 'balancer' | 'direct' | 'none';
  /** The servers take the VIP on lo (`fulcrum dsr-server --apply`). */
  dsrServers: boolean;
  /** The YAML for `fulcrum run`; `interval` is the health checks' (default 30s: rare, their bytes stay out of the measurement). */
  config(interval?: string): string;
  /** The log line that says Fulcrum is ready. */
  ready: RegExp;
  /** The client resolves www.example.com at Fulcrum's DNS first. */
  dns: boolean;
  /** Why the numbers are what they are. */
  explain: string;
}

/** The pool every mode balances; checks are rare (by default) so that their bytes stay out of the measurement. */
function pool(withUrls: boolean, interval: string = '30s'): string {
  const url = (i: number) => (withUrls ? `, url: "http://${SERVER_IPS[i]}:80"` : '');
  return `pools:
  web:
    servers:
      - { name: s1, address: "${SERVER_IPS[0]}:80"${url(0)} }
      - { name: s2, address: "${SERVER_IPS[1]}:80"${url(1)} }
    health: { type: http, interval: ${interval}, timeout: 250ms, rise: 1, fall: ${interval === '30s' ? 2 : 1}, http: { path: /health } }
`;
}

function listener(mode: 'http' | 'tcp' | 'udp' | 'redirect', interval?: string, tls = false): string {
  const terminate = tls ? `\n    tls:\n      certificates:\n        - { cert: ${TLS_CERT.cert}, key: ${TLS_CERT.key} }` : '';
  return `listeners:
  - name: www
    bind: "${VIP}:${tls ? 443 : 80}"
    mode: ${mode}${terminate}
    routes:
      - pool: web
${pool(mode === 'redirect', interval)}`;
}

/** Where the client starts in `mode`, and the certificate it trusts (under the configurations' directory `dir`) for https. */
export function clientBase(mode: ModeName, dir: string): { base: string; ca?: string } {
  if (MODES[mode].udp) return { base: `udp://${VIP}:80` };
  return MODES[mode].tls ? { base: `https://${VIP}:443`, ca: `${dir}/${TLS_CERT.cert}` } : { base: `http://${VIP}:80` };
}

/** The HTTPS mode's certificate for www.example.com, self-signed, relative to the configurations' directory (where the lab writes it). */
export const TLS_CERT = { cert: 'tls/www.example.com.pem', key: 'tls/www.example.com.key' } as const;

/**
 * A kernel data plane configuration: service `www` (and with `udp`, service `udp` on the
 * same port) on the VIP, `kind` its mode lines, over the pool `web`.
 */
export function serviceConfig(kind: string, opts: { udp?: boolean; interval?: string } = {}): string {
  const one = (name: string, proto: string) => `  - name: ${name}
    vip: ${VIP}
    port: 80${proto}
    ${kind}
    pool: web
`;
  return `services:\n${one('www', '')}${opts.udp === true ? one('udp', '\n    protocol: udp') : ''}${pool(false, opts.interval)}`;
}

/** One balancer of the lab's pair: its VRRP priority, how often the master advertises, and its own address (its BGP router id). */
export interface PairRole {
  priority: number;
  advertMs: number;
  address: string;
}

/** The two balancers' Fulcrum processes in one mode: the active (VRRP master, the one measured) and its backup. */
export interface Pair {
  active: NsProcess;
  partner: NsProcess;
}

/** The VRRP state a balancer of the pair last logged (MASTER, BACKUP, ...), and how many times it has logged taking over. */
export function vrrpState(p: NsProcess): { last?: string; masters: number } {
  const changes = [...(p.out + p.err).matchAll(/vrrp lab: \w+ -> (\w+)/g)].map((m) => m[1]!);
  return { ...(changes.length === 0 ? {} : { last: changes[changes.length - 1] }), masters: changes.filter((c) => c === 'MASTER').length };
}

/** The balancer that starts as master: the addresses' owner (priority 255) takes them as soon as it starts. */
export const ACTIVE: PairRole = { priority: 255, advertMs: 1000, address: PAIR_ADDRESSES[0][0].split('/')[0]! };
/** Its partner, which takes over after Master_Down_Interval without an advertisement. */
export const PARTNER: PairRole = { priority: 100, advertMs: 1000, address: PAIR_ADDRESSES[1][0].split('/')[0]! };

/** The router's AS and the balancers' (ECMP mode). */
export const ROUTER_ASN = 65000;
export const BALANCER_ASN = 65001;

/**
 * The `bgp:` section of one balancer in the ECMP mode: announce the VIP to the router
 * while a server is usable. No graceful shutdown (5 s by default): the lab stops both
 * balancers at once, with no traffic to move first.
 */
export function bgpSection(role: PairRole): string {
  return `bgp:
  asn: ${BALANCER_ASN}
  router_id: ${role.address}
  hold_time: 9s
  graceful_shutdown: 0s
  peers:
    - { name: router, address: ${ROUTER_IP}, asn: ${ROUTER_ASN} }
  announce:
    - prefix: ${VIP}/32
      when: { pool: web, min_usable: 1 }
`;
}

/**
 * The `vrrp:` section of one balancer of the pair: the VIP, the client's gateway and the
 * servers' way back (nat) move together. Gratuitous ARP three times on taking over and
 * not again: on one bridge nothing is lost, and later ones would land in a measurement.
 */
export function vrrpSection(role: PairRole): string {
  return `vrrp:
  instances:
    - name: lab
      interface: eth0
      vrid: 10
      priority: ${role.priority}
      advert_interval: ${role.advertMs}ms
      virtual_ips: [${PAIR_VIRTUAL.join(', ')}]
      garp: { count: 3, interval: 10ms, repeat_after: 0s }
`;
}

/** A balancer's whole configuration in the lab: the mode's, and its part of the VRRP pair (or, in ECMP, its BGP session). */
export function pairConfig(mode: ModeName, role: PairRole, interval?: string): string {
  return `${MODES[mode].config(interval)}${MODES[mode].ecmp ? bgpSection(role) : vrrpSection(role)}`;
}

const LISTENING = /listening on/;
const RULES = /dataplane: rules applied in \d+ ms \(start\)/;

/** What most modes are: a user-space proxy on the VIP, the servers answering through the balancer. */
const PLAIN = {
  kernel: false,
  tls: false,
  udp: false,
  ecmp: false,
  clientDirect: false,
  serverReturn: 'none',
  dsrServers: false,
  ready: LISTENING,
  dns: false,
} as const satisfies Partial<LabMode>;

export const MODES: Record<ModeName, LabMode> = {
  http: {
    ...PLAIN,
    name: 'http',
    title: 'HTTP proxy',
    config: (i) => listener('http', i),
    explain:
      'Fulcrum ends the client\'s TCP connection and opens its own to S1 or S2, reading each request and answer. Every byte crosses the balancer twice: in from the client and out to the server, then in from the server and out to the client. In and out are each about 100% of the transfer; the CPU is Fulcrum\'s own.',
  },
  https: {
    ...PLAIN,
    name: 'https',
    title: 'HTTPS proxy',
    tls: true,
    config: (i) => listener('http', i, true),
    explain:
      'The HTTP proxy with TLS: Fulcrum holds www.example.com\'s certificate, ends the client\'s TLS connection, and sends each request on to S1 or S2 in plain HTTP. The same bytes cross the balancer as with HTTP, plus TLS\'s records and handshake on the client\'s side (a few percent); the CPU adds the encryption.',
  },
  tcp: {
    ...PLAIN,
    name: 'tcp',
    title: 'TCP proxy',
    config: (i) => listener('tcp', i),
    explain:
      'Like the HTTP proxy, two TCP connections per client, but Fulcrum relays bytes without reading HTTP. The same bytes cross the balancer (in and out about 100% each); less CPU per byte.',
  },
  udp: {
    ...PLAIN,
    name: 'udp',
    title: 'UDP proxy',
    udp: true,
    config: (i) => listener('udp', i),
    explain:
      'Fulcrum keeps a session per client address and port, relays each datagram to the session\'s server from a socket of its own, and the answers back. Every datagram crosses the balancer in and out (about 100% each way); the transfers here go in datagrams of 1400 bytes, each answered by a short one (an upload) or answering a short one (a download), a few in flight at a time.',
  },
  redirect: {
    ...PLAIN,
    name: 'redirect',
    title: 'redirect',
    clientDirect: true,
    serverReturn: 'direct',
    config: (i) => listener('redirect', i),
    explain:
      'The seed\'s "talk to S1 instead": Fulcrum answers the first request with a 307 to S1\'s or S2\'s own address, and the client sends everything after it there. Only the first request and its redirect cross the balancer; an upload waits for "100 Continue", so its body goes to the server only.',
  },
  dns: {
    ...PLAIN,
    name: 'dns',
    title: 'DNS balancing',
    clientDirect: true,
    serverReturn: 'direct',
    config: (i) => `dns:
  listen: ["${VIP}:53"]
  zones:
    - origin: example.com
      pools:
        - { name: www, pool: web, ttl: 20, policy: subset, subset: { size: 1, mode: rotate } }
${pool(false, i)}`,
    ready: /listening on dns:/,
    dns: true,
    explain:
      'Fulcrum is the authoritative DNS server of example.com and answers www.example.com with the address of a healthy server. The client then talks to that server directly: only the DNS query and its answer (about 100 bytes each way) cross the balancer.',
  },
  nat: {
    ...PLAIN,
    name: 'nat',
    title: 'kernel NAT',
    kernel: true,
    serverReturn: 'balancer',
    config: (i) => serviceConfig('mode: nat', { interval: i }),
    ready: RULES,
    explain:
      'Fulcrum programs nftables and the kernel rewrites the destination of each packet from the VIP to S1 or S2; the servers answer through the balancer, which rewrites the source back. Every byte crosses the balancer in and out, but Fulcrum\'s processes spend no CPU on it (the kernel\'s forwarding is not counted here).',
  },
  fullnat: {
    ...PLAIN,
    name: 'fullnat',
    title: 'kernel full NAT',
    kernel: true,
    config: (i) => serviceConfig('mode: nat\n    snat: true', { interval: i }),
    ready: RULES,
    explain:
      'As kernel NAT, and the source is rewritten to the balancer\'s address too, so the servers need no route back through it. The same bytes as NAT cross the balancer; the servers no longer see the client\'s address.',
  },
  dsr: {
    ...PLAIN,
    name: 'dsr',
    title: 'kernel DSR',
    kernel: true,
    serverReturn: 'direct',
    dsrServers: true,
    config: (i) => serviceConfig('mode: dsr\n    interface: eth0', { interval: i }),
    ready: RULES,
    explain:
      'Direct server return: the balancer only changes the destination MAC address of the client\'s packets and sends them on to S1 or S2, which hold the VIP on lo and answer the client straight. The upload crosses the balancer (in and out, about 100% each); the download\'s answer does not: only the client\'s ACKs do. Of the small requests, the requests cross it and the answers do not.',
  },
  ecmp: {
    ...PLAIN,
    name: 'ecmp',
    title: 'BGP + ECMP (DSR)',
    kernel: true,
    ecmp: true,
    serverReturn: 'direct',
    dsrServers: true,
    config: (i) => serviceConfig('mode: dsr\n    interface: eth0', { interval: i }),
    ready: RULES,
    explain:
      'Both balancers are active: each announces the VIP to a router over BGP, and the router spreads the client\'s connections over them by a hash of each connection\'s addresses and ports (ECMP). Each balancer does DSR, with the same Maglev table, so either one sends a connection to the same server. The columns count both balancers together: as DSR, the upload crosses them and the download\'s answer does not; each connection crosses one balancer, and which one changes from run to run. The router carries every byte, as any router on the path does.',
  },
};
