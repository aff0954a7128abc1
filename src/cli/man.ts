/**
 * fulcrum(1), generated from the help texts (`node dist/src/cli/man.js > man/fulcrum.1`,
 * which `npm pack` runs): the commands of `fulcrum --help`, then each command's own help
 * as it prints it, so the page never says what the binary does not.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHECK_USAGE } from './check.js';
import { CONTROL_USAGE } from './control.js';
import { SERVER_USAGE } from './server.js';
import { BGP_USAGE } from './bgp.js';
import { DATAPLANE_USAGE } from './dataplane.js';
import { DSR_SERVER_USAGE } from './dsr-server.js';
import { LAB_USAGE } from './lab.js';
import { PROXY_USAGE } from './proxy.js';
import { DEMO_USAGE, RUN_USAGE } from './run.js';
import { SYSTEMD_UNIT_USAGE } from './systemd-unit.js';
import { USAGE } from './usage.js';

/** Text as roff shows it verbatim: backslashes doubled, a leading dot or quote guarded. */
function verbatim(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => l.replace(/\\/g, '\\e').replace(/^([.'])/, '\\&$1'))
    .join('\n');
}

/** The page, in man(7) roff. */
export function manPage(version: string): string {
  const commands = USAGE.slice(USAGE.indexOf('Commands:\n') + 10, USAGE.indexOf('\nOptions:'))
    .trimEnd()
    .split('\n')
    .map((l) => /^ {2}(\S.*?)\s{2,}(\S.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `.TP\n.B ${verbatim(m[1]!)}\n${verbatim(m[2]!)}`);
  const details: Array<[string, string]> = [
    ['run', RUN_USAGE],
    ['demo', DEMO_USAGE],
    ['check', CHECK_USAGE],
    ['proxy', PROXY_USAGE],
    ['reload, stop, status', CONTROL_USAGE],
    ['server', SERVER_USAGE],
    ['bgp', BGP_USAGE],
    ['dataplane', DATAPLANE_USAGE],
    ['dsr-server', DSR_SERVER_USAGE],
    ['lab', LAB_USAGE],
    ['systemd-unit', SYSTEMD_UNIT_USAGE],
  ];
  return [
    `.TH FULCRUM 1 "" "fulcrum ${version}" "Fulcrum manual"`,
    '.SH NAME',
    'fulcrum \\- a software load balancer: HTTP, HTTPS and HTTP/2, TCP and UDP proxy, redirect, DNS, kernel NAT and DSR, VRRP',
    '.SH SYNOPSIS',
    '.B fulcrum',
    '.I command',
    '[\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    'Fulcrum balances traffic over pools of servers in every mode a load balancer has, from one',
    'configuration with one set of pools and one health checker. Each command below prints the',
    'same text with \\fB\\-\\-help\\fR.',
    '.SH COMMANDS',
    ...commands,
    '.SH OPTIONS',
    '.TP',
    '.B \\-h, \\-\\-help',
    'help (also after a command)',
    '.TP',
    '.B \\-v, \\-\\-version',
    'the version, the Node.js version and which native parts are active',
    ...details.flatMap(([name, text]) => [`.SH ${name.toUpperCase()}`, '.nf', verbatim(text), '.fi']),
    '.SH FILES',
    '.TP',
    '.I /etc/fulcrum/fulcrum.yaml',
    'the configuration \\fBfulcrum run\\fR reads without \\fB\\-c\\fR',
    '.TP',
    '.I /run/fulcrum.sock',
    'the control socket of a root instance (\\fI$RUNTIME_DIRECTORY/fulcrum.sock\\fR under systemd)',
    '.SH ENVIRONMENT',
    '.TP',
    '.B FULCRUM_CONFIG',
    'the configuration \\fBfulcrum run\\fR reads without \\fB\\-c\\fR',
    '.TP',
    '.B NOTIFY_SOCKET, WATCHDOG_USEC',
    "set by systemd for a Type=notify service: readiness, reloads and the watchdog are reported there",
    '.SH SEE ALSO',
    'The documentation in the package: README.md, and docs/ with a page per mode and feature',
    '(docs/operating.md for running Fulcrum, docs/install.md for systemd, docs/security.md),',
    'the configuration reference (docs/reference/configuration.md), and the examples directory.',
    '',
  ].join('\n');
}

// `node dist/src/cli/man.js` prints the page
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(manPage(pkg.version));
}
