/**
 * Benchmark dispatcher: `npm run bench [-- NAME...]`.
 * With no name it runs every known benchmark in turn; an unknown name is a usage error
 * (exit 2). To add one (tcp, dns, ...), write bench/NAME.ts exporting a Benchmark built on
 * bench/lib/ and add it to BENCHMARKS below.
 */
import { EnvironmentError, UsageError, type Benchmark } from './lib/benchmark.js';
import { cleanupAll, installCleanupHandlers, InterruptedError, isShuttingDown } from './lib/cleanup.js';

const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  http: async () => (await import('./http.js')).httpBenchmark,
  pick: async () => (await import('./pick.js')).pickBenchmark,
  route: async () => (await import('./route.js')).routeBenchmark,
  heads: async () => (await import('./heads.js')).headsBenchmark,
  dns: async () => (await import('./dns.js')).dnsBenchmark,
  tcp: async () => (await import('./tcp.js')).tcpBenchmark,
  dataplane: async () => (await import('./dataplane.js')).dataplaneBenchmark,
  https: async () => (await import('./https.js')).httpsBenchmark,
  soak: async () => (await import('./soak.js')).soakBenchmark,
  scrape: async () => (await import('./scrape.js')).scrapeBenchmark,
  grpc: async () => (await import('./grpc.js')).grpcBenchmark,
  gzip: async () => (await import('./gzip.js')).gzipBenchmark,
  alloc: async () => (await import('./alloc.js')).allocBenchmark,
};

function usage(): string {
  return [
    'usage: npm run bench [-- NAME...]      (no NAME: run all but soak)',
    '',
    'benchmarks:',
    ...Object.keys(BENCHMARKS).map((n) => `  ${n}`),
    '',
    'environment:',
    '  BENCH_DURATION=10s      measured run length per contestant per round (wrk -d)',
    '  BENCH_WARMUP=2s         warm-up run per contestant before round 1',
    '  BENCH_ROUNDS=3          rounds; each round runs every contestant once (A B A B)',
    '  BENCH_CONNECTIONS=50    wrk -c',
    '  BENCH_ONLY=a,b          run only these contestants (http: direct,fulcrum,haproxy,nginx-proxy,http-proxy)',
    '  BENCH_FULCRUM_ARGS=...  extra arguments appended to the fulcrum command',
    '  BENCH_RESTART=1         http, https: restart every contestant (and warm it up again) before each round after the first',
    '  BENCH_PICKS=2000000     pick: picks per contestant per round',
    '  BENCH_PICK_ROUNDS=5     pick: rounds (median reported)',
    '  BENCH_PICK_ONLY=a,b     pick: only these contestants (round-robin,random,least-conn,maglev,...)',
    '  BENCH_ROUTE_CALLS=200000  route: matchRequest calls per case per round',
    '  BENCH_ROUTE_ROUNDS=5    route: rounds (median reported)',
    '  BENCH_HEADS_CALLS=500000  heads: heads per case per round;  BENCH_HEADS_ROUNDS=5: rounds (median reported)',
    '  BENCH_DNS_ONLY=a,b      dns: only these contestants (nsd,fulcrum)',
    '  BENCH_DNS_CLIENTS=4     dns: dnsperf -c',
    '  BENCH_DNS_OUTSTANDING=100  dns: dnsperf -q (queries in flight)',
    '  BENCH_DNS_QPS=2000000   dns: dnsperf -Q (rate cap, high enough not to bind)',
    '  BENCH_TCP_PHASES=a,b    tcp: only these phases (bulk,rate,memory); tcp uses BENCH_DURATION (default 5s),',
    '                          BENCH_WARMUP (1s), BENCH_ROUNDS, BENCH_CONNECTIONS and BENCH_ONLY (direct,fulcrum,haproxy,nginx)',
    '  BENCH_TCP_PAIRS=10000   tcp: idle connection pairs for the memory phase (capped by the open-files limit)',
    '  dataplane (as root): BENCH_DURATION (default 5s), BENCH_WARMUP (1s), BENCH_ROUNDS and',
    '                          BENCH_ONLY (direct,haproxy,nat,fullnat,dsr)',
    '  BENCH_HTTPS_PHASES=a,b  https: only these phases (keepalive,handshake,resumption,h2); https uses BENCH_DURATION (5s),',
    '                          BENCH_WARMUP (3s), BENCH_ROUNDS, BENCH_CONNECTIONS and BENCH_ONLY (fulcrum,haproxy,node-tls,floor-node,floor-system)',
    '  BENCH_TLS_SUITES=a:b    https: the TLS 1.3 suites wrk offers in the handshake phases, in order (default: its OpenSSL\'s)',
    '  BENCH_H2_CLIENTS=10     https, grpc: h2load -c;  BENCH_H2_STREAMS=10: h2load -m',
  '  BENCH_GRPC_PHASES=a,b   grpc: only these phases (grpc,h2); BENCH_DURATION (5s), BENCH_WARMUP (1s), BENCH_ROUNDS (5),',
  '                          BENCH_ONLY (fulcrum,haproxy,nginx)',
    '  gzip: BENCH_DURATION (6s), BENCH_WARMUP, BENCH_ROUNDS (5), BENCH_CONNECTIONS, BENCH_ONLY (fulcrum-gzip,nginx-gzip,fulcrum,nginx),',
    '                          BENCH_GZIP_LEVEL=6 (the gzip level of both proxies)',
    '  BENCH_ALLOC_PHASES=a,b  alloc: only these phases (h2,http1); BENCH_DURATION (5s) per phase',
    '  BENCH_SOAK_DURATION=60m soak: how long;  BENCH_SOAK_SAMPLE=30s: how often memory and descriptors are sampled',
    '',
    'see bench/README.md',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  installCleanupHandlers();
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const unknown = argv.filter((a) => !(a in BENCHMARKS));
  if (unknown.length > 0) throw new UsageError(`unknown benchmark: ${unknown.join(', ')}`);
  // the soak runs for an hour: only when named
  const names = argv.length > 0 ? [...new Set(argv)] : Object.keys(BENCHMARKS).filter((n) => n !== 'soak');
  let code = 0;
  for (const name of names) {
    const bench = await BENCHMARKS[name]!();
    const rc = await bench.run();
    if (rc !== 0) code = rc;
  }
  return code;
}

main(process.argv.slice(2))
  .catch(async (err: unknown) => {
    if (err instanceof InterruptedError || isShuttingDown()) return 130;
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n\n${usage()}\n`);
      return 2;
    }
    if (err instanceof EnvironmentError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  })
  .then(async (code) => {
    await cleanupAll();
    process.exitCode = code;
  });
