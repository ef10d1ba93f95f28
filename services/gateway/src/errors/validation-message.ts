/**
 * Schema errors (TypeBox, through Fastify's validation) in words a client can act on: the field's
 * name as the client wrote it and what was wrong with it. web/src/error-detail.ts reads these
 * sentences back to say them in Chinese, so their forms are part of the API.
 */
import type { FastifySchemaValidationError } from 'fastify';

/** "/stop/1" → "stop[1]"; "" → "body". */
function fieldName(instancePath: string): string {
  if (instancePath === '') return 'body';
  return instancePath
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
}

/** One schema error in words a client can act on. */
function describe(e: FastifySchemaValidationError): string {
  const field = fieldName(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const names = (p.requiredProperties as string[] | undefined) ?? [String(p.missingProperty)];
      const fields = names.map((n) => (field === 'body' ? n : `${field}.${n}`));
      return `${fields.join(', ')} ${fields.length > 1 ? 'are' : 'is'} required`;
    }
    case 'additionalProperties': {
      const names = (p.additionalProperties as string[] | undefined) ?? [String(p.additionalProperty)];
      return `unknown field${names.length > 1 ? 's' : ''} ${names.map((n) => JSON.stringify(n)).join(', ')}${field === 'body' ? '' : ` in ${field}`}`;
    }
    case 'pattern':
      // The only pattern in the API is the prompt's "\S": not empty, not only whitespace.
      return p.pattern === '\\S' ? `${field} must not be empty or only whitespace` : `${field} has an invalid format`;
    case 'minLength':
      return p.limit === 1 ? `${field} must not be empty` : `${field} must be at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `${field} must be at most ${String(p.limit)} characters`;
    case 'maxItems':
      return `${field} must have at most ${String(p.limit)} items`;
    case 'type': {
      // A union's types come merged by relevantErrors, as `alternatives`.
      const types = ((p.alternatives as unknown[] | undefined) ?? [p.type]).map((t) => article(String(t)));
      return field === 'body' ? 'the body must be a JSON object' : `${field} must be ${either(types)}`;
    }
    case 'const':
      return `${field} must be ${either(((p.alternatives as unknown[] | undefined) ?? [p.allowedValue]).map((v) => JSON.stringify(v)))}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${field} must be ${String(p.comparison)} ${String(p.limit)}`;
    default:
      return `${field} ${e.message ?? 'is invalid'}`;
  }
}

function article(type: string): string {
  return { integer: 'an integer', array: 'an array', object: 'an object', boolean: 'true or false', string: 'a string', number: 'a number' }[type] ?? type;
}

/**
 * A union (anyOf) that fails reports every branch's error and then its own ("must match a schema
 * in anyOf"): "max_tokens must be <= 256; max_tokens must be null; …". One thing is relevant. When
 * the value had the type of a branch, that branch's errors (a limit, or an error inside it) are;
 * otherwise the value itself was wrong, said once with what is allowed ("must be a string or an
 * array", "must be "user" or "assistant""). A `null` branch (an optional field) is never what a
 * client meant, so it is not named.
 */
export function relevantErrors(errors: FastifySchemaValidationError[]): FastifySchemaValidationError[] {
  const unions = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  if (unions.size === 0) return errors;
  /** What a branch that failed at its first check allowed: a type, or a literal. */
  const allowed = (e: FastifySchemaValidationError): unknown =>
    e.keyword === 'type' ? (e.params as { type?: unknown }).type : e.keyword === 'const' ? (e.params as { allowedValue?: unknown }).allowedValue : undefined;
  const isAlternative = (e: FastifySchemaValidationError) => allowed(e) !== undefined && [...unions].some((u) => e.instancePath === u || e.instancePath.startsWith(`${u}/`));
  // Unions where a branch got past its first check: its errors are the relevant ones.
  const matched = new Set([...unions].filter((u) => errors.some((e) => e.keyword !== 'anyOf' && (e.instancePath.startsWith(`${u}/`) || (e.instancePath === u && allowed(e) === undefined)))));
  const kept = errors.filter((e) => e.keyword !== 'anyOf' && !(unions.has(e.instancePath) && allowed(e) !== undefined && (matched.has(e.instancePath) || allowed(e) === 'null')));
  // The alternatives left at one path are one union's: said in one sentence.
  const merged: FastifySchemaValidationError[] = [];
  const at = new Map<string, unknown[]>();
  for (const e of kept) {
    if (!isAlternative(e)) {
      merged.push(e);
      continue;
    }
    const key = `${e.keyword} ${e.instancePath}`;
    const list = at.get(key);
    if (list) list.push(allowed(e));
    else {
      const alternatives = [allowed(e)];
      at.set(key, alternatives);
      merged.push({ ...e, params: { alternatives } });
    }
  }
  return merged.length > 0 ? merged : errors;
}

/** "a, b or c" */
const either = (words: string[]) => (words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : (words[0] ?? ''));

/**
 * TypeBox reports an unknown field twice (a "schema is false" error on the field and an
 * additionalProperties error on the object); keep the readable one and drop duplicates. An empty
 * prompt breaks both its minLength and its "\S" pattern (shared/contract/src/api.ts): the pattern's sentence
 * ("must not be empty or only whitespace") already says the other, so it is said once.
 */
export function validationMessage(all: FastifySchemaValidationError[]): string {
  const errors = relevantErrors(all);
  const notBlank = new Set(errors.filter((e) => e.keyword === 'pattern' && (e.params as { pattern?: unknown }).pattern === '\\S').map((e) => e.instancePath));
  const useful = errors.filter(
    (e) =>
      !(e.keyword === 'boolean' && (e.message ?? '').includes('schema is false')) &&
      !(e.keyword === 'minLength' && (e.params as { limit?: unknown }).limit === 1 && notBlank.has(e.instancePath)),
  );
  const lines = [...new Set((useful.length > 0 ? useful : errors).map(describe))];
  return lines.slice(0, 5).join('; ');
}
