/**
 * `fulcrum dataplane show` and `fulcrum dataplane which SRC_IP:PORT`: what the kernel
 * holds in Fulcrum's tables, read back from the kernel (not from the running process),
 * and which server a flow lands on, answered from that same table with the kernel's own
 * hash (src/dataplane/live.ts). A configuration (-c) adds the servers' names.
 */
import { isIPv4 } from 'node:net';
import { parseCommandArgs } from './args.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { FulcrumError } from '../core/errors.js';
import { NftDriver } from '../dataplane/nft-driver.js';
import { CommandHost } from '../dataplane/host.js';
import { neighbours } from '../dataplane/links.js';
import { parseLive, tableShares, targetText, whichTarget, type LiveService, type LiveTarget } from '../dataplane/live.js';

/** The command's options (also what `fulcrum completion` offers). */
export const DATAPLANE_OPTIONS = {
  config: { type: 'string', short: 'c' },
  service: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DATAPLANE_USAGE = `Usage: fulcrum dataplane show [-c FILE] [--json]
       fulcrum dataplane which [-c FILE] [--service NAME] [--json] SRC_IP:PORT [SRC_IP:PORT ...]

Reads the kernel data plane's live rules (Fulcrum's nftables tables) on this host.
  show    prints each virtual service, its Maglev table's share per server, and the
          live rules (maps shortened)
  which   says which server a flow from SRC_IP:PORT to each service lands on, from
          the live table and the kernel's hash (a flow to a service with several
          ports is shown once per port)

Options:
  -c, --config FILE   the configuration, to name the servers
      --service NAME  only this service
      --json          machine-readable output
  -h, --help          this text
`;

function usage(message: string): FulcrumError {
  return new FulcrumError('FULCRUM_ERR_USAGE', message);
}

/** A table target with what is known of it: the server's name (from -c) and address (a MAC via the neighbour table). */
interface Named {
  name: string | null;
  address: string | null;
  text: string;
}

async function namer(config: Config | undefined, services: LiveService[], host: CommandHost): Promise<(s: LiveService, t: LiveTarget) => Named> {
  const names = new Map<string, string>();
  if (config !== undefined) {
    for (const svc of config.services) {
      for (const server of config.pools.get(svc.pool)?.servers ?? []) names.set(`${svc.name} ${server.host}`, server.name);
    }
  }
  const macToIp = new Map<string, string>();
  for (const iface of new Set(services.filter((s) => s.mode === 'dsr' && s.interface !== null).map((s) => s.interface!))) {
    for (const [ip, mac] of await neighbours(host, iface)) macToIp.set(`${iface} ${mac}`, ip);
  }
  return (s, t) => {
    const ip = t.addr ?? (t.mac !== null ? macToIp.get(`${s.interface} ${t.mac}`) : undefined) ?? null;
    const name = ip === null ? null : (names.get(`${s.name} ${ip}`) ?? null);
    const target = targetText(t);
    const where = t.mac !== null && ip !== null ? `${ip} (${target})` : target;
    return { name, address: ip, text: name === null ? where : `${name} ${where}` };
  };
}

function describe(s: LiveService): string {
  const ports = `${s.protocol}/${s.ports.join(',')}`;
  const extra = [s.interface !== null ? (s.mode === 'dsr' ? `interface ${s.interface}` : `from ${s.interface}`) : '', s.snat !== null ? `snat ${s.snat}` : ''].filter((x) => x !== '');
  return `service ${s.name}: ${s.mode} ${s.vip} ${ports}${extra.length > 0 ? `, ${extra.join(', ')}` : ''}, hash ${s.hash === 'flow' ? 'of the 4-tuple' : 'of the client address'}`;
}

/** The text listing of Fulcrum's tables, with each map's elements replaced by their count. */
async function rulesText(host: CommandHost): Promise<string> {
  const tables = await host.run('nft', ['list', 'tables']);
  const out: string[] = [];
  for (const line of tables.stdout.split('\n')) {
    const m = /^table (\S+) fulcrum$/.exec(line.trim());
    if (m === null) continue;
    const r = await host.run('nft', ['list', 'table', m[1]!, 'fulcrum']);
    out.push(r.stdout.replace(/map \{ ([^}]*) \}/g, (_, body: string) => `map { ${body.split(',').length} entries }`).trimEnd());
  }
  return out.join('\n');
}

