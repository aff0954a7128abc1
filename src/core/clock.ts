/**
 * Milliseconds since the epoch for deadlines on the hot path. Inside a batch of the
 * native addon's events (io/native-relay.ts) it is the time the batch began, read once instead
 * of once per deadline (about five per proxied request); elsewhere it is Date.now().
 * A batch lasts a few milliseconds at most, so a deadline set during one is that much
 * early at worst.
 */
let batchStart = 0;

export function now(): number {
  return batchStart !== 0 ? batchStart : Date.now();
}

/** A batch of I/O events begins: now() is this instant until endBatch(). */
export function beginBatch(): void {
  batchStart = Date.now();
}

export function endBatch(): void {
  batchStart = 0;
}
