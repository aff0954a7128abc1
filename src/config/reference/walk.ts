/**
 * Walks the configuration's zod schema and returns a JSON Schema of the raw YAML input:
 * snake_case keys, durations and sizes as users write them. Besides standard keywords,
 * each node carries `x-type` (the type in words), `x-default` (the default in words, when
 * it is not a plain value) and `x-title` (a heading of its own) for the Markdown
 * reference; json-schema.ts strips them.
 *
 * zod's own z.toJSONSchema sees a converted field (z.unknown().transform(...)) as "any
 * value" and writes defaults in their normalised form (milliseconds, bytes), so this walk
 * reads the FieldMeta each field carries instead (field-meta.ts).
 */
import type { z } from 'zod';
import { formatSize, type FieldMeta, type JsonSchema } from '../common/field-meta.js';
import { formatDuration } from '../common/units.js';

type Schema = z.core.$ZodType;

interface Def {
  type: string;
  [key: string]: unknown;
}

function defOf(s: Schema): Def {
  return s._zod.def as unknown as Def;
}

function metaOf(s: Schema): FieldMeta {
  return ((s as unknown as { meta?: () => FieldMeta | undefined }).meta?.() ?? {}) as FieldMeta;
}

/** A walked field: its JSON Schema, and whether the key may be left out. */
interface Walked {
  json: JsonSchema;
  optional: boolean;
}

/** The input JSON Schema of `schema` (see the file comment); `path` names it in errors. */
export function walk(schema: Schema, path = '(root)'): JsonSchema {
  return walkField(schema, path, {}).json;
}

/**
 * Walks one field. `outer` is the meta of the wrappers around it (outer wins for
 * `description`, `default` and `title`; converted fields give `input` and `type`).
 */
function walkField(s: Schema, path: string, outer: FieldMeta): Walked {
  const meta: FieldMeta = { ...metaOf(s), ...outer };
  const def = defOf(s);
  switch (def.type) {
    case 'optional': {
      const inner = walkField(def.innerType as Schema, path, meta).json;
      return { json: meta.default === undefined ? inner : withDefault(inner, meta.default), optional: true };
    }
    case 'default': {
      const inner = walkField(def.innerType as Schema, path, meta).json;
      const unit = unitOf(def.innerType as Schema);
      const value = 'default' in meta ? meta.default : meta.defaultText ? undefined : inputDefault(def.defaultValue, unit, path);
      return { json: value === undefined ? inner : withDefault(inner, value), optional: true };
    }
    case 'prefault':
      return { json: walkField(def.innerType as Schema, path, meta).json, optional: true };
    case 'pipe':
      return walkPipe(def, path, meta);
    default:
      return { json: annotate(walkPlain(s, def, path), meta), optional: false };
  }
}

function walkPipe(def: Def, path: string, meta: FieldMeta): Walked {
  const input = defOf(def.in as Schema);
  if (input.type === 'unknown') {
    // converted(): the field's meta says what it accepts
    if (!meta.input) throw new Error(`reference: ${path} is converted from any value but has no FieldMeta input`);
    return { json: annotate({ ...meta.input }, meta), optional: false };
  }
  if (input.type === 'transform') {
    // z.preprocess(): what the inner schema accepts, or meta.input (e.g. `tls: true`)
    const inner = walkField(def.out as Schema, path, { ...meta, input: undefined }).json;
    const json = meta.input ? annotate({ anyOf: [meta.input, inner] }, { type: meta.type, description: meta.description }) : inner;
    return { json, optional: false };
  }
  // an object (or union) whose parsed value is reshaped by .transform()
  return walkField(def.in as Schema, path, meta);
}

/** The unit of a field's normalised value, from the meta of the field inside its wrappers. */
function unitOf(s: Schema): FieldMeta['unit'] {
  const def = defOf(s);
  const own = metaOf(s).unit;
  if (own || !['optional', 'default', 'prefault'].includes(def.type)) return own;
  return unitOf(def.innerType as Schema);
}

function walkPlain(s: Schema, def: Def, path: string): JsonSchema {
  switch (def.type) {
    case 'object': {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const [key, field] of Object.entries(def.shape as Record<string, Schema>)) {
        const w = walkField(field, `${path}.${key}`, {});
        properties[key] = w.json;
        if (!w.optional) required.push(key);
      }
      const json: JsonSchema = { type: 'object', properties };
      if (required.length > 0) json.required = required;
      if (def.catchall && defOf(def.catchall as Schema).type === 'never') json.additionalProperties = false;
      return json;
    }
    case 'record':
      return { type: 'object', additionalProperties: walk(def.valueType as Schema, `${path}.NAME`) };
    case 'array': {
      const items = walk(def.element as Schema, `${path}[]`);
      const json: JsonSchema = { type: 'array', items, ...lengths(def, 'Items') };
      // a list says what its elements are, unless it has words of its own (see annotate)
      if (items.description) json.description = items.description;
      return json;
    }
    case 'union':
      return { anyOf: (def.options as Schema[]).map((o, i) => walk(o, `${path}|${i}`)) };
    case 'enum':
      return { type: 'string', enum: Object.values(def.entries as Record<string, string>) };
    case 'literal': {
      const value = (def.values as unknown[])[0];
      return { type: typeof value, const: value };
    }
    case 'boolean':
      return { type: 'boolean' };
    case 'string':
      return { type: 'string', ...lengths(def, 'Length') };
    default:
      throw new Error(`reference: ${path} is a zod ${def.type}, which the walk does not know`);
  }
}

/** minItems/maxItems (or minLength/maxLength) from zod's length checks. */
function lengths(def: Def, what: 'Items' | 'Length'): JsonSchema {
  const out: JsonSchema = {};
  for (const check of (def.checks as Schema[] | undefined) ?? []) {
    const c = defOf(check) as Def & { check?: string; minimum?: number; maximum?: number };
    if (c.check === 'min_length') out[`min${what}`] = c.minimum;
    if (c.check === 'max_length') out[`max${what}`] = c.maximum;
  }
  return out;
}

/** Adds the description and the reference's words to a node. */
function annotate(json: JsonSchema, meta: FieldMeta): JsonSchema {
  if (meta.type) json['x-type'] = meta.type;
  if (meta.defaultText) json['x-default'] = meta.defaultText;
  if (meta.title) json['x-title'] = meta.title;
  if (meta.description) json.description = meta.description;
  return json;
}

function withDefault(json: JsonSchema, value: unknown): JsonSchema {
  return { ...json, default: value };
}

/** A zod default in the form users write it: "5s" rather than 5000. */
function inputDefault(value: unknown, unit: FieldMeta['unit'], path: string): unknown {
  const v = typeof value === 'function' ? (value as () => unknown)() : value;
  if (unit === 'ms') return formatDuration(v as number);
  if (unit === 'bytes') return formatSize(v as number);
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
    throw new Error(`reference: the default of ${path} is a normalised mapping; give FieldMeta default or defaultText`);
  }
  return v;
}
