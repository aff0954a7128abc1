/**
 * Node's Buffer has undocumented but long-stable methods that `toString('latin1')` and
 * `write(s, 'latin1')` end in after their argument checks; the hot path calls them
 * directly through this type. The self-test (internals.ts) checks they are there and
 * behave; where they are not, it defines them over toString/write.
 */
export type FastBuffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number): number;
};
