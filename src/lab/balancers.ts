/**
 * Starting and stopping what carries a mode in `fulcrum lab`: the two balancers' Fulcrum
 * (the VRRP pair, or in ecmp two BGP speakers), with the routes each mode needs on the
 * hosts; the router of the ecmp mode (BIRD); the HTTPS mode's certificate.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS } from '../cli/node-flags.js';
import { ACTIVE, BALANCER_ASN, MODE_NAMES, MODES, type ModeName, type Pair, type PairRole, pairConfig, PARTNER, ROUTER_ASN, TLS_CERT, vrrpState } from './modes.js';
import { CLIENT_GATEWAY, FULCRUM_MAIN, ROUTER_CLIENT_IP, ROUTER_IP, sh, shResult, type Topology, VIP } from './topology.js';

/** A self-signed certificate for www.example.com (ECDSA P-256, valid 2 days) where the HTTPS mode's configuration expects it. */
export async function makeCertificate(configs: string): Promise<void> {
  mkdirSync(join(configs, 'tls'), { recursive: true });
  await sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=www.example.com', '-addext', 'subjectAltName=DNS:www.example.com', '-keyout', join(configs, TLS_CERT.key), '-out', join(configs, TLS_CERT.cert)]);
}

/** BIRD as the router of the ECMP mode, in the router's namespace for the whole lab: a passive BGP session with each balancer, their routes to the VIP merged into one multipath route. */
export async function startRouter(topo: Topology, configs: string): Promise<void> {
  const conf = join(configs, 'bird.conf');
  const ctl = join(configs, 'bird.ctl');
  const [a, b] = [ACTIVE.address, PARTNER.address];
  writeFileSync(
    conf,
    `# fulcrum lab: the router of the ecmp mode (BIRD 2)
router id ${ROUTER_IP};
protocol device { scan time 1; }
protocol kernel { ipv4 { export all; }; merge paths on; }
template bgp lb { local ${ROUTER_IP} as ${ROUTER_ASN}; passive on; hold time 9; error wait time 1, 2; error forget time 5; ipv4 { import all; export none; }; }
protocol bgp balancer_a from lb { neighbor ${a} as ${BALANCER_ASN}; }
protocol bgp balancer_b from lb { neighbor ${b} as ${BALANCER_ASN}; }
`,
  );
  const bird = topo.start(topo.router!, 'bird', ['-f', '-c', conf, '-s', ctl]);
  for (const end = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 100))) {
    if ((await shResult('birdc', ['-s', ctl, 'show', 'status'])).stdout.includes('Daemon is up')) return;
    if (bird.hasExited || Date.now() > end) throw new Error(`BIRD did not start:\n${bird.out}${bird.err}`);
  }
}

/** Stops both balancers' Fulcrum (SIGTERM, SIGKILL after 5 s); one that had to be killed leaves its rules and addresses, which go too. */
export async function stopPair(topo: Topology, pair: Pair): Promise<void> {
  await Promise.all([pair.active.stop(5000), pair.partner.stop(5000)]);
  for (const [ns, p] of [[topo.balancer, pair.active], [topo.partner!, pair.partner]] as const) if (p.child.signalCode === 'SIGKILL') await topo.clearBalancer(ns);
}

/**
 * Sets the hosts' routes for `name`, writes the configurations of both balancers to
 * `dir`/`file`.yaml and `file`-partner.yaml, starts Fulcrum with them in both, and waits
 * until each is ready, the first VRRP master (with the VIP) and the second backup; an
 * Error when they do not get there (both are stopped then).
 */
export async function startMode(topo: Topology, name: ModeName, index: number, dir: string, file: string, interval: string | undefined, active: PairRole, partner: PairRole): Promise<Pair | Error> {
  const mode = MODES[name];
  // each run's flows use client ports of their own: connection tracking outlives a mode's
  // rules (runs: each mode's measurements, then its two drills; 1500 ports each for ten modes)
  const width = Math.floor(45_000 / (3 * MODE_NAMES.length));
  await topo.exec(topo.client, 'sysctl', '-qw', `net.ipv4.ip_local_port_range=${20_000 + index * width} ${20_000 + (index + 1) * width - 1}`);
  await topo.clientDirectRoute(mode.clientDirect);
  await topo.serverReturnRoute(mode.serverReturn);
  await topo.clientGateway(mode.ecmp ? ROUTER_CLIENT_IP : CLIENT_GATEWAY);
  // ECMP: both balancers hold the VIP on lo (the router picks between them); otherwise VRRP moves it
  for (const ns of topo.balancers) await topo.ip(ns, 'addr', mode.ecmp ? 'replace' : 'del', `${VIP}/32`, 'dev', 'lo').catch(() => undefined);
  if (mode.dsrServers) for (const ns of topo.servers) await topo.exec(ns, process.execPath, FULCRUM_MAIN, 'dsr-server', '--vip', VIP, '--interface', 'eth0', '--apply');
  const start = (ns: string, role: PairRole, path: string, which: string) => {
    writeFileSync(path, `# fulcrum lab: mode ${name} (${mode.title}), ${which}\n${pairConfig(name, role, interval)}`);
    return topo.start(ns, process.execPath, [...NODE_FLAGS, FULCRUM_MAIN, 'run', '-c', path, '--workers', '1']);
  };
  const pair: Pair = {
    active: start(topo.balancer, active, join(dir, `${file}.yaml`), `balancer A (${topo.balancer}, VRRP priority ${active.priority})`),
    partner: start(topo.partner!, partner, join(dir, `${file}-partner.yaml`), `balancer B (${topo.partner}, VRRP priority ${partner.priority})`),
  };
  try {
    await Promise.all([pair.active.waitFor(mode.ready, 15_000), pair.partner.waitFor(mode.ready, 15_000)]);
    if (mode.ecmp) {
      const want = [active.address, partner.address].sort().join();
      for (const end = Date.now() + 20_000; (await topo.nextHops(`${VIP}/32`)).join() !== want; await new Promise((r) => setTimeout(r, 50))) {
        if (pair.active.hasExited || pair.partner.hasExited || Date.now() > end) throw new Error(`the router did not get both balancers' routes to ${VIP} (next hops: ${(await topo.nextHops(`${VIP}/32`)).join(', ') || 'none'})`);
      }
      return pair;
    }
    // B may start its Master_Down timer before A advertises, take over, and give way to
    // A's priority: wait for the pair's steady state
    const end = Date.now() + 10_000;
    while (vrrpState(pair.active).last !== 'MASTER' || vrrpState(pair.partner).last !== 'BACKUP') {
      if (pair.active.hasExited || pair.partner.hasExited || Date.now() > end) {
        throw new Error(`the VRRP pair did not settle (A ${vrrpState(pair.active).last ?? 'silent'}, B ${vrrpState(pair.partner).last ?? 'silent'}):\n${pair.active.err}${pair.partner.err}`.slice(0, 2000));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return pair;
  } catch (err) {
    await stopPair(topo, pair);
    return err as Error;
  }
}
