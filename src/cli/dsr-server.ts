/**
 * `fulcrum dsr-server --vip VIP [--interface IF] [--apply]`: the setup a server behind a
 * DSR virtual service needs, printed, checked and (with --apply) applied. In DSR mode
 * the balancer hands the client's packet, still addressed to the VIP, to the server's MAC
 * address, so the server must accept the VIP as its own (the VIP on `lo`) without
 * claiming it on the network: `arp_ignore=1` (answer ARP only for addresses of the
 * interface asked on) and `arp_announce=2` (never use the VIP as the source of its own
 * ARP requests), on `all`, `lo` and the interface. Replies then leave from the VIP,
 * straight to the client.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { parseCommandArgs } from './args.js';
import { FulcrumError } from '../core/errors.js';
import { CommandHost } from '../dataplane/host.js';
import { interfaceExists, localAddresses } from '../dataplane/links.js';

/** The command's options (also what `fulcrum completion` offers). */
export const DSR_SERVER_OPTIONS = {
  vip: { type: 'string', multiple: true },
  interface: { type: 'string' },
  apply: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DSR_SERVER_USAGE = `Usage: fulcrum dsr-server --vip VIP [--vip VIP ...] [--interface IF] [--apply]

Prints the setup a server behind a DSR virtual service needs, checks it, and with
--apply applies it (as root):
  - each VIP as a /32 address on lo, so the server accepts packets sent to it;
  - net.ipv4.conf.{all,lo,IF}.arp_ignore = 1 and arp_announce = 2, so the server
    never answers or announces the VIP on the network (the balancer owns it).

Options:
      --vip VIP        a virtual service's IPv4 address (repeatable)
      --interface IF   the interface facing the balancer (default: the one of the
                       default route)
      --apply          make the changes, then check them
  -h, --help           this text

Exit status: 0 when the setup is in place, 1 when something is missing (listed), 2 on a
usage error. The changes do not survive a reboot: put the same in the system's network
configuration (for example /etc/sysctl.d and an address on lo).
`;

/** The sysctl settings DSR needs on each of all, lo and the interface. */
const ARP = [
  ['arp_ignore', '1'],
  ['arp_announce', '2'],
] as const;

function sysctlPath(iface: string, key: string): string {
  return `/proc/sys/net/ipv4/conf/${iface}/${key}`;
}

async function readSysctl(iface: string, key: string): Promise<string | null> {
  try {
    return (await readFile(sysctlPath(iface, key), 'utf8')).trim();
  } catch {
    return null;
  }
}

/** `fulcrum dsr-server`: resolves with the exit status. */
export async function dsrServerCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: DSR_SERVER_OPTIONS,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(DSR_SERVER_USAGE);
    return 0;
  }
  const vips = values.vip ?? [];
  if (vips.length === 0) throw new FulcrumError('FULCRUM_ERR_USAGE', 'give the virtual service address with --vip, e.g. --vip 203.0.113.10');
  for (const v of vips) if (!isIPv4(v)) throw new FulcrumError('FULCRUM_ERR_USAGE', `--vip ${v}: expected an IPv4 address such as 203.0.113.10`);
  const host = new CommandHost();
  let iface = values.interface;
  if (iface === undefined) {
    const r = await host.run('ip', ['-j', 'route', 'show', 'default']);
    const dev = r.code === 0 ? (JSON.parse(r.stdout || '[]') as Array<{ dev?: string }>)[0]?.dev : undefined;
    if (dev === undefined) throw new FulcrumError('FULCRUM_ERR_USAGE', 'this host has no default route to tell the interface facing the balancer: give --interface');
    iface = dev;
  } else if (!(await interfaceExists(host, iface))) {
    throw new FulcrumError('FULCRUM_ERR_USAGE', `--interface ${iface}: no such interface (see ip link)`);
  }
  const ifaces = [...new Set(['all', 'lo', iface])];
  const commands = [
    ...vips.map((v) => `ip addr add ${v}/32 dev lo`),
    ...ifaces.flatMap((i) => ARP.map(([k, v]) => `sysctl -w net.ipv4.conf.${i}.${k}=${v}`)),
  ];
  process.stdout.write(`# DSR server setup for ${vips.join(', ')} (interface ${iface})\n${commands.join('\n')}\n`);

  if (values.apply) {
    const have = await localAddresses(host);
    for (const v of vips) {
      if (have.some((a) => a.address === v && a.iface === 'lo')) continue;
      const r = await host.run('ip', ['addr', 'add', `${v}/32`, 'dev', 'lo']);
      if (r.code !== 0) process.stderr.write(`fulcrum: ip addr add ${v}/32 dev lo failed: ${r.stderr.trim()}\n`);
    }
    for (const i of ifaces) {
      for (const [k, v] of ARP) {
        try {
          await writeFile(sysctlPath(i, k), `${v}\n`);
        } catch (err) {
          process.stderr.write(`fulcrum: setting net.ipv4.conf.${i}.${k} failed: ${(err as Error).message}\n`);
        }
      }
    }
  }

  const missing: string[] = [];
  const addresses = await localAddresses(host);
  for (const v of vips) {
    const on = addresses.filter((a) => a.address === v);
    if (!on.some((a) => a.iface === 'lo')) missing.push(`${v} is not on lo`);
    for (const a of on.filter((x) => x.iface !== 'lo')) missing.push(`${v} is also on ${a.iface}, so this server would answer ARP for it and take the balancer's traffic: remove it there`);
  }
  for (const i of ifaces) {
    for (const [k, v] of ARP) {
      const now = await readSysctl(i, k);
      // The kernel uses the larger of `all` and the interface's value.
      if (now === null || Number(now) < Number(v)) missing.push(`net.ipv4.conf.${i}.${k} is ${now ?? 'unreadable'}, needs ${v}`);
    }
  }
  if (missing.length === 0) {
    process.stdout.write(`# check: in place (${vips.join(', ')} on lo; ARP settings on ${ifaces.join(', ')})\n`);
    return 0;
  }
  process.stdout.write(`# check: ${missing.length} missing:\n${missing.map((m) => `#   - ${m}`).join('\n')}\n`);
  if (!values.apply) process.stdout.write('# run again with --apply (as root) to make these changes\n');
  return 1;
}
