/**
 * Runs the Fulcrum CLI as a child process for tests: waits for its
 * `listening on http://HOST:PORT (listener NAME)` log line (or https://, tcp://, udp://), and stops it with
 * SIGTERM (SIGKILL after 3 s). Also reads a process's memory from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

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
