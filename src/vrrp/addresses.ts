/**
 * Adds and removes an instance's virtual addresses on its interface with iproute2. One
 * `ip -o -force -batch -` process per instance stays running and reads commands as they
 * come, so a takeover costs a pipe write instead of a process start (about 15 ms here);
 * after each change a `link show dev lo` marker line on stdout (line-buffered through
 * coreutils' stdbuf) says the change is done. Without stdbuf, or when that process
 * dies, each change starts its own `ip -batch`. Changes run one at a time in order, so a
 * quick take-release-take ends with the addresses present. An address already there (on
 * take) or already gone (on release) is not an error.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** The `ip` program (iproute2). */
const IP = 'ip';
const MARKER = 'link show dev lo\n';

export class VirtualAddresses {
  private chain: Promise<void> = Promise.resolve();
  private batch: IpBatch | null = null;
  private closed = false;

  constructor(
    private readonly iface: string,
    private readonly vips: ReadonlyArray<{ address: string; prefix: number }>,
    private readonly log: (msg: string) => void,
  ) {}

  /** Adds every address (resolves once done; failures are logged, never thrown). */
  take(): Promise<void> {
    return this.run('add');
  }

  /** Removes every address. */
  release(): Promise<void> {
    return this.run('del');
  }

  /** Ends the `ip` process once queued changes are done. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    await this.batch?.close();
    this.batch = null;
  }

  private run(op: 'add' | 'del'): Promise<void> {
    const lines = this.vips.map((v) => `addr ${op} ${v.address}/${v.prefix} dev ${this.iface}\n`).join('');
    this.chain = this.chain
      .then(() => this.exec(lines))
      .then(
        (problems) => {
          const real = problems.filter((p) => !(op === 'add' ? /File exists|already assigned/ : /Cannot assign requested address|Address not found/).test(p));
          if (real.length > 0) this.log(`ip addr ${op} on ${this.iface}: ${real.join('; ')}`);
        },
        (err: Error) => this.log(`cannot run ${IP} to ${op === 'add' ? 'add' : 'remove'} the virtual addresses on ${this.iface}: ${err.message}`),
      );
    return this.chain;
  }

  private async exec(lines: string): Promise<string[]> {
    if (!this.closed && (this.batch === null || this.batch.dead)) this.batch = IpBatch.start();
    if (this.batch !== null && !this.batch.dead) {
      const out = await this.batch.run(lines);
      if (out !== null) return out;
    }
    return ipOnce(lines);
  }
}

/** A long-running `ip -o -force -batch -`; `run` resolves with the error lines, or null if the process died. */
class IpBatch {
  dead = false;
  private errors: string[] = [];
  private readonly waiters: Array<(errors: string[] | null) => void> = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      let i: number;
      while ((i = out.indexOf('\n')) >= 0) {
        out = out.slice(i + 1);
        const errors = this.errors;
        this.errors = [];
        this.waiters.shift()?.(errors);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      for (const l of d.split('\n')) if (l.trim() !== '' && !l.startsWith('Command failed')) this.errors.push(l.trim());
    });
    const die = () => {
      this.dead = true;
      for (const w of this.waiters.splice(0)) w(null);
    };
    child.on('error', die);
    child.on('close', die);
    child.stdin.on('error', die);
  }

  static start(): IpBatch {
    return new IpBatch(spawn('stdbuf', ['-oL', IP, '-o', '-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  run(lines: string): Promise<string[] | null> {
    if (this.dead) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.child.stdin.write(lines + MARKER);
    });
  }

  close(): Promise<void> {
    if (this.dead) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('close', () => resolve());
      this.child.stdin.end();
    });
  }
}

/** Runs one `ip -force -batch -` with `lines` and resolves with its error lines. */
function ipOnce(lines: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(IP, ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', () => resolve(err.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('Command failed'))));
    child.stdin.end(lines);
  });
}
