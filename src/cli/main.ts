#!/usr/bin/env -S node --max-semi-space-size=2
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { FulcrumError } from '../core/errors.js';
import { closestCommand, COMMANDS } from './commands.js';
import { USAGE } from './usage.js';

/** `fulcrum 0.1.0 (Node.js v20.20.2; native streams, TLS and TCP relay: on; raw sockets for VRRP: on)`. */
async function version(): Promise<string> {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const missing = (await import('../io/addon.js')).nativeAddonMissing();
  let raw = 'on';
  try {
    createRequire(import.meta.url)('raw-socket');
  } catch (err) {
    raw = `off (${(err as Error).message.split('\n')[0]})`;
  }
  return `fulcrum ${pkg.version} (Node.js ${process.version}; native streams, TLS and TCP relay: ${missing === '' ? 'on' : `off (${missing})`}; raw sockets for VRRP: ${raw})`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const command = COMMANDS.find((c) => c.name === cmd);
  if (command !== undefined) return command.run(rest);
  switch (cmd) {
    case '-v':
    case '--version':
      process.stdout.write(`${await version()}\n`);
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default: {
      const hint = closestCommand(cmd);
      process.stderr.write(`fulcrum: unknown command "${cmd}"${hint === undefined ? '' : `; did you mean "${hint}"?`}\n\n${USAGE}`);
      return 2;
    }
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
