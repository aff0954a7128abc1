/**
 * What the cross-checks (each feature's checks.ts) read: the YAML mappings of a file,
 * one mapping at a time, each field as its schema parses it. A field the schema rejects
 * is left out, so one bad value does not hide the file's other problems, and a field the
 * file leaves out has its schema default: the checks never apply defaults or parse
 * values of their own. Whether the file wrote a key (not its default) is asked with
 * `given`, where a message or a rule depends on it.
 */
import type { z } from 'zod';
import type { KeyPath } from '../locate.js';

/** An issue before it is given a file position: where (as a key path) and what. */
export interface PathIssue {
  path: KeyPath;
  message: string;
  /** Point at the key itself rather than its value (e.g. a bad pool name). */
  at?: 'key' | 'value';
}

/** A parsed YAML mapping, as written. */
export type Obj = Record<string, unknown>;

/** A mapping (not null, not a list). */
export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value when it is a list, else an empty one (the schema reports the wrong type). */
export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A strict object schema, whose fields can be parsed one by one. */
export type Shaped = z.ZodObject;

/** Each field of a mapping as its schema outputs it; absent when the schema rejects it. */
export type Fields<S extends Shaped> = { readonly [K in keyof S['shape']]?: z.output<S['shape'][K]> };

/** One mapping of the file, parsed field by field. */
export interface Parsed<S extends Shaped> {
  readonly fields: Fields<S>;
  /** The mapping as written, for the keys of nested values and for `given`. */
  readonly raw: Obj;
  /** Does the file write this key (a value the schema rejects counts as written)? */
  given(key: keyof S['shape'] & string): boolean;
}

const cache = new WeakMap<Obj, Map<Shaped, Parsed<Shaped>>>();

/**
 * Parses each field of `raw` with its schema in `schema`; undefined when `raw` is not a
 * mapping (the schema reports that). The same mapping is parsed once per schema.
 */
export function parseFields<S extends Shaped>(schema: S, raw: unknown): Parsed<S> | undefined {
  if (!isObj(raw)) return undefined;
  let bySchema = cache.get(raw);
  if (!bySchema) cache.set(raw, (bySchema = new Map()));
  const known = bySchema.get(schema);
  if (known) return known as unknown as Parsed<S>;
  const fields: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const result = field.safeParse(raw[key]);
    if (result.success) fields[key] = result.data;
  }
  const parsed: Parsed<S> = { fields: fields as Fields<S>, raw, given: (key) => raw[key] !== undefined };
  bySchema.set(schema, parsed as unknown as Parsed<Shaped>);
  return parsed;
}

/** Each element of a list, parsed field by field (undefined where an element is not a mapping). */
export function parseEach<S extends Shaped>(schema: S, raw: unknown): Array<Parsed<S> | undefined> {
  return list(raw).map((v) => parseFields(schema, v));
}

/** Each element of a list as `schema` parses it, undefined where the schema rejects one. */
export function parseItems<S extends z.ZodType>(schema: S, raw: unknown): Array<z.output<S> | undefined> {
  return list(raw).map((v) => {
    const result = schema.safeParse(v);
    return result.success ? result.data : undefined;
  });
}
