/**
 * A small JSON Schema (draft-07) checker for the keywords schema/fulcrum.schema.json
 * uses: type, enum, const, properties, required, additionalProperties, items, minItems,
 * maxItems, anyOf, minimum, maximum, minLength, pattern. Returns one message per problem
 * ("path: what"), an empty list when the value is valid. Unknown keywords are ignored.
 */
type Schema = { [key: string]: unknown };

export function schemaErrors(schema: Schema, value: unknown, path = '(root)'): string[] {
  const errors: string[] = [];
  const at = (key: string | number) => (typeof key === 'number' ? `${path}[${key}]` : path === '(root)' ? key : `${path}.${key}`);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => hasType(value, t))) return [`${path}: expected ${types.join(' or ')}`];
  }
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) errors.push(`${path}: not one of ${(schema.enum as unknown[]).join(', ')}`);
  if ('const' in schema && schema.const !== value) errors.push(`${path}: not ${JSON.stringify(schema.const)}`);
  if (schema.anyOf && !(schema.anyOf as Schema[]).some((s) => schemaErrors(s, value, path).length === 0)) {
    errors.push(`${path}: matches none of the allowed forms`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...schemaErrors(schema.items as Schema, v, at(i))));
  }
  if (hasType(value, 'object')) {
    const obj = value as Record<string, unknown>;
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in obj)) errors.push(`${path}: missing ${key}`);
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [key, v] of Object.entries(obj)) {
      if (props[key]) errors.push(...schemaErrors(props[key], v, at(key)));
      else if (schema.additionalProperties === false) errors.push(`${path}: unknown key ${key}`);
      else if (typeof schema.additionalProperties === 'object') errors.push(...schemaErrors(schema.additionalProperties as Schema, v, at(key)));
    }
  }
  return errors;
}

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
      return Number.isInteger(v);
    case 'null':
      return v === null;
    default:
      return typeof v === type;
  }
}
