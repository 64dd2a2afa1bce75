/**
 * Structured exceptions: a rule's known-good cases as data, not as `and not` clauses in its
 * condition. An exception names fields and how each is compared; its values are tuples, one
 * per known-good case, and the event is excepted when every field of any one tuple matches.
 * Tuning is then a list edit (an override may append tuples from another file).
 */

import { InputError } from '../errors.js';
import { globToRegExp } from '../util/glob.js';
import { fieldGetter, type FieldGetter, type FieldValue } from './template.js';
import type { RuleScope } from './scope.js';

export const COMPARISONS = ['=', '!=', 'in', 'glob', 'startswith', 'regex'] as const;
export type Comparison = (typeof COMPARISONS)[number];

export interface ExceptionSpec {
  name: string;
  fields: string[];
  comps: Comparison[];
  /** One tuple per known-good case; an `in` position holds a list. */
  values: Array<Array<string | string[]>>;
}

export type ExceptionTest = (scope: RuleScope) => boolean;

function asText(v: FieldValue): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

function test(comp: Comparison, wanted: string | string[], field: string): (v: FieldValue) => boolean {
  const one = (what: string): string => {
    if (typeof wanted !== 'string') throw new InputError(`exception field ${field} (${comp}) takes one value, not a list`);
    return what;
  };
  switch (comp) {
    case '=': { const w = one(wanted as string); return (v) => asText(v) === w; }
    case '!=': { const w = one(wanted as string); return (v) => asText(v) !== w; }
    case 'startswith': { const w = one(wanted as string); return (v) => { const t = asText(v); return t !== null && t.startsWith(w); }; }
    case 'glob': { const re = globToRegExp(one(wanted as string)); return (v) => { const t = asText(v); return t !== null && re.test(t); }; }
    case 'regex': {
      let re: RegExp;
      try {
        re = new RegExp(one(wanted as string));
      } catch (err) {
        throw new InputError(`exception field ${field}: bad regular expression: ${(err as Error).message}`);
      }
      return (v) => { const t = asText(v); return t !== null && re.test(t); };
    }
    case 'in': {
      if (!Array.isArray(wanted)) throw new InputError(`exception field ${field} (in) takes a list of values`);
      const set = new Set(wanted);
      return (v) => { const t = asText(v); return t !== null && set.has(t); };
    }
  }
}

/** Compiles one exception; InputError for unknown fields, a tuple of the wrong size, a bad pattern. */
export function compileException(spec: ExceptionSpec): ExceptionTest {
  const getters: FieldGetter[] = spec.fields.map((f) => fieldGetter(f));
  const tuples = spec.values.map((tuple, t) => {
    if (tuple.length !== spec.fields.length) {
      throw new InputError(`exception '${spec.name}': values[${t}] has ${tuple.length} item(s), the fields are ${spec.fields.length}`);
    }
    return tuple.map((wanted, i) => test(spec.comps[i]!, wanted, spec.fields[i]!));
  });
  return (scope) => {
    if (tuples.length === 0) return false;
    const values = getters.map((g) => g(scope));
    return tuples.some((tests) => tests.every((t, i) => t(values[i]!)));
  };
}
