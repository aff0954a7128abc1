/**
 * runtime.user/group: a process started as root becomes that user once its sockets are
 * set up, keeping only the capabilities the configuration needs. The primary keeps
 * CAP_NET_BIND_SERVICE when a listener, the DNS server or the admin listener uses a port below 1024 (a
 * reload or a replaced worker binds again), CAP_NET_ADMIN for `services:` and `vrrp:`
 * (nftables, addresses) and CAP_NET_RAW for `vrrp:` (raw sockets), as ambient
 * capabilities that the workers and nft it starts inherit. A worker needs none once it
 * listens. The C addon does the change (Node cannot keep a capability across setuid).
 */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/types.js';
import { FulcrumError } from '../core/errors.js';
import { log } from '../core/log.js';
import { nativeAddon, nativeAddonMissing } from '../io/addon.js';

export const CAP_NET_BIND_SERVICE = 10;
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;
const NAMES: Record<number, string> = { [CAP_NET_BIND_SERVICE]: 'CAP_NET_BIND_SERVICE', [CAP_NET_ADMIN]: 'CAP_NET_ADMIN', [CAP_NET_RAW]: 'CAP_NET_RAW' };

/** A capability's name (CAP_NET_ADMIN), as systemd units and logs write it. */
export function capabilityName(cap: number): string {
  return NAMES[cap] ?? String(cap);
}

/** The capabilities the primary keeps for `config`. */
export function primaryCapabilities(config: Config): number[] {
  const ports = [...config.listeners.map((l) => l.port), ...(config.dns?.listen.map((l) => l.port) ?? []), ...(config.admin ? [config.admin.port] : [])];
  const caps: number[] = [];
  // BGP's passive listener (179) is bound again when a reload restarts it
  if (config.bgp?.listen != null) ports.push(config.bgp.listen.port);
  if (ports.some((p) => p > 0 && p < 1024)) caps.push(CAP_NET_BIND_SERVICE);
  if (config.services.length > 0 || config.vrrp) caps.push(CAP_NET_ADMIN);
  if (config.vrrp) caps.push(CAP_NET_RAW);
  return caps;
}

/**
 * Becomes runtime.user (when set, and when running as root or as that user already),
 * keeping `caps`. `who` names the process in the log line. Throws FULCRUM_ERR_PRIVILEGES
 * when the change fails: a process that was asked to drop root must not go on as root.
 */
export function dropPrivileges(config: Config, caps: number[], who: string): void {
  const user = config.runtime.user;
  if (user === null) return;
  const uid = process.getuid?.();
  if (uid !== 0 && uid !== user.uid) {
    log().warn(`runtime.user: ${who} runs as uid ${uid}, not root: it stays as it is`);
    return;
  }
  const addon = nativeAddon();
  if (addon === null) throw new FulcrumError('FULCRUM_ERR_PRIVILEGES', `runtime.user needs the native addon to keep capabilities: ${nativeAddonMissing()}`);
  const r = addon.dropPrivileges(user.uid, user.gid, caps);
  if (r !== 0) throw new FulcrumError('FULCRUM_ERR_PRIVILEGES', `${who}: cannot become uid ${user.uid} gid ${user.gid} (errno ${-r})`);
  log().info(`${who} runs as uid ${user.uid} gid ${user.gid}${caps.length === 0 ? ' with no capabilities' : `, keeping ${caps.map(capabilityName).join(', ')}`}`);
  // the workers it starts from now on (replacements, reloads) load the code as this user
  const workerCode = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  try {
    accessSync(workerCode, constants.R_OK);
  } catch {
    log().warn(`runtime.user: uid ${user.uid} cannot read ${workerCode}: a replaced worker or a reload will fail (make Fulcrum's files readable by that user)`);
  }
}
