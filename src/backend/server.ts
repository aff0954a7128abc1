import type { ServerConfig } from '../config/types.js';

let nextId = 0;

/**
 * One backend server as every consumer sees it. Proxies count outstanding work in
 * `active` (least-conn reads it); health and admin state will live here too.
 */
export class Server {
  /** Small integer, unique in the process: proxies index per-server state by it. */
  readonly id = nextId++;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** Requests or connections in progress on this server. */
  active = 0;

  constructor(
    readonly pool: string,
    cfg: ServerConfig,
  ) {
    this.name = cfg.name;
    this.host = cfg.host;
    this.port = cfg.port;
    this.weight = cfg.weight;
  }

  /** "pool/name" for logs and error messages. */
  toString(): string {
    return `${this.pool}/${this.name}`;
  }
}
