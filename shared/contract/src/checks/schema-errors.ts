import type { TSchema } from 'typebox';
import { Errors } from 'typebox/value';

/** The first few ways `value` fails `schema`, as "/path message; …", for an error message. */
export function describeSchemaErrors(schema: TSchema, value: unknown, max = 3): string {
  return [...Errors(schema, value)]
    .slice(0, max)
    .map((e) => `${e.instancePath || '/'} ${e.message}`)
    .join('; ');
}
