/**
 * How the data plane talks to the host: every kernel query or change is a command (nft,
 * ip, conntrack, sysctl) run here, optionally inside a network namespace (`ip netns
 * exec NAME ...`), so tests can drive a namespace from outside. One place to run them
 * also gives one place to turn "command not found" into a clear error.
 */
import { spawn } from 'node:child_process';

/** What a command did. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs commands on the host the data plane programs. */
export interface Host {
  /**
   * Runs `file args...`, writing `input` to its stdin. Resolves with its exit code and
   * output (never rejects for a non-zero exit); rejects with code ENOENT when the program
   * is not installed, and with ETIMEDOUT after `timeoutMs` (default 10 s).
   */
  run(file: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
  /** Where the commands run, for messages: "this host" or "network namespace NAME". */
  readonly where: string;
  /** True when the commands run in this process's own network namespace (its sockets reach the same links). */
  readonly local: boolean;
}

/** Commands run by this process, in its own network namespace, or in `netns` (ip netns exec). */
export class CommandHost implements Host {
  readonly where: string;
  readonly local: boolean;

  constructor(private readonly opts: { netns?: string } = {}) {
    this.where = opts.netns === undefined ? 'this host' : `network namespace ${opts.netns}`;
    this.local = opts.netns === undefined;
  }

  run(file: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    const [cmd, argv] = this.opts.netns === undefined ? [file, [...args]] : ['ip', ['netns', 'exec', this.opts.netns, file, ...args]];
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(Object.assign(new Error(`${file} did not finish within ${opts.timeoutMs ?? 10_000} ms`), { code: 'ETIMEDOUT' }));
      }, opts.timeoutMs ?? 10_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        // `ip netns exec` reports a missing program as exit 255 with "exec of ... failed".
        if (this.opts.netns !== undefined && code === 255 && /exec of "[^"]*" failed: No such file or directory/.test(stderr)) {
          reject(Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT' }));
          return;
        }
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
      child.stdin.on('error', () => {
        /* the program exited before reading everything: its exit status says why */
      });
      child.stdin.end(opts.input ?? '');
    });
  }
}
