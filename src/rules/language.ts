/**
 * The condition language: CEL (the Common Expression Language), evaluated by
 * @marcbachmann/cel-js — 12× faster per event than @bufbuild/cel on our events and 19× faster
 * to compile (BENCHMARKS.md, "Rule conditions: CEL libraries"). Conditions are parsed and
 * type-checked once, at load, against the declared scope (README: "Rule language"): a typo in
 * a field or a list name is an error in the file, not a rule that never fires.
 */

import { Environment } from '@marcbachmann/cel-js';
import { InputError } from '../errors.js';
import { globToRegExp } from '../util/glob.js';
import { EVENT_FIELDS, EventValue, PROCESS_FIELDS, ProcessValue, type RuleScope } from './scope.js';
import { cidrTest } from './cidr.js';
import { compileCondition, type CompileEnv } from './compiled.js';

export type Condition = (scope: RuleScope) => boolean;

/** Where in the condition text an error is (0-based offset), when the library says. */
export class ConditionError extends InputError {
  constructor(message: string, readonly offset: number | null) {
    super(message);
  }
}

/** Compiled patterns by text: the same glob or regex in many rules compiles once. */
const globs = new Map<string, RegExp>();
const cidrs = new Map<string, (address: string) => boolean>();

function globOf(pattern: string): RegExp {
  let re = globs.get(pattern);
  if (re === undefined) {
    re = globToRegExp(pattern);
    if (globs.size > 4096) globs.clear();
    globs.set(pattern, re);
  }
  return re;
}

function cidrOf(net: string): (address: string) => boolean {
  let test = cidrs.get(net);
  if (test === undefined) {
    test = cidrTest(net);
    if (cidrs.size > 4096) cidrs.clear();
    cidrs.set(net, test);
  }
  return test;
}

/**
 * `x in list` over the rule set's lists as a set lookup (8× faster than CEL's scan for 30 items):
 * those lists are frozen at load, so each one's set is made once. Other lists (a literal in a
 * condition, an event's argv) are scanned as CEL does.
 */
const listSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function setOf(list: readonly string[]): ReadonlySet<string> {
  let set = listSets.get(list);
  if (set === undefined) {
    set = new Set(list);
    listSets.set(list, set);
  }
  return set;
}

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
const dirName = (path: string): string => { const i = path.lastIndexOf('/'); return i <= 0 ? (i === 0 ? '/' : '') : path.slice(0, i); };

/** A loop, not `prefixes.some(...)`: no closure per call (every exec runs it in the pack's writable-dir test). */
function startsWithAny(s: string, prefixes: readonly string[]): boolean {
  for (const p of prefixes) if (s.startsWith(p)) return true;
  return false;
}

/** The set `x in list` looks a rule set's (frozen) list up in; null for any other list, which is scanned. */
const listSet = (list: readonly string[]): ReadonlySet<string> | null => (Object.isFrozen(list) ? setOf(list) : null);

/** `x in list` on cel-js; generated conditions make the same choice through listSet. */
const inList = (s: string, list: readonly string[]): boolean => listSet(list)?.has(s) ?? list.includes(s);

interface StringMethod {
  name: string;
  returnType: string;
  params: Array<{ name: string; type: string }>;
  handler: (s: string, arg: never) => unknown;
  description?: string;
}

/** The language's functions on strings (`s.glob(p)`): registered with cel-js, and called directly by compiled conditions. */
const STRING_METHODS: readonly StringMethod[] = [
  {
    name: 'glob', returnType: 'bool', params: [{ name: 'pattern', type: 'string' }],
    handler: (s: string, pattern: string) => globOf(pattern).test(s),
    description: 'fnmatch-style glob on the whole string (* also crosses /)',
  },
  {
    name: 'globAny', returnType: 'bool', params: [{ name: 'patterns', type: 'list<string>' }],
    handler: (s: string, patterns: readonly string[]) => patterns.some((p) => globOf(p).test(s)),
    description: 'true when any of the globs matches',
  },
  { name: 'basename', returnType: 'string', params: [], handler: (s: string) => baseName(s) },
  { name: 'dirname', returnType: 'string', params: [], handler: (s: string) => dirName(s) },
  {
    name: 'inCidr', returnType: 'bool', params: [{ name: 'network', type: 'string' }],
    handler: (s: string, net: string) => cidrOf(net)(s),
    description: 'an IPv4/IPv6 address in a network such as 10.0.0.0/8 or fd00::/8',
  },
  {
    name: 'inCidrAny', returnType: 'bool', params: [{ name: 'networks', type: 'list<string>' }],
    handler: (s: string, nets: readonly string[]) => nets.some((n) => cidrOf(n)(s)),
    description: 'an address in any of the networks',
  },
  {
    name: 'startsWithAny', returnType: 'bool', params: [{ name: 'prefixes', type: 'list<string>' }],
    handler: startsWithAny,
  },
];

