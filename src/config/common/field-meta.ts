/**
 * What the reference generator (reference/) needs to know about a field beyond zod's own
 * structure, attached to the schema with `.meta()`: what a user writes for fields whose
 * raw value is converted (durations, sizes, addresses), how the reference names that
 * type, and defaults the schema itself cannot show in the form users write them.
 */

/** A JSON Schema fragment (draft-07), as written to schema/fulcrum.schema.json. */
export type JsonSchema = { [key: string]: unknown };

/** The keys reference/ reads from a field's meta, besides `description`. */
export type FieldMeta = {
  description?: string;
  /** What the field accepts as written in YAML (for `converted` fields). */
  input?: JsonSchema;
  /** How the reference names the field's type, e.g. "duration". */
  type?: string;
  /** The unit of the normalised value, to write a zod default back as the user would. */
  unit?: 'ms' | 'bytes';
  /** The default as written in YAML, when zod's default is in normalised form. */
  default?: unknown;
  /** The default in words, when it depends on other keys (reference only). */
  defaultText?: string;
  /** A heading of its own in the reference. */
  title?: string;
};

/** A duration as written: "150ms", "2s", "1m30s", or 0. */
export const DURATION: FieldMeta = {
  type: 'duration',
  unit: 'ms',
  input: { anyOf: [{ type: 'string', pattern: '^\\s*(0|(\\d+(\\.\\d+)?(h|ms|m|s))+)\\s*$' }, { const: 0 }] },
};

/** A size as written: 512, "16KiB", "1MB". */
export const SIZE: FieldMeta = {
  type: 'size',
  unit: 'bytes',
  input: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)? ?([bB]|[kKmMgG]([iI]?[bB])?)?\\s*$' }] },
};

/** A DNS-style time in whole seconds: 3600, "30s", "5m", "1h", "1d", "1w". */
export function seconds(max: number): FieldMeta {
  return {
    type: `seconds (0..${max}), or a time such as \`5m\`, \`1h\`, \`1d\``,
    input: { anyOf: [{ type: 'integer', minimum: 0, maximum: max }, { type: 'string', pattern: '^\\s*(\\d+|(\\d+[wdhmsWDHMS])+)\\s*$' }] },
  };
}

/** An integer from min to max. */
export function integer(min: number, max: number): FieldMeta {
  const input: JsonSchema = { type: 'integer', minimum: min };
  if (max !== Number.MAX_SAFE_INTEGER) input.maximum = max;
  return { type: max === Number.MAX_SAFE_INTEGER ? `integer, ${min} or more` : `integer, ${min}..${max}`, input };
}

/** A string; `type` says what it holds (a host:port, a path, a name). */
export function text(type: string, extra: JsonSchema = {}): FieldMeta {
  return { type, input: { type: 'string', ...extra } };
}

/** One string or a list of them. */
export function oneOrList(type: string): FieldMeta {
  return { type, input: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } };
}

/** Writes milliseconds or bytes the way the configuration does (see units.ts). */
export function formatSize(bytes: number): string | number {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return bytes;
}
