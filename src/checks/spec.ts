/**
 * The count-spec grammar (README "Spec grammar"):
 *
 *   SPEC      = SELECTORS [":" RANGE]      RANGE is taken from after the last ':' only when it
 *                                           parses as a range, so labels keep their colons
 *   SELECTORS = SELECTOR {"," SELECTOR}     a value may be "double-quoted" to hold ',' or ':'
 *   SELECTOR  = NAME | KEY OP VALUE         OP is = != ~ (regex) !~
 *   RANGE     = CRIT ["/" WARN]             each MIN-MAX (either end may be empty) or N
 *
 * `tor:1-1` is ps.monitor's syntax and means what it means there.
 */

import { InputError } from '../errors.js';
import { validateSelector } from './match.js';
import { own } from '../util/own.js';

export const SELECTOR_KEYS = [
  'name', 'comm', 'exe', 'args', 'user', 'ruser', 'anyuid', 'group', 'rgroup', 'anygid',
  'label', 'domain', 'parent', 'ppid', 'state',
] as const;
export type SelectorKey = (typeof SELECTOR_KEYS)[number];
export type Operator = '=' | '!=' | '~' | '!~';

export interface Selector {
  key: SelectorKey;
  op: Operator;
  value: string;
}

/** Inclusive bounds; null is "no bound". */
export interface Range {
  min: number | null;
  max: number | null;
}

export interface CountSpec {
  /** The spec as the user wrote it. */
  text: string;
  /** What reports call it: the name for ps.monitor-style specs, else the selector text. */
  label: string;
  selectors: Selector[];
  critical: Range;
  warning: Range | null;
}

const DEFAULT_RANGE: Range = { min: 1, max: null };
const RANGE_PART = /^(\d*)-(\d*)$|^(\d+)$/;

/** What a builtin check expands to; `arg` is the text after '=' (undefined without '='). */
type Builtin = (arg: string | undefined, text: string) => { selectors: Selector[]; critical: Range };

/** Builtin exclusion checks. `text` is what the user typed, for error messages. */
const BUILTINS: Record<string, Builtin> = {
  'gid0-not-uid0': (arg, text) => {
    if (arg !== undefined) throw new InputError(`builtin check @gid0-not-uid0 takes no argument (got '${text}')`);
    return { selectors: [{ key: 'anygid', op: '=', value: '0' }, { key: 'anyuid', op: '!=', value: '0' }], critical: { min: 0, max: 0 } };
  },
  'single-domain': (arg, text) => {
    if (arg === '') throw new InputError(`builtin check '${text}' needs a domain after '=' (e.g. @single-domain=init_t)`);
    const selector: Selector = { key: 'domain', op: '=', value: arg ?? 'init_t' };
    validateSelector(selector);
    return { selectors: [selector], critical: { min: 0, max: 1 } };
  },
};

export function builtinNames(): string[] {
  return Object.keys(BUILTINS);
}

function parseRangePart(text: string, spec: string): Range {
  const m = RANGE_PART.exec(text);
  if (m === null) throw new InputError(`bad range '${text}' in ${spec} (expected MIN-MAX, MIN-, -MAX or N)`);
  // Counts are whole numbers a double holds exactly: 99999999999999999999 would compare as 1e20.
  const bound = (digits: string): number => {
    const n = Number(digits);
    if (!Number.isSafeInteger(n)) throw new InputError(`bad range '${text.slice(0, 40)}' in ${spec}: ${digits.slice(0, 30)} is above the largest bound, ${Number.MAX_SAFE_INTEGER}`);
    return n;
  };
  if (m[3] !== undefined) return { min: bound(m[3]), max: bound(m[3]) };
  const range = { min: m[1] === '' ? null : bound(m[1]!), max: m[2] === '' ? null : bound(m[2]!) };
  if (range.min !== null && range.max !== null && range.min > range.max) {
    throw new InputError(`bad range '${text}' in ${spec}: minimum is above maximum`);
  }
  return range;
}

/** A whole RANGE (`CRIT[/WARN]`) on its own, as config files give it. */
export function parseRange(text: string, spec: string): { critical: Range; warning: Range | null } {
  if (!isRangeText(text)) throw new InputError(`bad range '${text}' in ${spec} (expected MIN-MAX, MIN-, -MAX or N, optionally /WARNRANGE)`);
  const [crit, warn] = text.split('/');
  return { critical: parseRangePart(crit ?? '', spec), warning: warn === undefined ? null : parseRangePart(warn, spec) };
}

