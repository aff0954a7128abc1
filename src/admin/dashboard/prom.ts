/**
 * What the dashboard computes from `/metrics`: the Prometheus text format parsed into
 * samples, and a quantile from the bucket counts of a histogram as Prometheus'
 * histogram_quantile computes it (linear within the bucket holding the rank; the upper
 * bound of the last finite bucket when the rank falls in +Inf). It runs in the browser,
 * served as this function's source (dashboard/script.ts), so it uses nothing outside it;
 * test/unit/admin-dashboard.test.ts runs it in Node.
 */

/** One sample: its metric name (with `_bucket`, `_sum`, `_count` as written), labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function promTools() {
  /** Samples of the text format (comments, blank and malformed lines skipped, timestamps ignored, label escapes undone). */
  const parse = (text: string): Sample[] => {
    const out: Sample[] = [];
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[2] || '')) !== null) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_: string, c: string) => (c === 'n' ? '\n' : c));
      const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
      if (Number.isNaN(v) && m[3] !== 'NaN') continue; // not a sample line
      out.push({ name: m[1]!, labels, value: v });
    }
    return out;
  };

  /**
   * The `q` quantile (0..1) of cumulative bucket counts given as [upper bound, count]
   * (any order; +Inf as Infinity), or null when they count nothing.
   */
  const histogramQuantile = (buckets: Array<[number, number]>, q: number): number | null => {
    const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
    const total = sorted.length ? sorted[sorted.length - 1]![1] : 0;
    if (!(total > 0)) return null;
    const rank = q * total;
    let lowerLe = 0;
    let lowerCount = 0;
    for (const [le, count] of sorted) {
      if (count >= rank) {
        if (le === Infinity) return lowerLe;
        const inBucket = count - lowerCount;
        return inBucket <= 0 ? le : lowerLe + ((le - lowerLe) * (rank - lowerCount)) / inBucket;
      }
      lowerLe = le;
      lowerCount = count;
    }
    return lowerLe;
  };

  return { parse, histogramQuantile };
}

export type PromTools = ReturnType<typeof promTools>;
