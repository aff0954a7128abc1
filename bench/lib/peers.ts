/**
 * Debian packages the benchmarks need (haproxy, nginx, wrk, later iperf3, dnsperf, nsd...).
 * As root, missing ones are installed with apt-get (apt-get update only if the first
 * install fails); otherwise we say what to install and stop.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EnvironmentError, log } from './benchmark.js';
import { startProcess } from './process.js';

export interface DebianTool {
  /** Executable name, looked up on PATH and in the sbin dirs (haproxy and nginx live in /usr/sbin). */
  readonly bin: string;
  /** Debian package that provides it. */
  readonly pkg: string;
}

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

export function findBinary(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  for (const dir of dirs) {
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs a command with its output copied to our stderr (stdout is kept for results); resolves to its exit code. */
async function runVisible(command: string, args: readonly string[]): Promise<number> {
  log(`$ ${command} ${args.join(' ')}`);
  const proc = await startProcess(command, command, args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    echo: true,
  });
  try {
    return (await proc.closed).code ?? 1;
  } finally {
    await proc.stop();
  }
}

/** Makes sure every tool is present; returns bin name -> absolute path. */
export async function ensureDebianTools(tools: readonly DebianTool[]): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const missing: DebianTool[] = [];
  for (const t of tools) {
    const p = findBinary(t.bin);
    if (p) found[t.bin] = p;
    else missing.push(t);
  }
  if (missing.length === 0) return found;
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    throw new EnvironmentError(
      `missing ${missing.map((t) => t.bin).join(', ')}; install with:\n  sudo apt-get install -y ${pkgs.join(' ')}\n(or run the benchmark as root, which installs them)`,
    );
  }
  log(`installing missing Debian packages: ${pkgs.join(' ')}`);
  const install = ['install', '-y', '--no-install-recommends', ...pkgs];
  if ((await runVisible('apt-get', install)) !== 0) {
    log('apt-get install failed; running apt-get update and trying again');
    if ((await runVisible('apt-get', ['update'])) !== 0) throw new EnvironmentError('apt-get update failed');
    if ((await runVisible('apt-get', install)) !== 0) throw new EnvironmentError(`apt-get install ${pkgs.join(' ')} failed`);
  }
  for (const t of missing) {
    const p = findBinary(t.bin);
    if (!p) throw new EnvironmentError(`${t.bin} still missing after installing ${t.pkg}`);
    found[t.bin] = p;
  }
  return found;
}