export function isRangeText(text: string): boolean {
  const [crit, warn, extra] = text.split('/');
  return extra === undefined && RANGE_PART.test(crit ?? '') && (warn === undefined || RANGE_PART.test(warn));
}

/** Positions of `char` outside double quotes. */
function unquotedPositions(text: string, char: string): number[] {
  const found: number[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === char && !quoted) found.push(i);
  }
  if (quoted) throw new InputError(`unterminated quote in spec '${text}'`);
  return found;
}

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  if (!value.endsWith('"') || value.length < 2) throw new InputError(`bad quoting in value ${value}`);
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

export function parseSelector(text: string, spec: string): Selector {
  const m = /^([a-z]+)(!=|!~|=|~)(.*)$/s.exec(text);
  if (m === null) {
    if (text === '') throw new InputError(`empty selector in spec '${spec}'`);
    const selector: Selector = { key: 'name', op: '=', value: unquote(text) };
    validateSelector(selector);
    return selector;
  }
  const key = m[1] as SelectorKey;
  if (!SELECTOR_KEYS.includes(key)) {
    throw new InputError(`unknown selector '${m[1]}' in spec '${spec}' (known: ${SELECTOR_KEYS.join(', ')})`);
  }
  const value = unquote(m[3] ?? '');
  if (value === '') throw new InputError(`selector '${key}' has no value in spec '${spec}'`);
  const selector: Selector = { key, op: m[2] as Operator, value };
  validateSelector(selector);
  return selector;
}

/** `SELECTOR{,SELECTOR}`: split at commas outside double quotes. `spec` names the whole input in errors. */
export function parseSelectors(text: string, spec: string): Selector[] {
  const cuts = [-1, ...unquotedPositions(text, ','), text.length];
  const selectors: Selector[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) selectors.push(parseSelector(text.slice(cuts[i]! + 1, cuts[i + 1]), spec));
  return selectors;
}

export function parseSpec(text: string): CountSpec {
  if (text.startsWith('@')) {
    const eq = text.indexOf('=');
    const name = text.slice(1, eq < 0 ? undefined : eq);
    const expand = own(BUILTINS, name);
    if (expand === undefined) throw new InputError(`unknown builtin check '${text}' (known: ${builtinNames().map((n) => '@' + n).join(', ')})`);
    return { text, label: text, warning: null, ...expand(eq < 0 ? undefined : text.slice(eq + 1), text) };
  }
  const colons = unquotedPositions(text, ':');
  const lastColon = colons[colons.length - 1];
  let selectorText = text;
  let critical = DEFAULT_RANGE;
  let warning: Range | null = null;
  const tail = lastColon === undefined ? '' : text.slice(lastColon + 1);
  // `sshd:1-x` is a typo, not a process called "sshd:1-x": label parts never start with a digit or '-'.
  // `sshd:` lost its range: a name ending in ':' must be quoted (`"tmux:"`).
  if (lastColon !== undefined && (tail === '' || (/^[\d-]/.test(tail) && !isRangeText(tail)))) parseRange(tail, `spec '${text}'`);
  if (lastColon !== undefined && isRangeText(tail)) {
    selectorText = text.slice(0, lastColon);
    ({ critical, warning } = parseRange(tail, `spec '${text}'`));
  }
  if (selectorText === '') throw new InputError(`spec '${text}' selects nothing (write NAME:MIN-MAX or KEY=VALUE,...:MIN-MAX)`);
  const selectors = parseSelectors(selectorText, text);
  const only = selectors[0];
  const bareName = selectors.length === 1 && only !== undefined && only.key === 'name' && only.op === '=' && !selectorText.includes('=');
  return { text, label: bareName ? only.value : selectorText, selectors, critical, warning };
}

export function inRange(count: number, range: Range): boolean {
  return (range.min === null || count >= range.min) && (range.max === null || count <= range.max);
}

/** Nagios threshold syntax for a range: `min:max`, `min:`, or `max` (counts are never negative). */
export function nagiosRange(range: Range): string {
  if (range.min === null && range.max === null) return '';
  if (range.min === null) return String(range.max);
  return `${range.min}:${range.max ?? ''}`;
}
