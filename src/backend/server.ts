import type { ServerConfig } from '../config/types.js';
import type { AdminState } from '../runtime/api.js';

let nextId = 0;

/**
 * One backend server as every consumer sees it. Configuration (maxConn, backup) is
 * fixed; weight, the operator's state, health and slow start are owned by the Pool
 * (ejection fields by the OutlierDetector), which recomputes the
 * eligible set when they change and pushes it to the balancer. Proxies count work in
 * `active` (least-conn and first read it).
 */
export class Server {
  /** Small integer, unique in the process: proxies index per-server state by it. */
  readonly id = nextId++;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Weight, 0..256 (0 = drain): the configured one, or the operator's (runtime API). Changed only by the Pool. */
  weight: number;
  /** The operator's state (runtime API): only `ready` servers take new work. Changed only by the Pool. */
  adminState: AdminState = 'ready';
  readonly backup: boolean;
  /** Most requests/connections at once; 0 = no limit. */
  readonly maxConn: number;
  readonly checkHost: string;
  readonly checkPort: number;
  /** The server's own public URL (redirect mode), without a trailing slash. */
  readonly url: string;
  /**
   * The weight balancers use: `weight`, or less while slow start ramps it up. Always
   * > 0 for eligible servers. Changed only by the Pool, which then calls update().
   */
  effectiveWeight: number;
  /** Requests or connections in progress on this server. */
  active = 0;
  /** Requests or connections sent to this server so far (counted where `active` grows). */
  total = 0;
  /** Active health state (true when no active checks are configured). */
  healthy = true;
  /** Why `healthy` is what it is (the latest transition's reason), or '' before any. */
  healthReason = '';
  /** Passive health: ejected until this time (ms since epoch), 0 when not ejected. Written only by OutlierDetector. */
  ejectedUntil = 0;
  /** Passive health's current ejection multiplier (grows with ejections, decays while well). Written only by OutlierDetector. */
  ejections = 0;

  constructor(
    readonly pool: string,
    cfg: ServerConfig,
  ) {
    this.name = cfg.name;
    this.host = cfg.host;
    this.port = cfg.port;
    this.weight = cfg.weight;
    this.backup = cfg.backup;
    this.maxConn = cfg.maxConn;
    this.checkHost = cfg.checkHost;
    this.checkPort = cfg.checkPort;
    this.url = cfg.url;
    this.effectiveWeight = cfg.weight;
  }

  /** At its max_conn: balancers must not pick it now (it is still eligible). */
  get full(): boolean {
    return this.maxConn > 0 && this.active >= this.maxConn;
  }

  /** "pool/name" for logs and error messages. */
  toString(): string {
    return `${this.pool}/${this.name}`;
  }
}
