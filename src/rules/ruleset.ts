/**
 * Rule files → one compiled rule set. Sources are read in order (the shipped pack, the
 * config's own `rules:`, then each rule file, a directory's files in name order); a later
 * source may append to a list and override a rule (switch it off, change its severity or
 * actions, add exception values), never silently redefine one. Every error names
 * `file:line` and the whole set is refused: a half-loaded rule set is never run.
 */

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { parseDuration } from '../config/units.js';
import { RuleLanguage, ConditionError, RESERVED_NAMES, type Condition } from './language.js';
import { buildScopeClass, type MacroGetter, type RuleScope, type RuleScopeClass } from './scope.js';
import { compileTemplate, fieldGetter, type FieldGetter, type Template } from './template.js';
import { COMPARISONS, compileException, type Comparison, type ExceptionSpec, type ExceptionTest } from './exceptions.js';
import { readLocatedYaml, RuleFileError, type LocatedYaml, type Path } from './yaml-file.js';
import { EVENT_KINDS, type EventKind } from '../events/types.js';

export const SEVERITIES = ['info', 'notice', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type RuleMode = 'monitor' | 'enforce';

/** The shipped rule pack (README: "Shipped rules"). */
export const PACK_FILE = fileURLToPath(new URL('../../../rules/pack.yaml', import.meta.url));

/** What `learn:` a baseline rule does: which events, which item is new, per which group. */
export const BASELINE_LEARN = {
  exec: { kinds: ['exec'] as EventKind[], item: 'process.exe', group: 'process.unit' },
  child: { kinds: ['exec'] as EventKind[], item: 'process.exe', group: 'parent.exe' },
  connect: { kinds: ['connect'] as EventKind[], item: 'event.remotePort', group: 'process.exe' },
  listen: { kinds: ['accept'] as EventKind[], item: 'event.localPort', group: 'process.exe' },
} as const;
export type BaselineLearn = keyof typeof BASELINE_LEARN;

export interface BaselineSpec {
  learn: BaselineLearn;
  /** Field path naming the group (`process.unit`): what is new is new for this group. */
  group: string;
  item: string;
  windowMs: number;
  groupOf: FieldGetter;
  itemOf: FieldGetter;
}

export interface RateLimit {
  count: number;
  perMs: number;
}

export interface Rule {
  name: string;
  description: string;
  severity: Severity;
  mode: RuleMode;
  enabled: boolean;
  /** Action names (alerts.actions keys, or the built-in `log` and `kill`). */
  actions: string[];
  tags: string[];
  /** The condition's text (for `rules check` and the API), and where it was defined. */
  conditionText: string;
  file: string;
  line: number;
  /** Event kinds it can match (from `event.kind == ...` conjuncts), or null for any. */
  kinds: ReadonlySet<EventKind> | null;
  /** Whether the condition (and no exception) holds for an event. */
  matches(scope: RuleScope): boolean;
  output: Template;
  /** The noise key: the same rule and key alert once (`process`: per process instance; `none`: every match). */
  dedup: Template | 'process' | 'none';
  rateLimit: RateLimit;
  baseline: BaselineSpec | null;
  exceptionNames: string[];
}

export interface RuleSet {
  rules: Rule[];
  /** Enabled rules only, and by event kind (rules for any kind are in every list). */
  byKind: ReadonlyMap<string, Rule[]>;
  scopeClass: RuleScopeClass;
  lists: Readonly<Record<string, readonly string[]>>;
  macroNames: string[];
  /** The files read, in order. */
  sources: string[];
}

/** The config's `rules:` section (README: "Rules configuration"). */
export interface RulesConfig {
  /** Load the shipped pack. */
  pack: boolean;
  /** Rules switched off by name (pack rules included). */
  disabled: string[];
  /** Files and directories (their *.yaml / *.yml files, in name order). */
  files: string[];
  /** The config file itself when it holds lists/macros/rules/overrides under `rules:`. */
  inline: LocatedYaml | null;
  /** Rule engine queue (events waiting for evaluation); beyond it events are dropped and counted. */
  maxQueue: number;
  /** Rate limit of rules that set none. */
  defaultRateLimit: RateLimit;
  /** Action names rules without `actions:` use. */
  defaultActions: string[];
  /** Baseline rules' default learning window. */
  baselineWindowMs: number;
}

export const RULES_DEFAULTS: RulesConfig = {
  pack: true, disabled: [], files: [], inline: null, maxQueue: 50_000, defaultRateLimit: { count: 60, perMs: 60_000 },
  defaultActions: ['log'], baselineWindowMs: 7 * 86_400_000,
};

export const BUILTIN_ACTIONS = ['log', 'kill'];

interface Located {
  y: LocatedYaml;
  at: Path;
}

class Fail {
  constructor(readonly y: LocatedYaml) {}
  at(path: Path, message: string): never {
    throw new RuleFileError(this.y.file, this.y.lineOf(path), message);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `10/m`, `100/1h`, `5/30s`. */
export function parseRateLimit(text: string): RateLimit | null {
  const m = /^(\d+)\s*\/\s*(\d*)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (m === null) return null;
  const per = parseDuration(`${m[2] === '' ? '1' : m[2]}${m[3]}`);
  const count = Number(m[1]);
  if (per === null || per <= 0 || count < 1) return null;
  return { count, perMs: per };
}

interface RawRule {
  spec: Record<string, unknown>;
  loc: Located;
}

interface Draft {
  lists: Map<string, string[]>;
  macros: Map<string, { text: string; loc: Located }>;
  rules: Map<string, RawRule>;
  overrides: Array<{ spec: Record<string, unknown>; loc: Located }>;
}

const DOC_KEYS = ['lists', 'macros', 'rules', 'overrides'];
const RULE_KEYS = ['name', 'description', 'severity', 'condition', 'output', 'exceptions', 'actions', 'mode', 'enabled', 'dedup', 'rate_limit', 'tags', 'baseline'];
const OVERRIDE_KEYS = ['rule', 'enabled', 'severity', 'actions', 'mode', 'dedup', 'rate_limit', 'output', 'exceptions', 'condition', 'baseline'];

/** Adds one document's lists, macros, rules and overrides to the draft. `base`: where they sit in the file. */
function addDocument(draft: Draft, y: LocatedYaml, base: Path, doc: Record<string, unknown>, allowed: readonly string[]): void {
  const f: Fail = new Fail(y);
  for (const key of Object.keys(doc)) if (!allowed.includes(key)) f.at([...base, key], `unknown key '${key}' (expected one of: ${allowed.join(', ')})`);
  if (doc.lists !== undefined) {
    if (!isMap(doc.lists)) f.at([...base, 'lists'], 'expected a mapping of list names to lists of strings');
    for (const [name, v] of Object.entries(doc.lists)) {
      const at = [...base, 'lists', name];
      if (!IDENT.test(name) || RESERVED_NAMES.has(name)) f.at(at, `bad list name '${name}' (letters, digits and _, not a reserved word)`);
      const change = isMap(v) ? Object.keys(v) : [];
      if (isMap(v) && (change.length !== 1 || (change[0] !== 'append' && change[0] !== 'replace'))) f.at(at, 'a list is a sequence, or {append: [...]} / {replace: [...]} to change one defined earlier');
      const append = change[0] === 'append';
      const replace = change[0] === 'replace';
      const items = isMap(v) ? v[change[0]!] : v;
      if (!Array.isArray(items) || items.some((i) => typeof i !== 'string' && typeof i !== 'number')) f.at(at, 'expected a list of strings');
      const values = (items as unknown[]).map(String);
      const known = draft.lists.get(name);
      if (append || replace) {
        if (known === undefined) f.at(at, `cannot ${change[0]} list '${name}': no list of that name is defined before`);
        if (replace) known.length = 0;
        known.push(...values);
      } else {
        if (known !== undefined || draft.macros.has(name)) f.at(at, `'${name}' is defined twice (use {append: [...]} to add to a list)`);
        draft.lists.set(name, values);
      }
    }
  }
  if (doc.macros !== undefined) {
    if (!isMap(doc.macros)) f.at([...base, 'macros'], 'expected a mapping of macro names to conditions');
    for (const [name, v] of Object.entries(doc.macros)) {
      const at = [...base, 'macros', name];
      if (!IDENT.test(name) || RESERVED_NAMES.has(name)) f.at(at, `bad macro name '${name}' (letters, digits and _, not a reserved word)`);
      if (typeof v !== 'string' || v.trim() === '') f.at(at, 'expected a condition (a string)');
      if (draft.macros.has(name) || draft.lists.has(name)) f.at(at, `'${name}' is defined twice`);
      draft.macros.set(name, { text: v, loc: { y, at } });
    }
  }
  if (doc.rules !== undefined) {
    if (!Array.isArray(doc.rules)) f.at([...base, 'rules'], 'expected a list of rules');
    doc.rules.forEach((spec: unknown, i: number) => {
      const at = [...base, 'rules', i];
      if (!isMap(spec)) f.at(at, 'expected a rule (a mapping with name, condition, ...)');
      for (const key of Object.keys(spec)) if (!RULE_KEYS.includes(key)) f.at([...at, key], `unknown key '${key}' in a rule (expected one of: ${RULE_KEYS.join(', ')})`);
      if (typeof spec.name !== 'string' || !NAME.test(spec.name)) f.at([...at, 'name'], 'a rule needs a name: letters, digits, _ . -');
      if (draft.rules.has(spec.name)) f.at([...at, 'name'], `rule '${spec.name}' is defined twice (use overrides: to change a rule defined earlier)`);
      draft.rules.set(spec.name, { spec: { ...spec }, loc: { y, at } });
    });
  }
  if (doc.overrides !== undefined) {
    if (!Array.isArray(doc.overrides)) f.at([...base, 'overrides'], 'expected a list of overrides');
    doc.overrides.forEach((spec: unknown, i: number) => {
      const at = [...base, 'overrides', i];
      if (!isMap(spec)) f.at(at, 'expected an override (a mapping with rule: NAME and what to change)');
      for (const key of Object.keys(spec)) if (!OVERRIDE_KEYS.includes(key)) f.at([...at, key], `unknown key '${key}' in an override (expected one of: ${OVERRIDE_KEYS.join(', ')})`);
      draft.overrides.push({ spec, loc: { y, at } });
    });
  }
}

/** An override's changes, applied to the rule it names (which must exist by then). */
function applyOverride(draft: Draft, o: { spec: Record<string, unknown>; loc: Located }): void {
  const f: Fail = new Fail(o.loc.y);
  const name = o.spec.rule;
  if (typeof name !== 'string') f.at([...o.loc.at, 'rule'], 'an override names the rule it changes: rule: NAME');
  const target = draft.rules.get(name);
  if (target === undefined) f.at([...o.loc.at, 'rule'], `no rule named '${name}' to override`);
  for (const [key, value] of Object.entries(o.spec)) {
    if (key === 'rule') continue;
    if (key !== 'exceptions') {
      target.spec[key] = value;
      target.spec[`@${key}`] = o.loc; // later errors in this value point at the override
      continue;
    }
    if (!Array.isArray(value)) f.at([...o.loc.at, 'exceptions'], 'expected a list of exceptions');
    const existing = Array.isArray(target.spec.exceptions) ? [...(target.spec.exceptions as unknown[])] : [];
    value.forEach((ex: unknown, i: number) => {
      if (!isMap(ex) || typeof ex.name !== 'string') f.at([...o.loc.at, 'exceptions', i], 'an exception needs a name');
      const same = existing.findIndex((e) => isMap(e) && e.name === ex.name);
      if (same >= 0 && ex.fields === undefined) {
        // Values only: appended to the exception of that name.
        const base = existing[same] as Record<string, unknown>;
        if (!Array.isArray(ex.values)) f.at([...o.loc.at, 'exceptions', i, 'values'], 'expected values to append');
        existing[same] = { ...base, values: [...(Array.isArray(base.values) ? base.values : []), ...ex.values] };
      } else if (same >= 0) {
        f.at([...o.loc.at, 'exceptions', i, 'name'], `exception '${ex.name}' already exists in rule '${name}': give values only to append`);
      } else {
        existing.push(ex);
      }
    });
    target.spec.exceptions = existing;
  }
}

/** Identifiers a condition refers to (from the library's AST), for macro dependencies. */
function identifiers(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) {
    if (node[0] === 'id' && typeof node[1] === 'string') out.add(node[1]);
    for (const child of node) identifiers(child, out);
  } else if (isMap(node)) {
    if (node.op === 'id' && typeof node.args === 'string') out.add(node.args);
    identifiers(node.args, out);
  }
  return out;
}

/**
 * The event kinds a condition can match: the top-level `&&` chain's `event.kind == "x"` or
 * `event.kind in [...]` (directly or through a macro). Null: any kind. Lets the engine skip
 * an exit-only rule on every exec without evaluating it.
 */
function kindsOf(node: unknown, macroKinds: ReadonlyMap<string, ReadonlySet<EventKind> | null>): ReadonlySet<EventKind> | null {
  const tree = node as unknown[];
  if (!Array.isArray(tree)) return null;
  const isKindField = (n: unknown): boolean => Array.isArray(n) && n[0] === '.' && n[2] === 'kind' && Array.isArray(n[1]) && n[1][0] === 'id' && n[1][1] === 'event';
  const literal = (n: unknown): string | null => (Array.isArray(n) && n[0] === 'value' && typeof n[1] === 'string' ? n[1] : null);
  if (tree[0] === '&&') {
    const a = kindsOf(tree[1], macroKinds);
    const b = kindsOf(tree[2], macroKinds);
    if (a === null) return b;
    if (b === null) return a;
    return new Set([...a].filter((k) => b.has(k)));
  }
  if (tree[0] === '||') {
    const a = kindsOf(tree[1], macroKinds);
    const b = kindsOf(tree[2], macroKinds);
    return a === null || b === null ? null : new Set([...a, ...b]);
  }
  if (tree[0] === '==' && isKindField(tree[1])) {
    const k = literal(tree[2]);
    return k !== null && (EVENT_KINDS as readonly string[]).includes(k) ? new Set([k as EventKind]) : null;
  }
  if (tree[0] === 'in' && isKindField(tree[1]) && Array.isArray(tree[2]) && tree[2][0] === 'list') {
    const items = (tree[2] as unknown[]).slice(1).map(literal);
    if (items.some((k) => k === null || !(EVENT_KINDS as readonly string[]).includes(k))) return null;
    return new Set(items as EventKind[]);
  }
  if (tree[0] === 'id' && typeof tree[1] === 'string') return macroKinds.get(tree[1]) ?? null;
  return null;
}

/** Compiles a condition, turning a library error into `file:line` of the condition. */
function compileAt(lang: RuleLanguage, text: string, loc: Located): { condition: Condition; ast: unknown } {
  try {
    return lang.compile(text);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const offset = err instanceof ConditionError && err.offset !== null ? err.offset : 0;
    // The line of the offending token in the file (a folded or block scalar spans lines).
    const token = /^[\w.]+|^./.exec(text.slice(offset))?.[0] ?? '';
    const line = loc.y.lineOfText(loc.at, token);
    throw new RuleFileError(loc.y.file, line, `condition: ${err.message}`);
  }
}

/**
 * Reads the rules config's sources and compiles them into one rule set; RuleFileError on any problem.
 * `interpreted`: run every condition on cel-js, none as generated JavaScript (tests compare the two).
 */
export async function loadRuleSet(config: RulesConfig, knownActions: ReadonlySet<string>, extraFiles: string[] = [], options: { interpreted?: boolean } = {}): Promise<RuleSet> {
  const draft: Draft = { lists: new Map(), macros: new Map(), rules: new Map(), overrides: [] };
  const sources: string[] = [];
  const addFile = async (file: string): Promise<void> => {
    const y = await readLocatedYaml(file);
    sources.push(file);
    if (y.value === null || y.value === undefined) return; // an empty file: nothing in it
    if (!isMap(y.value)) throw new RuleFileError(file, 1, `expected a mapping with some of: ${DOC_KEYS.join(', ')}`);
    addDocument(draft, y, [], y.value, DOC_KEYS);
  };
  if (config.pack) await addFile(PACK_FILE);
  if (config.inline !== null && isMap(config.inline.value) && isMap(config.inline.value.rules)) {
    const section = config.inline.value.rules;
    const own = Object.fromEntries(Object.entries(section).filter(([k]) => DOC_KEYS.includes(k)));
    addDocument(draft, config.inline, ['rules'], own, DOC_KEYS);
    sources.push(config.inline.file);
  }
  for (const file of [...config.files.flatMap(expandRuleFiles), ...extraFiles]) await addFile(file);
  for (const o of draft.overrides) applyOverride(draft, o);
  for (const name of config.disabled) {
    const rule = draft.rules.get(name);
    if (rule === undefined) throw new InputError(`rules.disabled: no rule named '${name}'${config.inline === null ? '' : ` (${config.inline.file})`}`);
    rule.spec.enabled = false;
  }
  return compileDraft(draft, config, knownActions, sources, options.interpreted === true);
}

/** A rules path: a file, or a directory whose *.yaml / *.yml files are read in name order. */
export function expandRuleFiles(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new RuleFileError(path, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!isDir) return [path];
  return readdirSync(path).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.')).sort().map((f) => join(path, f));
}

function compileDraft(draft: Draft, config: RulesConfig, knownActions: ReadonlySet<string>, sources: string[], interpreted: boolean): RuleSet {
  const lists = Object.fromEntries(draft.lists);
  const macroNames = [...draft.macros.keys()];
  const lang = new RuleLanguage(Object.keys(lists), macroNames, { interpreted });
  // Macros: compiled alone, then ordered so none refers to itself through others.
  const compiledMacros = new Map<string, { condition: Condition; ast: unknown; deps: string[]; loc: Located }>();
  for (const [name, m] of draft.macros) {
    const { condition, ast } = compileAt(lang, m.text, m.loc);
    const deps = [...identifiers(ast, new Set())].filter((id) => draft.macros.has(id));
    compiledMacros.set(name, { condition, ast, deps, loc: m.loc });
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]): void => {
    if (state.get(name) === 'done') return;
    const m = compiledMacros.get(name)!;
    if (state.get(name) === 'visiting') new Fail(m.loc.y).at(m.loc.at, `macro '${name}' refers to itself: ${[...chain, name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const dep of m.deps) visit(dep, [...chain, name]);
    state.set(name, 'done');
  };
  for (const name of compiledMacros.keys()) visit(name, []);
  const macroKinds = new Map<string, ReadonlySet<EventKind> | null>();
  const resolveKinds = (name: string): ReadonlySet<EventKind> | null => {
    if (macroKinds.has(name)) return macroKinds.get(name)!;
    const m = compiledMacros.get(name)!;
    for (const dep of m.deps) resolveKinds(dep);
    const kinds = kindsOf(m.ast, macroKinds);
    macroKinds.set(name, kinds);
    return kinds;
  };
  for (const name of compiledMacros.keys()) resolveKinds(name);
  const getters = new Map<string, MacroGetter>([...compiledMacros].map(([name, m]) => [name, m.condition]));
  const scopeClass = buildScopeClass(lists, getters);

  const rules = [...draft.rules.values()].map((raw) => compileRule(raw, lang, macroKinds, config, knownActions));
  const byKind = new Map<string, Rule[]>();
  for (const kind of EVENT_KINDS) byKind.set(kind, rules.filter((r) => r.enabled && (r.kinds === null || r.kinds.has(kind))));
  return { rules, byKind, scopeClass, lists, macroNames, sources };
}

function compileRule(raw: RawRule, lang: RuleLanguage, macroKinds: ReadonlyMap<string, ReadonlySet<EventKind> | null>, config: RulesConfig, knownActions: ReadonlySet<string>): Rule {
  const s = raw.spec;
  /** Where the value of `key` came from: the override that set it, else the rule. */
  const locOf = (key: string): Located => (s[`@${key}`] as Located | undefined) ?? raw.loc;
  const pathOf = (key: string): Path => (s[`@${key}`] === undefined ? [...raw.loc.at, key] : [...locOf(key).at, key]);
  const fail: (key: string, message: string) => never = (key, message) => new Fail(locOf(key).y).at(pathOf(key), message.startsWith(`${key}`) ? message : `${key}: ${message}`);
  const str = (key: string, fallback: string): string => {
    const v = s[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string') fail(key, 'expected a string');
    return v as string;
  };
  const name = s.name as string;
  const severity = str('severity', 'warning');
  if (!(SEVERITIES as readonly string[]).includes(severity)) fail('severity', `expected one of: ${SEVERITIES.join(', ')}`);
  const mode = str('mode', 'monitor');
  if (mode !== 'monitor' && mode !== 'enforce') fail('mode', 'expected monitor or enforce');
  if (s.enabled !== undefined && typeof s.enabled !== 'boolean') fail('enabled', 'expected true or false');
  const strings = (key: string, fallback: string[]): string[] => {
    const v = s[key];
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(key, 'expected a list of strings');
    return v as string[];
  };
  const actions = strings('actions', config.defaultActions);
  for (const a of actions) if (!knownActions.has(a)) fail('actions', `unknown action '${a}' (defined: ${[...knownActions].join(', ')})`);
  if (actions.includes('kill') && mode !== 'enforce') fail('actions', "the kill action needs mode: enforce (rules only watch by default)");
  const tags = strings('tags', []);

  let baseline: BaselineSpec | null = null;
  if (s.baseline !== undefined) baseline = compileBaseline(s.baseline, config, (m) => fail('baseline', m));
  const conditionText = s.condition === undefined && baseline !== null ? 'true' : str('condition', '');
  if (conditionText.trim() === '') fail('condition', 'a rule needs a condition (or a baseline)');
  const { condition, ast } = compileAt(lang, conditionText, { y: locOf('condition').y, at: pathOf('condition') });
  let kinds = kindsOf(ast, macroKinds);
  if (baseline !== null) {
    const learnKinds = new Set(BASELINE_LEARN[baseline.learn].kinds);
    kinds = kinds === null ? learnKinds : new Set([...kinds].filter((k) => learnKinds.has(k)));
  }

  const exceptionTests: ExceptionTest[] = [];
  const exceptionNames: string[] = [];
  if (s.exceptions !== undefined) {
    if (!Array.isArray(s.exceptions)) fail('exceptions', 'expected a list of exceptions');
    (s.exceptions as unknown[]).forEach((ex, i) => {
      const spec = exceptionSpec(ex, (m) => fail('exceptions', `exceptions[${i}]: ${m}`));
      if (exceptionNames.includes(spec.name)) fail('exceptions', `exception '${spec.name}' is defined twice`);
      exceptionNames.push(spec.name);
      try {
        exceptionTests.push(compileException(spec));
      } catch (err) {
        if (err instanceof InputError) fail('exceptions', err.message.includes(`'${spec.name}'`) ? err.message : `exception '${spec.name}': ${err.message}`);
        throw err;
      }
    });
  }
  let output: Template;
  try {
    output = compileTemplate(str('output', `${name}: {process.exe} (pid {process.pid}, user {process.user})`), ['rule', 'severity']);
  } catch (err) {
    if (err instanceof InputError) fail('output', err.message);
    throw err;
  }
  const dedupText = str('dedup', 'process');
  let dedup: Rule['dedup'];
  if (dedupText === 'process' || dedupText === 'none') dedup = dedupText;
  else {
    try {
      dedup = compileTemplate(dedupText, ['rule', 'severity']);
    } catch (err) {
      if (err instanceof InputError) fail('dedup', `expected process, none or a template of fields: ${err.message}`);
      throw err;
    }
  }
  let rateLimit = config.defaultRateLimit;
  if (s.rate_limit !== undefined) {
    const parsed = typeof s.rate_limit === 'string' ? parseRateLimit(s.rate_limit) : null;
    if (parsed === null) fail('rate_limit', "expected COUNT/PERIOD such as 10/m, 100/1h or 5/30s");
    rateLimit = parsed!;
  }
  const matches = exceptionTests.length === 0
    ? condition
    : (scope: RuleScope): boolean => condition(scope) && !exceptionTests.some((t) => t(scope));
  return {
    name, description: str('description', ''), severity: severity as Severity, mode: mode as RuleMode, enabled: s.enabled !== false,
    actions, tags, conditionText, file: raw.loc.y.file, line: raw.loc.y.lineOf(raw.loc.at), kinds, matches, output, dedup, rateLimit, baseline,
    exceptionNames,
  };
}

function exceptionSpec(v: unknown, fail: (m: string) => never): ExceptionSpec {
  if (!isMap(v)) fail('expected a mapping with name, fields, values (and comps)');
  for (const key of Object.keys(v)) if (!['name', 'fields', 'comps', 'values'].includes(key)) fail(`unknown key '${key}' (expected name, fields, comps, values)`);
  if (typeof v.name !== 'string' || !NAME.test(v.name)) fail('needs a name');
  const fields = typeof v.fields === 'string' ? [v.fields] : v.fields;
  if (!Array.isArray(fields) || fields.length === 0 || fields.some((x) => typeof x !== 'string')) fail(`'${v.name}': fields: expected a list of field paths such as process.exe`);
  const comps = v.comps === undefined ? fields.map(() => '=') : typeof v.comps === 'string' ? [v.comps] : v.comps;
  if (!Array.isArray(comps) || comps.length !== fields.length) fail(`'${v.name}': comps: expected one comparison per field`);
  for (const c of comps) if (!(COMPARISONS as readonly string[]).includes(c as string)) fail(`'${v.name}': comps: unknown comparison '${String(c)}' (expected ${COMPARISONS.join(', ')})`);
  const rawValues = v.values ?? [];
  if (!Array.isArray(rawValues)) fail(`'${v.name}': values: expected a list`);
  const scalar = (x: unknown): x is string | number | boolean => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
  const values = (rawValues as unknown[]).map((tuple) => {
    // One field: values may be a flat list ([a, b]); otherwise one tuple per case.
    const items = fields.length === 1 && !Array.isArray(tuple) ? [tuple] : fields.length === 1 && comps[0] === 'in' && Array.isArray(tuple) && tuple.every(scalar) ? [tuple] : tuple;
    if (!Array.isArray(items)) fail(`'${v.name}': values: expected a list of ${fields.length}-item lists`);
    return items.map((item) => {
      if (scalar(item)) return String(item);
      if (Array.isArray(item) && item.every(scalar)) return item.map(String);
      return fail(`'${v.name}': values: items are strings (or lists of strings for 'in')`);
    });
  });
  return { name: v.name, fields: fields as string[], comps: comps as Comparison[], values };
}

function compileBaseline(v: unknown, config: RulesConfig, fail: (m: string) => never): BaselineSpec {
  if (!isMap(v)) fail('expected a mapping with learn (exec, child, connect, listen), and optionally group and window');
  for (const key of Object.keys(v)) if (!['learn', 'group', 'window'].includes(key)) fail(`unknown key '${key}' (expected learn, group, window)`);
  if (typeof v.learn !== 'string' || !Object.hasOwn(BASELINE_LEARN, v.learn)) fail(`learn: expected one of ${Object.keys(BASELINE_LEARN).join(', ')}`);
  const learn = v.learn as BaselineLearn;
  const group = v.group === undefined ? BASELINE_LEARN[learn].group : v.group;
  if (typeof group !== 'string') fail('group: expected a field path such as process.unit');
  let windowMs = config.baselineWindowMs;
  if (v.window !== undefined) {
    const ms = typeof v.window === 'string' ? parseDuration(v.window) : null;
    if (ms === null || ms <= 0) fail('window: expected a duration such as 7d');
    windowMs = ms!;
  }
  let groupOf: FieldGetter;
  try {
    groupOf = fieldGetter(group as string);
  } catch (err) {
    return fail(`group: ${(err as Error).message}`);
  }
  const item = BASELINE_LEARN[learn].item;
  return { learn, group: group as string, item, windowMs, groupOf, itemOf: fieldGetter(item) };
}
