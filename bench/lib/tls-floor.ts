/**
 * The C helpers of the https benchmark, compiled when it starts: the TLS floor
 * (bench/peers/tls-floor.c) built against the system's libssl and against Node's own
 * OpenSSL, and the library preloaded into wrk that chooses and counts its TLS sessions
 * (bench/peers/wrk-tls-sessions.c). They need a C compiler and libssl's headers
 * (Debian: gcc, libssl-dev); Node's headers come with Node (`<prefix>/include/node`).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from './paths.js';
import { runCommand, startProcess, type ManagedProcess } from './process.js';

/** Which OpenSSL a floor uses: Node's (the one Fulcrum's addon uses) or the system's (HAProxy's). */
export type FloorLibrary = 'node' | 'system';

const source = (name: string) => resolve(repoRoot, 'bench', 'peers', name);

/** Node's C headers (node_api.h, and the headers of its OpenSSL), or undefined. */
function nodeIncludeDir(): string | undefined {
  const dir = resolve(dirname(process.execPath), '..', 'include', 'node');
  return existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'openssl', 'ssl.h')) ? dir : undefined;
}

async function compile(cc: string, args: string[]): Promise<void> {
  const r = await runCommand('cc', cc, ['-O2', ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${cc} ${args.join(' ')}: ${`${r.stdout}${r.stderr}`.trim().split('\n').slice(0, 3).join(' | ')}`);
}

/** Builds the wrk preload library in `dir`: its path. Throws with the compiler's first lines. */
export async function buildWrkSessions(cc: string, dir: string): Promise<string> {
  const out = join(dir, 'wrk-tls-sessions.so');
  await compile(cc, ['-shared', '-fPIC', source('wrk-tls-sessions.c'), '-o', out, '-ldl', '-lssl']);
  return out;
}

/** Builds the floor for `library` in `dir`: the program or addon's path. Throws with the compiler's first lines. */
export async function buildFloor(cc: string, dir: string, library: FloorLibrary): Promise<string> {
  if (library === 'system') {
    const out = join(dir, 'tls-floor');
    await compile(cc, ['-DFLOOR_MAIN', source('tls-floor.c'), '-o', out, '-lssl', '-lcrypto']);
    return out;
  }
  const include = nodeIncludeDir();
  if (include === undefined) throw new Error(`no Node headers with OpenSSL's beside ${process.execPath} (expected ${resolve(dirname(process.execPath), '..', 'include', 'node')})`);
  const out = join(dir, 'tls-floor.node');
  // the OpenSSL symbols stay undefined here: the node binary that loads the addon has them
  await compile(cc, ['-shared', '-fPIC', '-DFLOOR_NAPI', `-I${include}`, source('tls-floor.c'), '-o', out]);
  return out;
}

/** Starts a built floor on 127.0.0.1:`port`. */
export function startFloor(name: string, library: FloorLibrary, built: string, port: number, cert: string, key: string): Promise<ManagedProcess> {
  if (library === 'system') return startProcess(name, built, [String(port), cert, key]);
  const script = `require(${JSON.stringify(built)}).serve(${port}, ${JSON.stringify(cert)}, ${JSON.stringify(key)})`;
  return startProcess(name, process.execPath, ['-e', script]);
}

/** What wrk-tls-sessions.so counted in one wrk run. */
export interface WrkSessions {
  readonly handshakes: number;
  readonly resumed: number;
  readonly tls13: number;
  readonly x25519: number;
  /** wrk's own CPU time (user and system), microseconds. */
  readonly cpuUs: number;
  /** The first handshake's TLS suite, and how many handshakes had another. */
  readonly suite: string;
  readonly otherSuites: number;
}

/** Reads the preload library's line from wrk's stderr, or undefined when it is not there. */
export function parseWrkSessions(stderr: string): WrkSessions | undefined {
  const m = /wrk-tls-sessions: (\d+) handshakes, (\d+) resumed, (\d+) TLSv1\.3, (\d+) X25519, (\d+) cpu-us, suite (\S+), (\d+) other suites/.exec(stderr);
  if (!m) return undefined;
  return { handshakes: Number(m[1]), resumed: Number(m[2]), tls13: Number(m[3]), x25519: Number(m[4]), cpuUs: Number(m[5]), suite: m[6]!, otherSuites: Number(m[7]) };
}
