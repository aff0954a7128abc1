/**
 * What a benchmark is, the errors the dispatcher understands, and helpers to read the
 * BENCH_* environment variables shared by every benchmark.
 */

/** One benchmark (http, later tcp, dns, ...), registered in bench/run.ts. */
export interface Benchmark {
  readonly name: string;
  /** One line for the usage text. */
  readonly summary: string;
  /** Runs the benchmark, prints its table, writes its JSON; resolves to an exit code. */
  run(): Promise<number>;
}

/** Wrong arguments or environment variables: the dispatcher prints usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The machine lacks something (a package, root to install it): exit 1 with the message. */
export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** Reads a wrk-style duration ("10s", "2m", "30") from the environment. */
export function envDuration(name: string, fallback: string): { text: string; seconds: number } {
  const text = (process.env[name] ?? '').trim() || fallback;
  const m = /^(\d+)(s|m|h)?$/.exec(text);
  if (!m) throw new UsageError(`${name}=${text}: expected a duration such as 10s, 2m or 30`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const seconds = unit === 'h' ? n * 3600 : unit === 'm' ? n * 60 : n;
  if (seconds < 1) throw new UsageError(`${name}=${text}: must be at least 1s`);
  return { text: m[2] ? text : `${text}s`, seconds };
}

/** Reads an integer in [min, max] from the environment. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = (process.env[name] ?? '').trim();
  if (raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new UsageError(`${name}=${raw}: expected an integer`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`${name}=${raw}: expected ${min}..${max}`);
  return n;
}

/**
 * Reads a comma-separated subset of `known` (e.g. BENCH_ONLY=fulcrum,haproxy); all of
 * `known` when unset. The result keeps the order of `known`.
 */
export function envSubset<T extends string>(name: string, known: readonly T[]): T[] {
  const raw = (process.env[name] ?? '').trim();
  if (raw === '') return [...known];
  const wanted = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = wanted.filter((w) => !(known as readonly string[]).includes(w));
  if (unknown.length > 0) {
    throw new UsageError(`${name}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  }
  return known.filter((k) => wanted.includes(k));
}

/** Progress goes to stderr so that stdout holds only the result table. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}
