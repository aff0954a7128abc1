/**
 * The pieces every field parser shares: an Error that points at one part of a value, and
 * the words messages use to describe what was found.
 */

/**
 * An Error about one part of a list or mapping value (an element, or a key with `at:
 * 'key'`), so the issue points at that part rather than at the whole value.
 */
export class PathedError extends Error {
  constructor(
    readonly path: Array<number | string>,
    message: string,
    readonly at?: 'key',
  ) {
    super(message);
  }
}

/** Describes a value for messages: `the string "x"`, `5`, `true`, `a list`, `an empty value`, ... */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return v.constructor === Object ? 'a mapping' : `a ${v.constructor.name}`;
  return typeof v;
}
