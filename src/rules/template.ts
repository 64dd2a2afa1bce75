/**
 * Output templates and field paths: `{process.exe}` in a rule's output, `parent.name` in an
 * exception. A path is checked at load against the declared scope (an unknown field is an
 * error in the file) and compiled into a getter.
 */

import { InputError } from '../errors.js';
import { EVENT_FIELDS, PROCESS_FIELDS, type RuleScope } from './scope.js';

export type FieldValue = string | number | boolean | bigint | readonly string[];
export type FieldGetter = (scope: RuleScope) => FieldValue;

const ROOTS = { event: EVENT_FIELDS, process: PROCESS_FIELDS, parent: PROCESS_FIELDS } as const;

/** `event.remotePort`, `process.exe`, `parent.name`: a getter, or InputError naming what is known. */
export function fieldGetter(path: string): FieldGetter {
  const dot = path.indexOf('.');
  const root = dot < 0 ? path : path.slice(0, dot);
  const field = dot < 0 ? '' : path.slice(dot + 1);
  if (root !== 'event' && root !== 'process' && root !== 'parent') {
    throw new InputError(`unknown field '${path}' (fields start with event., process. or parent.)`);
  }
  const fields = ROOTS[root];
  if (!Object.hasOwn(fields, field)) throw new InputError(`unknown field '${path}' (${root} has: ${Object.keys(fields).join(', ')})`);
  return (scope) => (scope[root] as unknown as Record<string, FieldValue>)[field]!;
}

/** A field value as text: lists joined with spaces, -1 (unknown) as "?". */
export function fieldText(v: FieldValue): string {
  if (typeof v === 'string') return v === '' ? '?' : v;
  if (typeof v === 'bigint') return v === -1n ? '?' : v.toString();
  if (typeof v === 'number') return v === -1 ? '?' : Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'boolean') return String(v);
  return v.length === 0 ? '?' : v.join(' ');
}

export type Template = (scope: RuleScope, extra: Readonly<Record<string, string>>) => string;

/**
 * `{path}` placeholders (and `{rule}`, `{severity}` from `extra`); `{{` and `}}` are literal
 * braces. The text is left as the process wrote it: every output that shows it escapes it.
 */
export function compileTemplate(text: string, extraNames: readonly string[]): Template {
  const parts: Array<string | FieldGetter | { extra: string }> = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if ((c === '{' || c === '}') && text[i + 1] === c) {
      literal += c;
      i++;
      continue;
    }
    if (c === '}') throw new InputError(`unmatched '}' in output template at character ${i + 1} (write '}}' for a brace)`);
    if (c !== '{') {
      literal += c;
      continue;
    }
    const close = text.indexOf('}', i);
    if (close < 0) throw new InputError(`unclosed '{' in output template at character ${i + 1}`);
    const name = text.slice(i + 1, close).trim();
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(extraNames.includes(name) ? { extra: name } : fieldGetter(name));
    i = close;
  }
  if (literal !== '') parts.push(literal);
  return (scope, extra) => {
    let out = '';
    for (const part of parts) {
      if (typeof part === 'string') out += part;
      else if (typeof part === 'function') out += fieldText(part(scope));
      else out += extra[part.extra] ?? '';
    }
    return out;
  };
}
