/**
 * Test hosts in network namespaces for the privileged data plane tests: the Topology of
 * `fulcrum lab` (src/lab/topology.ts, re-exported here), the check that decides whether
 * such a test can run, and a driver for the dataplane-client fixture.
 */
import { hasTool, type NsProcess } from '../../src/lab/topology.js';

export { BALANCER_IP, CLIENT_IP, NsProcess, SERVER_IPS, sh, shResult, Topology, VIP } from '../../src/lab/topology.js';

/** Why the privileged tests cannot run here, or null when they can. */
export function privilegedSkip(tools: string[] = ['ip', 'nft']): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root: creates network namespaces and nftables tables';
  for (const t of tools) if (!hasTool(t)) return `needs ${t} (Debian: see .ci/run)`;
  return null;
}

/** One answer of the dataplane-client fixture: the server that answered, or the error, and after how long. */
export interface FlowAnswer {
  server?: string;
  error?: string;
  ms?: number;
}

/**
 * The dataplane-client fixture (test/fixtures/dataplane-client.ts) driven over its stdin:
 * one command a line; the n-th answer is the n-th JSON line after its "ready".
 */
export class FlowClient {
  private answers = 0;

  constructor(readonly proc: NsProcess) {}

  async ask(cmd: string, ms = 6000): Promise<FlowAnswer> {
    const n = ++this.answers;
    this.proc.child.stdin!.write(`${cmd}\n`);
    const end = Date.now() + ms;
    for (;;) {
      const lines = this.proc.out.split('\n');
      if (lines.length - 2 >= n) return JSON.parse(lines[n]!) as FlowAnswer;
      if (Date.now() > end) throw new Error(`no answer to ${cmd}: ${this.proc.out}${this.proc.err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
