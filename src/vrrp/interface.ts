/**
 * What VRRP needs to know about a network interface on this machine: that it exists,
 * its index (for multicast membership) and its IPv4 addresses with their prefixes.
 * Read once at start; a missing interface or one without an IPv4 address is a clear
 * FULCRUM_ERR_CONFIG error naming the instance.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { FulcrumError } from '../core/errors.js';

export interface InterfaceInfo {
  name: string;
  index: number;
  /** IPv4 addresses in the kernel's order (the primary first), with prefix lengths. */
  addresses: Array<{ address: string; prefix: number }>;
}

/** Reads an interface, or throws FULCRUM_ERR_CONFIG saying what is wrong. */
export function readInterface(name: string, instance: string): InterfaceInfo {
  let index: number;
  try {
    index = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch {
    const known = Object.keys(networkInterfaces()).join(', ');
    throw new FulcrumError('FULCRUM_ERR_CONFIG', `vrrp ${instance}: no network interface named ${name} on this machine (it has ${known})`);
  }
  const addresses = (networkInterfaces()[name] ?? [])
    .filter((a) => a.family === 'IPv4')
    .map((a) => ({ address: a.address, prefix: Number(a.cidr?.split('/')[1] ?? 32) }));
  return { name, index, addresses };
}
