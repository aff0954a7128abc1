/**
 * `fulcrum check -c FILE` (or `fulcrum check FILE`): validates a configuration without starting anything, and
 * reports every problem at once, one per line, in the FILE:LINE:COLUMN form that editors
 * and CI logs turn into links.
 */
import { parseCommandArgs } from './args.js';
import { formatIssue, loadConfigFile } from '../config/load.js';
import { machineSubnets } from '../config/vrrp/checks.js';

/** The command's options (also what `fulcrum completion` offers). */
export const CHECK_OPTIONS = {
  config: { type: 'string', short: 'c', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Where the command writes; tests pass their own to capture the output. */
export interface CheckOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** The help text of `fulcrum check`. */
export const CHECK_USAGE = `Usage: fulcrum check -c FILE   (or: fulcrum check FILE)

Validate a Fulcrum configuration file and report every problem found, one per line:
  FILE:LINE:COLUMN: PATH: MESSAGE

Options:
  -c, --config FILE   the YAML configuration file to check (required)
  -h, --help          show this help

Exit status: 0 if the configuration is valid, 1 if it has problems, 2 on a usage error.
`;

const processOutput: CheckOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Runs `fulcrum check` with the arguments that follow the command name and resolves to
 * the exit status: 0 when the file is valid (one summary line on stdout), 1 when it has
 * problems (each on its own line on stderr), 2 on a usage error (a message and a hint on
 * stderr). `--help` prints the usage on stdout and returns 0. Never throws.
 */
export async function checkCommand(args: string[], out: CheckOutput = processOutput): Promise<number> {
  let file: string;
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: CHECK_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      out.stdout(CHECK_USAGE);
      return 0;
    }
    const files = [...(values.config ?? []), ...positionals];
    if (files.length !== 1) throw new Error(files.length === 0 ? 'missing the configuration file: use -c FILE' : 'give one configuration file (-c FILE or FILE)');
    file = files[0]!;
  } catch (e) {
    out.stderr(`fulcrum check: ${(e as Error).message}\nRun "fulcrum check --help" for usage.\n`);
    return 2;
  }

  // Also against this machine's interfaces: a VRRP virtual address must be in its interface's subnet.
  const { config, issues } = await loadConfigFile(file, { interfaces: machineSubnets });
  if (!config) {
    out.stderr(issues.map((i) => `${formatIssue(i)}\n`).join(''));
    return 1;
  }
  const vrrp = config.vrrp ? `, ${plural(config.vrrp.instances.length, 'VRRP instance')}` : '';
  const services = config.services.length > 0 ? `, ${plural(config.services.length, 'virtual service')}` : '';
  out.stdout(`${file}: configuration OK (${plural(config.listeners.length, 'listener')}, ${plural(config.pools.size, 'pool')}${services}${vrrp})\n`);
  return 0;
}
