/** Small statistics over per-round figures. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    median: median(values),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
    n: values.length,
  };
}

/** The summary of `f` over `items`, skipping items without a (finite) figure. */
export function summarizeBy<T>(items: readonly T[], f: (item: T) => number | undefined): Summary {
  return summarize(items.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x)));
}

/** a / b, or undefined when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return undefined;
  return a / b;
}

/** A figure of two contestants compared round by round. */
export interface PairedRatio {
  /** a / b within each round both measured (rounds in order). */
  readonly perRound: number[];
  /** The median of perRound, or undefined when no round has both. */
  readonly median: number | undefined;
}

/**
 * Compares contestant A's runs with B's round by round: the ratio of `f` within each
 * round, then the median of those ratios. Runs of one round are minutes apart at most,
 * so a change in the host's speed between rounds cancels out of each ratio; comparing
 * each contestant's median over rounds instead lets it in whole.
 */
export function pairedRatio<R extends { readonly round: number }>(a: readonly R[], b: readonly R[], f: (r: R) => number | undefined): PairedRatio {
  const perRound: number[] = [];
  for (const ra of [...a].sort((x, y) => x.round - y.round)) {
    const rb = b.find((x) => x.round === ra.round);
    const r = rb === undefined ? undefined : ratio(f(ra), f(rb));
    if (r !== undefined) perRound.push(r);
  }
  return { perRound, median: perRound.length === 0 ? undefined : median(perRound) };
}
