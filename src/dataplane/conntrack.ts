/**
 * Removes the connection-tracking entries of a server's flows, so the clients of a
 * server that left fail fast instead of hanging: with its entry gone, a flow's next
 * packet is a new flow to the kernel, goes to a usable server by the table, and that
 * server answers a TCP segment of a connection it never saw with a reset (a UDP flow
 * simply continues on the new server). Uses the `conntrack` program (Debian package
 * conntrack), which talks netlink to the kernel's connection tracker.
 */
import type { Host } from './host.js';

/** The flows of one server behind one virtual service. */
export interface FlowFilter {
  protocol: 'tcp' | 'udp';
  vip: string;
  ports: readonly number[];
  /** The server's address: the source of the flows' replies. */
  server: string;
}

/** Runs `conntrack -D` for a server's flows. */
export class ConntrackFlusher {
  private missingReported = false;

  constructor(
    private readonly host: Host,
    private readonly log: (msg: string) => void,
  ) {}

  /**
   * Deletes the entries of flows to `f.vip` on `f.ports` whose replies come from
   * `f.server`. Resolves with how many were deleted, or null when conntrack is not
   * installed or failed (logged once, or each time, respectively). Never rejects.
   */
  async flush(f: FlowFilter): Promise<number | null> {
    let deleted = 0;
    for (const port of f.ports) {
      const args = ['-D', '-p', f.protocol, '--orig-dst', f.vip, '--orig-port-dst', String(port), '--reply-src', f.server];
      let r;
      try {
        r = await this.host.run('conntrack', args);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          if (!this.missingReported) this.log('conntrack is not installed, so flows of a server that went down are not cut and their clients wait for timeouts (Debian: apt-get install conntrack)');
          this.missingReported = true;
        } else {
          this.log(`conntrack ${args.join(' ')} failed: ${(err as Error).message}`);
        }
        return null;
      }
      // conntrack exits 1 with "0 flow entries have been deleted." when nothing matched.
      const m = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(r.stderr + r.stdout);
      if (m === null) {
        this.log(`conntrack ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
        return null;
      }
      deleted += Number(m[1]);
    }
    return deleted;
  }

  /** Whether the conntrack program runs here. */
  async available(): Promise<boolean> {
    try {
      const r = await this.host.run('conntrack', ['--version']);
      return r.code === 0;
    } catch {
      return false;
    }
  }
}
