#!/usr/bin/env -S node --max-semi-space-size=2
import { readFileSync } from 'node:fs';
import { FulcrumError } from '../core/errors.js';

const USAGE = `Usage: fulcrum <command> [options]

Commands:
  run [-c FILE] [--workers N]   run the balancer (without -c: the embedded quickstart)
  check -c FILE                 validate a configuration, listing every problem
  proxy --to URL [--to URL ...] a one-line HTTP balancer without a configuration file
  reload | stop | status        talk to a running instance over its control socket
  dataplane show|which          the kernel data plane's live rules; which server a flow reaches
  dsr-server --vip VIP          prints, checks and (--apply) applies a DSR server's setup

Options:
  -h, --help      help (also after a command: fulcrum run --help)
  -v, --version   print the version
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    // imported on demand: a running balancer never loads what only `check` needs
    case 'run':
      return (await import('./run.js')).runCommand(rest);
    case 'check':
      return (await import('./check.js')).checkCommand(rest);
    case 'proxy':
      return (await import('./proxy.js')).proxyCommand(rest);
    case 'reload':
    case 'stop':
    case 'status':
      return (await import('./control.js')).controlCommand(cmd, rest);
    case 'dataplane':
      return (await import('./dataplane.js')).dataplaneCommand(rest);
    case 'dsr-server':
      return (await import('./dsr-server.js')).dsrServerCommand(rest);
    case '-v':
    case '--version':
      process.stdout.write(`fulcrum ${version()}\n`);
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`fulcrum: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const usage = err instanceof FulcrumError ? err.code === 'FULCRUM_ERR_USAGE' : (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`fulcrum: ${(err as Error).message}\n`);
    if (usage) process.stderr.write('(see --help)\n');
    process.exitCode = usage ? 2 : 1;
  },
);
