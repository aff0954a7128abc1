/**
 * `fulcrum systemd-unit [-c FILE]`: prints contrib/systemd/fulcrum.service made for one
 * configuration: the capabilities its sections need and no more (CAP_NET_BIND_SERVICE
 * for a port below 1024, CAP_NET_ADMIN for services and VRRP, CAP_NET_RAW and AF_PACKET
 * for VRRP), and its path in ExecStartPre/ExecStart.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatIssue, loadConfigFile } from '../config/load.js';
import { capabilityName, primaryCapabilities } from '../runtime/privileges.js';
import { parseCommandArgs } from './args.js';
import { defaultConfigPath } from './run.js';

/** The command's options (also what `fulcrum completion` offers). */
export const SYSTEMD_UNIT_OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SYSTEMD_UNIT_USAGE = `Usage: fulcrum systemd-unit [-c FILE]

Prints a systemd unit for the configuration FILE (default: $FULCRUM_CONFIG or
/etc/fulcrum/fulcrum.yaml), with the capabilities its sections need and no others:
  fulcrum systemd-unit -c /etc/fulcrum/fulcrum.yaml > /etc/systemd/system/fulcrum.service
  -c, --config FILE   the configuration the unit runs
  -h, --help          this text
`;

const TEMPLATE = new URL('../../../contrib/systemd/fulcrum.service', import.meta.url);

/** The unit text for a configuration that needs `caps`, at `file`, with VRRP or not. */
export function unitFor(template: string, file: string, caps: number[], vrrp: boolean): string {
  const names = caps.map(capabilityName).join(' ');
  return template
    .replaceAll('/etc/fulcrum/fulcrum.yaml', file)
    .replace(/^AmbientCapabilities=.*$/m, names === '' ? '# no capability needed: no port below 1024, no services or vrrp\nAmbientCapabilities=' : `AmbientCapabilities=${names}`)
    .replace(/^CapabilityBoundingSet=.*$/m, `CapabilityBoundingSet=${names}`)
    .replace(/^RestrictAddressFamilies=.*$/m, (l) => (vrrp ? `${l} AF_PACKET` : l));
}

export async function systemdUnitCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args, options: SYSTEMD_UNIT_OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(SYSTEMD_UNIT_USAGE);
    return 0;
  }
  const file = resolve(values.config ?? defaultConfigPath());
  const { config, issues } = await loadConfigFile(file);
  if (config === undefined) {
    process.stderr.write(issues.map((i) => `${formatIssue(i)}\n`).join(''));
    return 1;
  }
  process.stdout.write(unitFor(readFileSync(TEMPLATE, 'utf8'), file, primaryCapabilities(config), config.vrrp != null));
  return 0;
}