const COMPILE_ENV: CompileEnv = { listSet, methods: new Map(STRING_METHODS.map((m) => [m.name, m.handler])) };

/** The declarations shared by every rule set: the scope's types and the helper functions. */
function baseEnvironment(): Environment {
  let env = new Environment({ homogeneousAggregateLiterals: false, limits: { maxAstNodes: 10_000, maxDepth: 100, maxListElements: 10_000, maxMapEntries: 1000, maxCallArguments: 32 } })
    .registerType('Process', { ctor: ProcessValue, fields: { ...PROCESS_FIELDS } })
    .registerType('Event', { ctor: EventValue, fields: { ...EVENT_FIELDS } })
    .registerVariable('event', 'Event')
    .registerVariable('process', 'Process')
    .registerVariable('parent', 'Process')
    .registerVariable('ancestors', 'list<Process>')
    .registerOperator('string in list<string>', inList);
  for (const m of STRING_METHODS) env = env.registerFunction({ ...m, receiverType: 'string' });
  return env;
}

/**
 * One rule set's language: the base scope plus its list names (`list<string>` values) and
 * macro names (`bool`). Macros are variables whose value is their own condition, computed
 * lazily per event (see buildScopeClass), so a macro is type-checked once, as itself.
 */
export class RuleLanguage {
  private readonly env: Environment;

  /** `interpreted`: every condition runs on cel-js (tests compare it with the generated functions). */
  constructor(listNames: readonly string[], macroNames: readonly string[], private readonly options: { interpreted?: boolean } = {}) {
    let env = baseEnvironment();
    for (const name of listNames) env = env.registerVariable(name, 'list<string>');
    for (const name of macroNames) env = env.registerVariable(name, 'bool');
    this.env = env;
  }

  /**
   * Parses and type-checks a condition; it must be boolean. Throws ConditionError. The AST is the
   * library's (for kinds and macro references). The condition runs as generated JavaScript when
   * it is within compiled.ts's subset (`compiled`), else on cel-js.
   */
  compile(text: string): { condition: Condition; ast: unknown; compiled: boolean } {
    let program;
    try {
      program = this.env.parse(text);
    } catch (err) {
      throw conditionError(err);
    }
    const checked = program.check();
    if (!checked.valid) throw conditionError(checked.error);
    if (checked.type !== 'bool') throw new ConditionError(`the condition is of type ${checked.type ?? 'unknown'}, not bool`, 0);
    const ast = program.ast.toOldStructure();
    const fast = this.options.interpreted === true ? null : compileCondition(program.ast, COMPILE_ENV);
    if (fast !== null) return { condition: fast, ast, compiled: true };
    const condition: Condition = (scope) => program(scope as unknown as Record<string, unknown>) === true;
    return { condition, ast, compiled: false };
  }
}

/** Reserved names: lists and macros may not shadow the scope or the language. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'event', 'process', 'parent', 'ancestors', 'true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for',
  'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while',
  'int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'type', 'dyn', 'has', 'size', 'matches',
]);

function conditionError(err: unknown): ConditionError {
  const e = err as { summary?: string; message?: string; range?: { start: number }; node?: { start?: number; pos?: number } };
  const message = (e.summary ?? e.message ?? String(err)).split('\n')[0] ?? 'invalid condition';
  const offset = e.range?.start ?? e.node?.start ?? e.node?.pos ?? null;
  return new ConditionError(message, typeof offset === 'number' ? offset : null);
}
