/**
 * Rates as a configuration writes them: "10/s", "600/m", "3600/h", or a number (per
 * second). Used by route `rate_limit` and listener `new_connections_per_client`.
 */
import { converted, describeValue } from '../common/fields.js';
import { text } from '../common/field-meta.js';

const PER: Record<string, number> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600 };

/** Events per second of "10/s", "600/m", "3600/h" or 10. */
export function parseRate(v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`a rate must be above 0, got ${v}`);
    return v;
  }
  if (typeof v !== 'string') throw new Error(`expected a rate such as "10/s", "600/m" or "3600/h", got ${describeValue(v)}`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*([a-z]+)\s*$/.exec(v);
  const per = m === null ? undefined : PER[m[2]!];
  if (m === null || per === undefined) throw new Error(`expected a rate such as "10/s", "600/m" or "3600/h", got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  if (n <= 0) throw new Error(`a rate must be above 0, got ${JSON.stringify(v)}`);
  return n / per;
}

/** The written form of `perSecond` (for messages and the reference). */
export function formatRate(perSecond: number): string {
  if (Number.isInteger(perSecond)) return `${perSecond}/s`;
  if (Number.isInteger(perSecond * 60)) return `${perSecond * 60}/m`;
  return `${+(perSecond * 3600).toFixed(3)}/h`;
}

export const rate = converted(parseRate, text('rate', { pattern: '^[0-9.]+/(s|m|h)$' }));
