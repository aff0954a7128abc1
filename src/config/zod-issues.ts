/**
 * Turns zod's issues into Fulcrum's wording: one issue per unknown key (with a
 * suggestion), "missing required key `x`", "expected a list, got the string ..." and
 * enum values with a suggestion.
 */
import type { z } from 'zod';
import type { KeyPath } from './locate.js';
import { AT_KEY, describeValue, MISSING } from './common/fields.js';
import { closest, didYouMean } from './common/suggest.js';
import type { PathIssue } from './common/parsed.js';

type ZodIssue = z.core.$ZodIssue;

/** The parts of a zod schema definition needed to walk it. */
interface Def {
  type: string;
  shape?: Record<string, Walkable>;
  innerType?: Walkable;
  in?: Walkable;
  element?: Walkable;
  valueType?: Walkable;
}
interface Walkable {
  _zod: { def: Def };
}

/** Strips optional/default/pipe wrappers down to an object, array or record. */
function unwrap(schema: Walkable): Walkable {
  let s = schema;
  for (;;) {
    const def = s._zod.def;
    const next = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (!next) return s;
    s = next;
  }
}

/** The keys a strict object at `path` of `schema` allows, in schema order ([] if none). */
export function allowedKeys(schema: Walkable, path: KeyPath): string[] {
  let s: Walkable | undefined = unwrap(schema);
  for (const segment of path) {
    const def: Def = s._zod.def;
    s = def.type === 'object' ? def.shape?.[String(segment)] : def.type === 'array' ? def.element : def.type === 'record' ? def.valueType : undefined;
    if (!s) return [];
    s = unwrap(s);
  }
  const shape = s._zod.def.shape;
  return shape ? Object.keys(shape) : [];
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** The zod issues of one parse of `schema`, reworded as path issues. */
export function fromZodIssues(schema: Walkable, issues: readonly ZodIssue[]): PathIssue[] {
  return issues.flatMap((issue): PathIssue[] => {
    const path = issue.path.map((s) => (typeof s === 'number' ? s : String(s)));
    switch (issue.code) {
      case 'unrecognized_keys': {
        const allowed = allowedKeys(schema, path);
        return issue.keys.map((key) => ({
          path: [...path, key],
          message: `unknown key \`${key}\`${didYouMean(key, allowed)}`,
          at: 'key' as const,
        }));
      }
      case 'invalid_type': {
        if (issue.input === undefined || issue.message === MISSING) {
          const key = path.at(-1);
          return [{ path, message: key === undefined ? 'the file holds no configuration' : `missing required key \`${key}\`` }];
        }
        const expected = EXPECTED[issue.expected] ?? issue.expected;
        return [{ path, message: `expected ${expected}, got ${describeValue(issue.input)}` }];
      }
      case 'invalid_value': {
        const values = issue.values.map((v) => String(v));
        const hint = typeof issue.input === 'string' ? closest(issue.input, values) : undefined;
        const tail = hint ? `; did you mean \`${hint}\`?` : '';
        const choices = values.map((v) => `\`${v}\``).join(', ');
        return [{ path, message: `expected one of ${choices}, got ${describeValue(issue.input)}${tail}` }];
      }
      case 'custom':
        // A converted field's problem with one key of its mapping points at that key.
        return [issue.params?.at === AT_KEY ? { path, message: issue.message, at: 'key' as const } : { path, message: issue.message }];
      default:
        return [{ path, message: issue.message }];
    }
  });
}
