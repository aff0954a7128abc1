/**
 * "Did you mean ...?" suggestions for misspelt keys, enum values and names.
 */

/**
 * Optimal-string-alignment distance (Levenshtein plus adjacent transpositions) between
 * two strings. O(a.length * b.length) time; meant for short identifiers.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** Case, '_' and '-' do not count as differences: "headerSize" is close to "header_size". */
function fold(s: string): string {
  return s.toLowerCase().replace(/[-_]/g, '');
}

/**
 * The candidate closest to `word`, if one is close enough to be a plausible typo (at most
 * a third of the longer word's letters differ, and at least one may), else undefined.
 * Ties go to the earlier candidate, so list the likeliest first.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const folded = fold(word);
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const c = fold(candidate);
    const distance = editDistance(folded, c);
    const allowed = Math.max(1, Math.floor(Math.max(folded.length, c.length) / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * A message tail for `word`: "; did you mean `x`?" when a candidate is close, otherwise
 * " (expected one of: `a`, `b`)" listing every candidate, or "" when there are none.
 */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const hit = closest(word, candidates);
  if (hit !== undefined) return `; did you mean \`${hit}\`?`;
  if (candidates.length === 0) return '';
  return ` (expected one of: ${candidates.map((c) => `\`${c}\``).join(', ')})`;
}

/**
 * The message for a reference to a pool that does not exist: a suggestion when a pool's
 * name is close, else the list of pools.
 */
export function noPoolMessage(name: string, pools: readonly string[]): string {
  const hint = closest(name, pools);
  const tail = hint ? `; did you mean \`${hint}\`?` : pools.length ? ` (pools: ${pools.map((n) => `\`${n}\``).join(', ')})` : ' (no pools are defined)';
  return `no pool named \`${name}\`${tail}`;
}
