/**
 * Metric families in prom-client's JSON form (what a metric's `get()` answers), built
 * from plain snapshots. Every metric Fulcrum exposes is declared here once, with its
 * type and help text.
 */

export type FamilyType = 'counter' | 'gauge' | 'histogram';
export type Labels = Record<string, string | number>;

/** One sample: `metricName` is set for a histogram's _bucket, _sum and _count. */
export interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
  /**
   * Always NO_SHARED_LABELS: prom-client's writer caches the text of a sample's shared
   * labels by object, and makes a new empty object (a cache miss) for a sample without.
   */
  sharedLabels: Labels;
}

const NO_SHARED_LABELS: Labels = Object.freeze({});

export interface Family {
  name: string;
  help: string;
  type: FamilyType;
  values: Sample[];
}

export interface Def {
  readonly name: string;
  readonly type: FamilyType;
  readonly help: string;
}

const def = (name: string, type: FamilyType, help: string): Def => ({ name, type, help });

export const M = {
  listenerConnectionsTotal: def('fulcrum_listener_connections_total', 'counter', 'Client connections accepted by the listener (UDP: sessions opened).'),
  listenerLimitedTotal: def('fulcrum_listener_limited_total', 'counter', 'Refused by the listener\'s limits, counted across workers: limit="connections" (over max_connections_per_client) and "new_connections" (over new_connections_per_client) closed at accept; "requests" answered 429 by a route\'s rate_limit.'),
  listenerConnections: def('fulcrum_listener_connections', 'gauge', 'Client connections open on the listener now (UDP: sessions).'),
  listenerRequestsTotal: def('fulcrum_listener_requests_total', 'counter', 'HTTP answers sent by the listener, by status class, Fulcrum\'s own included.'),
  serverRequestsTotal: def('fulcrum_server_requests_total', 'counter', 'Requests (HTTP) or connections and sessions (TCP, UDP) sent to the server.'),
  serverErrorsTotal: def('fulcrum_server_errors_total', 'counter', 'Failures of the server by kind: connect, reset, timeout, 5xx.'),
  serverRetriesTotal: def('fulcrum_server_retries_total', 'counter', 'Requests or connections tried again after this server failed them.'),
  serverActive: def('fulcrum_server_active', 'gauge', 'Requests or connections in progress on the server now.'),
  poolQueued: def('fulcrum_pool_queued', 'gauge', 'Requests or connections waiting in the pool\'s queue now.'),
  serverResponseSeconds: def('fulcrum_server_response_seconds', 'histogram', 'HTTP: from sending the request to the server to the last byte of its response.'),
  serverUp: def('fulcrum_server_up', 'gauge', '1 when active health checks say the server is up (or it has none), else 0.'),
  serverState: def('fulcrum_server_state', 'gauge', 'The operator\'s state of the server: 1 for the current one of ready, drain, maint.'),
  serverWeight: def('fulcrum_server_weight', 'gauge', 'The server\'s weight.'),
  serverEjected: def('fulcrum_server_ejected', 'gauge', '1 while passive health (outlier detection) of some worker has the server ejected.'),
  serverEjectionsTotal: def('fulcrum_server_ejections_total', 'counter', 'Ejections of the server by passive health, over all workers.'),
  healthChecksTotal: def('fulcrum_health_checks_total', 'counter', 'Active health checks of the server, by result: pass, fail.'),
  healthCheckSeconds: def('fulcrum_health_check_duration_seconds', 'histogram', 'How long active health checks of the server took.'),
  dnsQueriesTotal: def('fulcrum_dns_queries_total', 'counter', 'DNS answers by zone, name ("" for names the zone does not have) and response code.'),
  dataplanePacketsTotal: def('fulcrum_dataplane_packets_total', 'counter', 'Packets the kernel data plane sent to the server for the virtual service (nftables counters).'),
  dataplaneBytesTotal: def('fulcrum_dataplane_bytes_total', 'counter', 'Bytes the kernel data plane sent to the server for the virtual service (nftables counters).'),
  vrrpState: def('fulcrum_vrrp_state', 'gauge', 'The VRRP instance\'s state: 1 for the current one of init, backup, master, fault.'),
  vrrpTransitionsTotal: def('fulcrum_vrrp_transitions_total', 'counter', 'State changes of the VRRP instance.'),
  bgpSessionUp: def('fulcrum_bgp_session_up', 'gauge', '1 while the BGP session with the peer is established, else 0.'),
  bgpBfdUp: def('fulcrum_bgp_bfd_up', 'gauge', '1 while BFD with the peer is up, else 0 (only peers with bfd).'),
  bgpEstablishedTotal: def('fulcrum_bgp_established_total', 'counter', 'Times the BGP session with the peer became established.'),
  bgpUpdatesSentTotal: def('fulcrum_bgp_updates_sent_total', 'counter', 'BGP UPDATE messages sent to the peer.'),
  bgpNotificationsTotal: def('fulcrum_bgp_notifications_total', 'counter', 'BGP NOTIFICATION messages with the peer, by direction: sent, received.'),
  bgpRouteAnnounced: def('fulcrum_bgp_route_announced', 'gauge', '1 while the prefix is announced (its condition holds), else 0.'),
  workers: def('fulcrum_workers', 'gauge', 'Worker processes running (draining ones included).'),
  reloadsTotal: def('fulcrum_reloads_total', 'counter', 'Configuration reloads, by result: ok, failed.'),
  processCpuSecondsTotal: def('fulcrum_process_cpu_seconds_total', 'counter', 'User and system CPU time of the process (primary or worker-ID).'),
  processResidentMemoryBytes: def('fulcrum_process_resident_memory_bytes', 'gauge', 'Resident memory of the process (primary or worker-ID).'),
  info: def('fulcrum_info', 'gauge', 'Always 1; the version is a label.'),
} as const;

/** Collects samples by family, in the order first added. */
export class FamilySet {
  private readonly byName = new Map<string, Family>();

  private family(d: Def): Family {
    let f = this.byName.get(d.name);
    if (f === undefined) this.byName.set(d.name, (f = { name: d.name, help: d.help, type: d.type, values: [] }));
    return f;
  }

  add(d: Def, labels: Labels, value: number): void {
    this.family(d).values.push({ value, labels, sharedLabels: NO_SHARED_LABELS });
  }

  /** A histogram's samples from counts per bucket (not cumulative; the last one is +Inf). */
  histogram(d: Def, labels: Labels, bounds: readonly number[], perBucket: ArrayLike<number>, sum: number): void {
    const values = this.family(d).values;
    let count = 0;
    for (let i = 0; i <= bounds.length; i++) {
      count += perBucket[i] ?? 0;
      values.push({ value: count, labels: { ...labels, le: i < bounds.length ? bounds[i]! : '+Inf' }, metricName: `${d.name}_bucket`, sharedLabels: NO_SHARED_LABELS });
    }
    values.push({ value: sum, labels, metricName: `${d.name}_sum`, sharedLabels: NO_SHARED_LABELS });
    values.push({ value: count, labels, metricName: `${d.name}_count`, sharedLabels: NO_SHARED_LABELS });
  }

  list(): Family[] {
    return [...this.byName.values()];
  }
}
