/**
 * Adds and removes an instance's virtual addresses on its interface with iproute2
 * (`ip -force -batch -`: one process for every address of a change). Changes run one at
 * a time in order, so a quick take-release-take ends with the addresses present. An
 * address already there (on take) or already gone (on release) is not an error.
 */
import { spawn } from 'node:child_process';

/** The `ip` program (iproute2). */
const IP = 'ip';

export class VirtualAddresses {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly iface: string,
    private readonly vips: ReadonlyArray<{ address: string; prefix: number }>,
    private readonly log: (msg: string) => void,
  ) {}

  /** Adds every address (resolves once `ip` has finished; failures are logged, never thrown). */
  take(): Promise<void> {
    return this.run('add');
  }

  /** Removes every address. */
  release(): Promise<void> {
    return this.run('del');
  }

  private run(op: 'add' | 'del'): Promise<void> {
    const lines = this.vips.map((v) => `addr ${op} ${v.address}/${v.prefix} dev ${this.iface}\n`).join('');
    this.chain = this.chain.then(() => ipBatch(lines)).then(
      (problems) => {
        const real = problems.filter((p) => !(op === 'add' ? /File exists/ : /Cannot assign requested address|Address not found/).test(p));
        if (real.length > 0) this.log(`ip addr ${op} on ${this.iface}: ${real.join('; ')}`);
      },
      (err: Error) => this.log(`cannot run ${IP} to ${op === 'add' ? 'add' : 'remove'} the virtual addresses on ${this.iface}: ${err.message}`),
    );
    return this.chain;
  }
}

/** Runs `ip -force -batch -` with `lines` and resolves with its error lines. */
function ipBatch(lines: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(IP, ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', () => resolve(err.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('Command failed'))));
    child.stdin.end(lines);
  });
}
