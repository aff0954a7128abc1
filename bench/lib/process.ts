/**
 * Child processes that are always ended: started with spawn, remembered by pid (and by
 * the pids of the descendants we have seen, e.g. nginx workers), stopped with SIGTERM,
 * then SIGKILL after a grace period, on normal paths (stop()) and, through cleanup.ts,
 * on errors, signals and exit. Never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { registerCleanup, isShuttingDown, ORDER_PROCESS, type CleanupHandle } from './cleanup.js';
import { processTree, readProcStat, treeCpuMicros } from './cpu.js';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Keep all of stdout/stderr (up to 8 MiB) instead of a 16 KiB tail: for wrk, version commands. */
  readonly keepOutput?: boolean;
  /** Also copy the child's stdout and stderr to our stderr as they come (e.g. apt-get). */
  readonly echo?: boolean;
}

const TAIL_BYTES = 16 * 1024;
const KEEP_BYTES = 8 * 1024 * 1024;
export const DEFAULT_GRACE_MS = 3000;

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function timeout(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}

export class ManagedProcess {
  readonly pid: number;
  /** Resolves when the process has exited (its stdio may still be open in descendants). */
  readonly exited: Promise<ExitInfo>;
  /** Resolves when the process has exited and its stdout/stderr are closed. */
  readonly closed: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;
  #stdout = '';
  #stderr = '';
  readonly #limit: number;
  readonly #family = new Map<number, number>(); // pid -> starttime of descendants seen
  #stopping: Promise<ExitInfo> | undefined;
  readonly #cleanup: CleanupHandle;

  constructor(
    readonly name: string,
    readonly argv: readonly string[],
    child: ChildProcess,
    keepOutput: boolean,
    echo = false,
  ) {
    if (child.pid === undefined) throw new Error(`${name}: no pid`);
    this.pid = child.pid;
    this.#limit = keepOutput ? KEEP_BYTES : TAIL_BYTES;
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.#stdout = this.#append(this.#stdout, s)));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.#stderr = this.#append(this.#stderr, s)));
    if (echo) {
      child.stdout?.on('data', (s: string) => process.stderr.write(s));
      child.stderr?.on('data', (s: string) => process.stderr.write(s));
    }
    child.on('error', () => {
      // kill() failures and the like; exit/close still report the outcome
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    this.closed = new Promise((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
    });
    this.#cleanup = registerCleanup(
      ORDER_PROCESS,
      async () => void (await this.stop()),
      () => this.killSync(),
    );
    this.rememberDescendants();
  }

  #append(buf: string, s: string): string {
    const next = buf + s;
    return next.length > this.#limit ? next.slice(next.length - this.#limit) : next;
  }

  get hasExited(): boolean {
    return this.#exit !== undefined;
  }
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }
  get stdout(): string {
    return this.#stdout;
  }
  get stderr(): string {
    return this.#stderr;
  }
  /** The last lines of output, for error messages. */
  outputTail(lines = 15): string {
    const all = `${this.#stderr}${this.#stderr && this.#stdout ? '\n' : ''}${this.#stdout}`.trimEnd();
    return all.split('\n').slice(-lines).join('\n');
  }

  /** Notes the current descendants (pid + start time) so they can be ended by pid later. */
  rememberDescendants(): void {
    if (this.hasExited) return;
    for (const p of processTree(this.pid).slice(1)) this.#family.set(p.pid, p.starttime);
  }

  /** CPU microseconds used so far by the process and its descendants; undefined once exited. */
  cpuMicros(): number | undefined {
    if (this.hasExited) return undefined;
    const tree = processTree(this.pid);
    if (tree.length === 0) return undefined;
    for (const p of tree.slice(1)) this.#family.set(p.pid, p.starttime);
    return treeCpuMicros(tree);
  }

  #killFamily(): void {
    for (const [pid, start] of this.#family) {
      const st = readProcStat(pid);
      if (st && st.starttime === start && st.state !== 'Z') trySignal(pid, 'SIGKILL');
    }
  }

  /** SIGTERM; SIGKILL after graceMs; then SIGKILL any descendant left behind. Idempotent. */
  stop(graceMs = DEFAULT_GRACE_MS): Promise<ExitInfo> {
    this.#stopping ??= (async () => {
      this.rememberDescendants();
      if (!this.hasExited) {
        trySignal(this.pid, 'SIGTERM');
        if ((await Promise.race([this.exited, timeout(graceMs)])) === 'timeout') {
          trySignal(this.pid, 'SIGKILL');
          await Promise.race([this.exited, timeout(2000)]);
        }
      }
      this.#killFamily();
      this.#cleanup.unregister();
      return this.#exit ?? { code: null, signal: 'SIGKILL' };
    })();
    return this.#stopping;
  }

  /** For process 'exit': SIGKILL by pid, synchronously. */
  killSync(): void {
    this.rememberDescendants();
    if (!this.hasExited) trySignal(this.pid, 'SIGKILL');
    this.#killFamily();
  }
}

/** Spawns a process (stdin closed, stdout/stderr piped) and waits until it has started. */
export async function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<ManagedProcess> {
  if (isShuttingDown()) throw new Error(`${name}: not started, shutting down`);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`${name}: cannot start ${command}: ${err.message}`));
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      resolve();
    });
  });
  return new ManagedProcess(name, [command, ...args], child, options.keepOutput ?? false, options.echo ?? false);
}

export interface CommandResult extends ExitInfo {
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Runs a short-lived command to completion (stopping it after timeoutMs) and returns its output. */
export async function runCommand(
  name: string,
  command: string,
  args: readonly string[],
  options: StartOptions & { timeoutMs?: number } = {},
): Promise<CommandResult> {
  const proc = await startProcess(name, command, args, { ...options, keepOutput: true });
  try {
    const outcome = await Promise.race([proc.closed, timeout(options.timeoutMs ?? 30_000)]);
    if (outcome === 'timeout') {
      const info = await proc.stop();
      return { ...info, stdout: proc.stdout, stderr: proc.stderr, timedOut: true };
    }
    return { ...outcome, stdout: proc.stdout, stderr: proc.stderr, timedOut: false };
  } finally {
    await proc.stop();
  }
}