function parseFlowArg(text: string): { saddr: string; sport: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d{1,5})$/.exec(text);
  if (m === null || !isIPv4(m[1]!) || Number(m[2]) > 65535) throw usage(`"${text}" is not SRC_IP:PORT such as 198.51.100.10:40000 (IPv4)`);
  return { saddr: m[1]!, sport: Number(m[2]) };
}

/** `fulcrum dataplane ...`: resolves with the exit status (0, 1 when there are no rules, 2 on usage errors). */
export async function dataplaneCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args,
    options: DATAPLANE_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(DATAPLANE_USAGE);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub !== 'show' && sub !== 'which') throw usage(sub === undefined ? 'dataplane needs a subcommand: show or which' : `unknown subcommand "${sub}": use show or which`);
  if (sub === 'which' && rest.length === 0) throw usage('which needs at least one SRC_IP:PORT, e.g. fulcrum dataplane which 198.51.100.10:40000');
  if (sub === 'show' && rest.length > 0) throw usage(`show takes no argument, got "${rest[0]}"`);
  const flows = sub === 'which' ? rest.map(parseFlowArg) : [];
  let config: Config | undefined;
  if (values.config !== undefined) {
    const loaded = await loadConfigFile(values.config);
    if (loaded.config === undefined) throw new FulcrumError('FULCRUM_ERR_CONFIG', `${values.config} has ${loaded.issues.length} problem(s): run fulcrum check -c ${values.config}`);
    config = loaded.config;
  }
  const host = new CommandHost();
  let services = parseLive(await new NftDriver(host).list());
  if (values.service !== undefined) services = services.filter((s) => s.name === values.service);
  if (services.length === 0) {
    process.stderr.write(`fulcrum: no ${values.service === undefined ? '' : `service ${values.service} in the `}kernel data plane rules on this host (is fulcrum run with \`services\` running here?)\n`);
    return 1;
  }
  const name = await namer(config, services, host);
  if (sub === 'show') {
    const shown = services.map((s) => ({ ...s, shares: tableShares(s).map((x) => ({ ...x, server: name(s, s.targets.find((t) => t !== undefined && targetText(t) === x.target)!) })) }));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(shown.map(({ targets: _t, ...s }) => s), null, 2)}\n`);
      return 0;
    }
    const lines: string[] = [];
    for (const s of shown) {
      lines.push(describe(s));
      lines.push(`  Maglev table: ${s.size} entr${s.size === 1 ? 'y (every flow)' : 'ies'}`);
      for (const x of s.shares) lines.push(`    ${x.server.text}: ${x.entries} (${((100 * x.entries) / s.size).toFixed(1)}%)`);
    }
    lines.push('', 'live rules:', await rulesText(host));
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  }
  const answers: Array<{ flow: string; service: string; to: string; entry: number; size: number; server: string | null; address: string | null; target: string | null; text: string }> = [];
  for (const f of flows) {
    for (const s of services) {
      for (const dport of s.ports) {
        const { slot, target } = whichTarget(s, { ...f, daddr: s.vip, dport });
        const n = target === undefined ? { name: null, address: null, text: '(empty entry)' } : name(s, target);
        answers.push({ flow: `${f.saddr}:${f.sport}`, service: s.name, to: `${s.vip}:${dport}`, entry: slot, size: s.size, server: n.name, address: n.address, target: target === undefined ? null : targetText(target), text: n.text });
      }
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(answers, null, 2)}\n`);
  else for (const a of answers) process.stdout.write(`${a.flow} -> ${a.to} (service ${a.service}): ${a.text} (entry ${a.entry} of ${a.size})\n`);
  return 0;
}
