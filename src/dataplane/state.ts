/**
 * The desired state of the kernel data plane: what Fulcrum wants the kernel to do, per
 * virtual service, computed in TypeScript (see desired.ts) and turned into nftables rules
 * by the pure renderer (render.ts). Plain data: two equal states render the same rules.
 */
import type { HashInput } from './jhash.js';

/** Seed of the flow hash. Fixed, so two balancers with the same pools pick the same server for a flow. */
export const HASH_SEED = 0x66756c63;

/** The names of the tables Fulcrum owns (one per family); it never touches any other table. */
export const TABLE_NAME = 'fulcrum';

/** A server that gets new flows, as the kernel addresses it. */
export interface Backend {
  /** The server's name in its pool. */
  name: string;
  /** IPv4 address. */
  host: string;
  port: number;
  /** Weight the table was built with. */
  weight: number;
  /** DSR: the server's MAC address on the service's interface (lower-case); null in NAT mode. */
  mac: string | null;
}

/** One virtual service, ready to render. */
export interface ServiceState {
  name: string;
  vip: string;
  ports: number[];
  protocol: 'tcp' | 'udp';
  mode: 'nat' | 'dsr';
  /** nat: null (servers route replies through the balancer), 'masquerade', or an IPv4 address. */
  snat: null | 'masquerade' | string;
  /** nat: only packets arriving here (null: any); dsr: the ingress hook's device and the way out. */
  interface: string | null;
  /** dsr: the interface's own MAC address, the new source of forwarded frames. */
  interfaceMac: string | null;
  hash: HashInput;
  seed: number;
  /** The usable servers the table points into. Empty: no rule, so the balancer itself refuses the flows. */
  backends: Backend[];
  /** Maglev lookup table: entry i is an index into `backends`. Length: the service's table size. */
  table: Int32Array;
}

/** Everything the kernel should hold. */
export interface DesiredState {
  services: ServiceState[];
}
