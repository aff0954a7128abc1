/**
 * Processes for tests: the Fulcrum CLI as a child process (waits for its
 * `listening on http://HOST:PORT (listener NAME)` log line, or https://, tcp://, udp://,
 * and stops it with SIGTERM, SIGKILL after 3 s), a process's memory from /proc, and
 * other programs: found on PATH, stopped by pid, HAProxy started with a config.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { tempDir } from './files.js';
import { LOOPBACK } from './ports.js';

/** dist/src/cli/main.js, next to this file's compiled form (dist/test/helpers/spawn.js). */
export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const LISTENING = /listening on (?:https?|tcp|udp):\/\/(\[[^\]]+\]|[^:\s]+):(\d+) \(listener ([^)]+)\)/g;

export interface SpawnedCli {
  /** Pids of the worker processes that reported listening (the first generation's, in order). */
  workerPids: number[];
  /** Port of the first listener. */
  port: number;
  host: string;
  /** Every listener that reported, in order. */
  listeners: Array<{ name: string; host: string; port: number }>;
  pid: number;
  child: ChildProcess;
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
  /** Resolves when the child has exited (code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `killAfterMs` (3 s); resolves once the child is gone. Idempotent. */
  stop(killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  /** How long to wait for the listening line(s) (default 10 s). */
  timeoutMs?: number;
  /** How many listening lines to wait for (default 1). */
  listeners?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Extra node flags (before the script), e.g. ['--max-old-space-size=128']. */
  nodeArgs?: string[];
}

/**
 * Starts `node dist/src/cli/main.js ...args` and resolves once it has printed its
 * listening line(s). Rejects (after killing the child) on timeout or early exit, with
 * the child's stderr in the message.
 */
export async function spawnCli(args: string[], opts: SpawnOptions = {}): Promise<SpawnedCli> {
  const want = opts.listeners ?? 1;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const child = spawn(process.execPath, [...NODE_FLAGS, ...(opts.nodeArgs ?? []), CLI_PATH, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8');
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    if (out.length < 1 << 20) out += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });

  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  const stop = (killAfterMs = 3000) => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      if (!gone) {
        try {
          process.kill(child.pid!, 'SIGTERM');
        } catch {
          /* already gone */
        }
        const timer = setTimeout(() => {
          try {
            if (!gone) process.kill(child.pid!, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }, killAfterMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    })();
    return stopping;
  };

  const listeners: Array<{ name: string; host: string; port: number }> = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`fulcrum ${args.join(' ')}: no listening line after ${timeoutMs} ms; stderr:\n${err}`));
      }, timeoutMs);
      const onData = (s: string) => {
        if (err.length < 1 << 20) err += s;
        LISTENING.lastIndex = 0;
        listeners.length = 0;
        for (const m of err.matchAll(LISTENING)) {
          listeners.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), name: m[3]! });
        }
        if (listeners.length >= want) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`fulcrum ${args.join(' ')} exited (code ${code}, signal ${signal}) before listening; stderr:\n${err}`));
      });
    });
  } catch (e) {
    await stop(1000);
    throw e;
  }
  // keep collecting stderr after startup
  const first = listeners[0]!;
  const workerPids = [...err.matchAll(/worker \d+ \(pid (\d+)/g)].map((m) => Number(m[1]));
  return {
    workerPids,
    port: first.port,
    host: first.host,
    listeners: [...listeners],
    pid: child.pid!,
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    stop,
  };
}

/** Runs `fulcrum ARGS` to completion (bounded by `timeoutMs`) and gives its exit code and output. */
export function runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Resident memory of a process, in bytes, from /proc/PID/status. */
export interface ProcMemory {
  /** VmRSS: resident set size now. */
  rss: number;
  /** VmHWM: peak resident set size ("high water mark"). */
  peakRss: number;
}

/** Reads VmRSS and VmHWM of `pid` (default: this process). Linux only; throws elsewhere. */
export function readProcMemory(pid: number = process.pid): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peakRss: kib('VmHWM') };
}

/**
 * Resets the peak RSS (VmHWM) of `pid` to its current RSS by writing "5" to
 * /proc/PID/clear_refs (Linux 4.0+, own processes). Returns false when not possible.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The soft limit on open files of this process (from /proc/self/limits), or undefined. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m === null) return undefined;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Megabytes with one decimal, for messages. */
export function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * The process log as text: each JSON log line (pino) replaced by its message, so tests
 * can match multi-line messages as people read them; other lines are kept.
 */
export function logMessages(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      if (!line.startsWith('{')) return line;
      try {
        const msg = (JSON.parse(line) as { msg?: unknown }).msg;
        return typeof msg === 'string' ? msg : line;
      } catch {
        return line;
      }
    })
    .join('\n');
}

// ---- other processes ------------------------------------------------------------------

/** SIGTERM, then SIGKILL after 2 s; resolves once the child has exited. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin', '/sbin', '/bin'];

/** The absolute path of `bin` on PATH or in the sbin directories, or undefined. */
export function findBinary(bin: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SBIN]) {
    if (existsSync(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitListening(port: number, child: ChildProcess, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: LOOPBACK });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what}: nothing listening on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts HAProxy (`haproxy -f CFG -db`) with `config` written into a temp dir, waits
 * until `waitPorts` accept connections, and stops it by pid after the test. Its output
 * is collected for error messages.
 */
export async function startHaproxy(t: TestContext, bin: string, config: string, waitPorts: number[]): Promise<{ child: ChildProcess; output: () => string }> {
  const dir = tempDir('fulcrum-haproxy-', t).dir;
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, config);
  const child = spawn(bin, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  t.after(() => killChild(child));
  try {
    for (const p of waitPorts) await waitListening(p, child, 'haproxy');
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- haproxy output:\n${out}\n--- config:\n${config}`);
  }
  return { child, output: () => out };
}

/** Why a test that runs `bin` skips ("BIN is not installed (HINT)"), or false when `bin` is found. */
export function missing(bin: string, hint?: string): string | false {
  return findBinary(bin) === undefined ? `${bin} is not installed${hint ? ` (${hint})` : ''}` : false;
}

/** CPU time of process `pid` so far, in clock ticks (utime + stime from /proc/PID/stat). */
export function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** `dig @127.0.0.1 -p PORT +norec +time=2 +tries=1 ARGS`: its output (bounded by 10 s). */
export async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(port), '+norec', '+time=2', '+tries=1', ...args], { timeout: 10_000 });
  return stdout;
}
