/** Lines for people on stderr, prefixed so they stand out among other programs' output. */
export function say(msg: string): void {
  process.stderr.write(`fulcrum: ${msg}\n`);
}
