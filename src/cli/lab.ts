/**
 * `fulcrum lab`: the seed's question ("does every byte go through the balancer?")
 * answered by measurement in network namespaces on this machine. See docs/lab.md and
 * src/lab/.
 */
import { writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseCommandArgs } from './args.js';
import { FulcrumError } from '../core/errors.js';
import { parseSize } from '../config/common/units.js';
import { claimLab, LAB_PREFIX, releaseLab, removeLeftovers } from '../lab/cleanup.js';
import { jsonReport } from '../lab/json.js';
import { DEFAULT_SIZES, type LabSizes, requirements, runLab, teardown } from '../lab/lab.js';
import { MODE_NAMES, type ModeName } from '../lab/modes.js';
import { htmlReport } from '../lab/report-html.js';
import { textReport } from '../lab/report-text.js';

export const LAB_OPTIONS = {
  modes: { type: 'string' },
  sizes: { type: 'string' },
  out: { type: 'string' },
  keep: { type: 'boolean' },
  drills: { type: 'boolean' },
  clean: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const LAB_USAGE = `Usage: fulcrum lab [--modes LIST] [--sizes UP,DOWN,N] [--out DIR] [--drills] [--keep] [--json]
       fulcrum lab --clean

Measures, in network namespaces on this machine, how many bytes pass through the
balancer in each mode. It builds a client, a VRRP pair of balancers (A, the master
holding the VIP, and B, its backup), and two HTTP servers S1 and S2 (namespaces named
${LAB_PREFIX}*, on a bridge of their own, addressed from 192.0.2.0/24, 198.51.100.0/24
and 203.0.113.0/24; nothing outside them is touched), then, for each mode, starts
\`fulcrum run\` on both balancers and runs three transfers from the client:
an upload, a download and a series of small requests. For each it reads the balancer's
interface counters (A's), Fulcrum's CPU time (/proc) and the transfer's time, and prints a
table; it writes lab.html (a report with charts) and lab.json to the output directory.
Needs root; the kernel modes (nat, fullnat, dsr, ecmp) need nftables, https openssl
and ecmp BIRD (the router); a mode whose tool is missing is skipped.

Options:
      --modes LIST     comma-separated, of ${MODE_NAMES.join(', ')} (default: all)
      --sizes UP,DOWN,N  upload size, download size, number of small requests
                       (default: 1MiB,10MiB,200)
      --out DIR        where lab.html, lab.json and the configurations go
                       (default: ./fulcrum-lab)
      --drills         then, in each mode, kill the server of a slow download while
                       small requests go on, then the active balancer A, and
                       record what the client sees (and when B took the VIP)
      --keep           leave the namespaces and servers up, and print how to enter them
      --clean          remove what an earlier lab left (namespaces ${LAB_PREFIX}*), then exit
      --json           print lab.json to stdout instead of the table
  -h, --help           this text

Ctrl-C, or any failure, removes every namespace and process the lab made; a run after
a crash removes the leftovers first. Exit status: 0 when every transfer completed, 1
when one failed or the lab could not run, 2 on a usage error.
`;

/** How to run this fulcrum again: `fulcrum` when installed as such, else node and the script. */
function self(): string {
  const script = process.argv[1] ?? 'fulcrum';
  return basename(script) === 'fulcrum' ? 'fulcrum' : `${process.execPath} ${script}`;
}

function usage(message: string): FulcrumError {
  return new FulcrumError('FULCRUM_ERR_USAGE', message);
}

export function parseModes(text: string | undefined): ModeName[] {
  if (text === undefined) return [...MODE_NAMES];
  const modes = text.split(',').map((m) => m.trim()).filter((m) => m !== '');
  for (const m of modes) if (!(MODE_NAMES as readonly string[]).includes(m)) throw usage(`--modes: unknown mode ${m}; the modes are ${MODE_NAMES.join(', ')}`);
  if (modes.length === 0) throw usage('--modes: give at least one mode');
  return modes as ModeName[];
}

export function parseSizes(text: string | undefined): LabSizes {
  if (text === undefined) return { ...DEFAULT_SIZES };
  const parts = text.split(',');
  if (parts.length !== 3) throw usage('--sizes: give the upload size, the download size and the number of requests, e.g. 1MiB,10MiB,200');
  try {
    const [upload, download] = parts.slice(0, 2).map((p) => parseSize(p));
    const requests = Number(parts[2]);
    if (!Number.isInteger(requests) || requests < 1 || requests > 100_000) throw new Error('the number of requests must be a whole number from 1 to 100000');
    if (upload! < 1 || download! < 1 || upload! > 1 << 30 || download! > 1 << 30) throw new Error('sizes must be from 1 byte to 1 GiB');
    return { upload: upload!, download: download!, requests };
  } catch (err) {
    throw usage(`--sizes: ${(err as Error).message}`);
  }
}

/** A one-line progress display on a terminal, plain lines elsewhere. */
function progressWriter(): (step: number, steps: number, text: string) => void {
  const tty = process.stderr.isTTY === true;
  return (step, steps, text) => {
    const bar = '#'.repeat(Math.round((20 * (step - 1)) / steps)).padEnd(20, '.');
    const line = `[${bar}] ${step}/${steps} ${text}`;
    process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  };
}

export async function labCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args, options: LAB_OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(LAB_USAGE);
    return 0;
  }
  if (values.clean) {
    const need = requirements();
    if (need.fatal !== null) throw new FulcrumError('FULCRUM_ERR_PRIVILEGES', need.fatal);
    // a lab that is running holds the pid file: its hosts are not leftovers
    claimLab();
    let removed: string[];
    try {
      removed = await removeLeftovers();
    } finally {
      releaseLab();
    }
    process.stdout.write(removed.length === 0 ? 'fulcrum lab: nothing to remove\n' : `fulcrum lab: removed ${removed.join(', ')}\n`);
    return 0;
  }
  const modes = parseModes(values.modes);
  const sizes = parseSizes(values.sizes);
  const out = resolve(values.out ?? 'fulcrum-lab');
  const need = requirements();
  if (need.fatal !== null) {
    process.stderr.write(`${need.fatal}\n`);
    return 1;
  }
  for (const s of need.skip) if (modes.includes(s.mode)) process.stderr.write(`fulcrum lab: skipping ${s.mode}: ${s.reason}\n`);

  let interrupted: Promise<never> | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\nfulcrum lab: ${sig}: removing the namespaces and processes\n`);
    interrupted = teardown().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = progressWriter();
  try {
    // once interrupted, the run fails as its processes go; the signal's exit status is the one to give
    const result = await runLab({ modes, sizes, out, keep: values.keep === true, drills: values.drills === true, progress }).catch(async (err: unknown) => {
      if (interrupted !== null) await interrupted;
      throw err;
    });
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
    writeFileSync(join(out, 'lab.json'), jsonReport(result));
    writeFileSync(join(out, 'lab.html'), htmlReport(result));
    if (values.json) process.stdout.write(jsonReport(result));
    else {
      process.stdout.write(textReport(result));
      process.stdout.write(`\n${result.modes.length} modes in ${result.seconds.toFixed(1)} s. Report: ${join(out, 'lab.html')} (JSON: ${join(out, 'lab.json')})\n`);
      if (result.cleaned.length > 0) process.stdout.write(`Removed first, left by an earlier run: ${result.cleaned.join(', ')}\n`);
      if (result.kept !== undefined) {
        process.stdout.write(
          `Kept: namespaces ${result.kept.namespaces.join(' ')} (S1 and S2 still running).\n` +
            `  enter the client:  ${result.kept.enter}\n` +
            `  run the last mode again (the routes are set for it):\n` +
            `                     ip netns exec ${LAB_PREFIX}b ${self()} run -c ${join(out, 'configs', `${result.modes[result.modes.length - 1] ?? 'http'}.yaml`)}\n` +
            `  and its VRRP partner:\n` +
            `                     ip netns exec ${LAB_PREFIX}b2 ${self()} run -c ${join(out, 'configs', `${result.modes[result.modes.length - 1] ?? 'http'}-partner.yaml`)}\n` +
            `  remove it all:     fulcrum lab --clean\n`,
        );
      }
    }
    return result.measurements.every((m) => m.ok) && (result.drills ?? []).every((d) => d.ok) ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
