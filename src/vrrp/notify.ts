/**
 * The notify hook: on every state change, runs the configured command with the
 * arguments keepalived gives its `notify` scripts (INSTANCE NAME STATE PRIORITY, STATE
 * one of MASTER, BACKUP, FAULT, STOP), so scripts written for keepalived work unchanged.
 * Runs without a shell, does not wait, and logs a failure; a slow script never delays
 * VRRP. Hooks of one instance run one after another, in the order of the changes.
 */
import { spawn } from 'node:child_process';
import type { VrrpStateName } from './state-machine.js';

const STATE_WORDS: Record<VrrpStateName, string> = { init: 'STOP', backup: 'BACKUP', master: 'MASTER', fault: 'FAULT' };

/** The word keepalived uses for a state. */
export function stateWord(s: VrrpStateName): string {
  return STATE_WORDS[s];
}

export class NotifyHook {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly argv: readonly string[],
    private readonly instance: string,
    private readonly log: (msg: string) => void,
  ) {}

  /** Queues one run for a change to `state` at `priority`. */
  run(state: VrrpStateName, priority: number): Promise<void> {
    const args = [...this.argv.slice(1), 'INSTANCE', this.instance, stateWord(state), String(priority)];
    this.chain = this.chain.then(() => this.spawnOnce(args));
    return this.chain;
  }

  private spawnOnce(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      const cmd = this.argv[0]!;
      const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-500)));
      child.on('error', (e) => {
        this.log(`notify ${cmd} failed to start: ${e.message}`);
        resolve();
      });
      child.on('close', (code, signal) => {
        if (code !== 0) this.log(`notify ${cmd} ${args.join(' ')} ended with ${signal ?? `exit ${code}`}${err.trim() ? `: ${err.trim()}` : ''}`);
        resolve();
      });
    });
  }
}
