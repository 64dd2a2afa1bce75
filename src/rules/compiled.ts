/**
 * Conditions compiled to JavaScript: the checked CEL tree of a condition becomes, once at load,
 * one generated function per node, so an event runs plain calls instead of cel-js's
 * tree-walking evaluator (its per-node dispatch, context object and runtime overload lookup).
 * Generated source rather than one closure per node: closures made from one function share its
 * inline caches, so `scope[name]` over many names would be a megamorphic lookup, as cel-js's
 * own reads are; a generated `s.process` and `v.exe` each keep their own cache
 * (BENCHMARKS.md, "Rule conditions compiled to JavaScript").
 *
 * What enters the source: identifiers (variable and field names the type check accepted,
 * re-checked here against a strict pattern) and nothing else of the rule file. Literals,
 * messages and functions are passed in an array (`k[3]`), never written into the source.
 *
 * Only a subset is compiled: what the shipped pack and rules like it use (fields, lists, `&&`
 * `||` `!` `?:`, comparisons of one type, `in`, string methods, this language's functions,
 * `exists` and `all`). A condition with anything else returns null here and runs on cel-js.
 * Within the subset the results are cel-js's, errors included: a variable or field of the wrong
 * type is an error; `&&` and `||` absorb an error on one side when the other side decides (CEL's
 * commutative logic); `exists` and `all` report an element's error only when no element
 * decided. test/rules/compiled.test.ts compares both on every pack rule and harder cases.
 */

import { EventValue, ProcessValue, type RuleScope } from './scope.js';

/** What the language provides: the set behind `string in list<string>`, and its receiver functions by name. */
export interface CompileEnv {
  /** The set `x in list` looks the list up in, or null when it scans the list. */
  listSet: (list: readonly string[]) => ReadonlySet<string> | null;
  /** Receiver functions over strings (`s.glob(p)`), by name: handler(receiver, ...args). */
  methods: ReadonlyMap<string, (...args: never[]) => unknown>;
}

/** The parts of a checked cel-js node this reads. */
interface CheckedNode {
  op: string;
  args: unknown;
  checkedType?: { name: string; kind: string; valueType?: { name: string } };
}

/** A construct outside the subset: the condition stays on cel-js. */
class Unsupported extends Error {}

/** A runtime error of a compiled condition (a value of the wrong type): the engine counts it as it counts cel-js's. */
export class ConditionEvalError extends Error {}

/** Names written into the generated source: nothing but an identifier gets there. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** CEL's string methods, written as the same JavaScript calls cel-js makes. */
const CEL_STRING_METHODS: Readonly<Record<string, string>> = { startsWith: 'startsWith', endsWith: 'endsWith', contains: 'includes' };

const SCALARS: Readonly<Record<string, string>> = { string: 'string', int: 'bigint', bool: 'boolean', double: 'number' };

const typeOf = (n: CheckedNode): string => {
  const t = n.checkedType;
  if (t === undefined) throw new Unsupported();
  return t.name;
};

const asNode = (v: unknown): CheckedNode => {
  if (typeof v !== 'object' || v === null || typeof (v as CheckedNode).op !== 'string') throw new Unsupported();
  return v as CheckedNode;
};

const identifier = (name: unknown): string => {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) throw new Unsupported();
  return name;
};

/** Turns a thrown value into the Error a node returns in place of its value (cel-js's tryEval). */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new ConditionEvalError(String(err));
}

class Generator {
  /** The generated functions, one per node (`function n4(s, l) {...}`). */
  private readonly functions: string[] = [];
  /** Variables of the generated source shared by its calls (per-node caches). */
  private readonly declarations: string[] = [];
  /** Literals, messages and functions the source refers to as k[i]. */
  readonly constants: unknown[] = [];
  /** Comprehension variables in scope, innermost last; their index is their slot in `l`. */
  private readonly locals: string[] = [];
  /** Slots the condition needs (its deepest nesting of exists/all). */
  slots = 0;

  constructor(private readonly env: CompileEnv) {}

  source(root: string): string {
    return `"use strict";\n${this.declarations.join('\n')}\n${this.functions.join('\n')}\nreturn ${root};`;
  }

  private fn(body: string): string {
    const name = `n${this.functions.length}`;
    this.functions.push(`function ${name}(s, l) {\n${body}\n}`);
    return name;
  }

  private constant(v: unknown): string {
    this.constants.push(v);
    return `k[${this.constants.length - 1}]`;
  }

  private fail(message: string): string {
    return `throw new E(${this.constant(message)});`;
  }

  /** Statements checking that `v` has a CEL type, as cel-js checks variables and fields. */
  private typeCheck(typeName: string, what: string): string {
    const js = SCALARS[typeName];
    const test = js !== undefined ? `typeof v === "${js}"`
      : typeName === 'Process' ? 'v instanceof P'
      : typeName === 'Event' ? 'v instanceof V'
      : typeName.startsWith('list<') ? 'Array.isArray(v)'
      : null;
    if (test === null) throw new Unsupported();
    return `if (v === undefined) ${this.fail(`no such value: ${what}`)}\nif (!(${test})) ${this.fail(`${what} is not of type ${typeName}`)}`;
  }

  /** Generates the node's function; returns its name. */
  node(raw: unknown): string {
    const n = asNode(raw);
    switch (n.op) {
      case 'value': {
        const js = SCALARS[typeOf(n)];
        if (js === undefined || typeof n.args !== js) throw new Unsupported();
        return this.fn(`return ${this.constant(n.args)};`);
      }
      case 'id': return this.id(n);
      case '.': return this.field(n);
      case '&&': return this.logical(n, false);
      case '||': return this.logical(n, true);
      case '!_': {
        const arg = this.node(n.args);
        return this.fn(`const v = ${arg}(s, l);\nif (typeof v !== "boolean") ${this.fail('!: not a bool')}\nreturn !v;`);
      }
      case '?:': {
        const [c, a, b] = (n.args as unknown[]).map((x) => this.node(x)) as [string, string, string];
        return this.fn(`const c = ${c}(s, l);\nif (c === true) return ${a}(s, l);\nif (c === false) return ${b}(s, l);\n${this.fail('?: the condition is not a bool')}`);
      }
      case '==': case '!=': case '<': case '<=': case '>': case '>=': return this.compare(n);
      case 'in': {
        const [a, b] = (n.args as unknown[]).map(asNode) as [CheckedNode, CheckedNode];
        if (typeOf(a) !== 'string' || typeOf(b) !== 'list<string>') throw new Unsupported();
        // The language's `in`, with the list's set kept by this node: a rule set's list is the same
        // array at every event, so the lookup of its set (a WeakMap) is made once, not per event.
        const site = this.declarations.length;
        this.declarations.push(`let list${site} = null, set${site} = null;`);
        return this.fn([
          `const x = ${this.node(a)}(s, l), list = ${this.node(b)}(s, l);`,
          `if (list !== list${site}) { set${site} = ${this.constant(this.env.listSet)}(list); list${site} = list; }`,
          `return set${site} !== null ? set${site}.has(x) : list.includes(x);`,
        ].join('\n'));
      }
      case 'list': return this.list(n);
      case 'call': {
        // Global functions: only string(int).
        const [name, args] = n.args as [unknown, unknown];
        if (name !== 'string' || !Array.isArray(args) || args.length !== 1 || typeOf(asNode(args[0])) !== 'int') throw new Unsupported();
        return this.fn(`return String(${this.node(args[0])}(s, l));`);
      }
      case 'rcall': return this.rcall(n);
      default: throw new Unsupported();
    }
  }

  private id(n: CheckedNode): string {
    const name = identifier(n.args);
    const slot = this.locals.lastIndexOf(name);
    if (slot >= 0) return this.fn(`return l[${slot}];`);
    return this.fn(`const v = s.${name};\n${this.typeCheck(typeOf(n), name)}\nreturn v;`);
  }

  private field(n: CheckedNode): string {
    const [objRaw, nameRaw] = n.args as [unknown, unknown];
    const obj = asNode(objRaw);
    const holder = typeOf(obj);
    if (holder !== 'Process' && holder !== 'Event') throw new Unsupported();
    const name = identifier(nameRaw);
    // The type check accepted only declared fields: getters of ProcessValue / EventValue.
    return this.fn(`const v = ${this.node(obj)}(s, l).${name};\n${this.typeCheck(typeOf(n), `${holder}.${name}`)}\nreturn v;`);
  }

  /** `&&` (decides: false) and `||` (decides: true), with CEL's error absorption. */
  private logical(n: CheckedNode, decides: boolean): string {
    const [a, b] = n.args as [unknown, unknown];
    const left = this.node(a);
    const right = this.node(b);
    const d = String(decides);
    const other = String(!decides);
    const op = decides ? '||' : '&&';
    return this.fn([
      `let a;\ntry { a = ${left}(s, l); } catch (err) { a = toError(err); }`,
      `if (a === ${d}) return ${d};`,
      `const b = ${right}(s, l);`,
      `if (b === ${d}) return ${d};`,
      `if (b !== ${other}) ${this.fail(`${op}: not a bool`)}`,
      `if (a === ${other}) return ${other};`,
      `if (a instanceof Error) throw a;`,
      this.fail(`${op}: not a bool`),
    ].join('\n'));
  }

  /** Comparisons of two values of one scalar type (mixed types stay on cel-js). */
  private compare(n: CheckedNode): string {
    const [a, b] = (n.args as unknown[]).map(asNode) as [CheckedNode, CheckedNode];
    const type = typeOf(a);
    if (type !== typeOf(b) || SCALARS[type] === undefined) throw new Unsupported();
    if (n.op !== '==' && n.op !== '!=' && type !== 'int' && type !== 'double') throw new Unsupported();
    const js = n.op === '==' ? '===' : n.op === '!=' ? '!==' : n.op;
    return this.fn(`return ${this.node(a)}(s, l) ${js} ${this.node(b)}(s, l);`);
  }

  private list(n: CheckedNode): string {
    if (!Array.isArray(n.args)) throw new Unsupported();
    const items = n.args.map((x) => asNode(x));
    // A list of literals is made once (`event.kind in ["exec", "uid"]` on every event).
    if (items.every((x) => x.op === 'value' && SCALARS[typeOf(x)] === typeof x.args)) return this.fn(`return ${this.constant(items.map((x) => x.args))};`);
    return this.fn(`return [${items.map((x) => `${this.node(x)}(s, l)`).join(', ')}];`);
  }

  private rcall(n: CheckedNode): string {
    const [name, receiverRaw, args] = n.args as [unknown, unknown, unknown];
    if (typeof name !== 'string' || !Array.isArray(args)) throw new Unsupported();
    const receiverNode = asNode(receiverRaw);
    if ((name === 'exists' || name === 'all') && receiverNode.checkedType?.kind === 'list') return this.quantifier(name, receiverNode, args);
    if (typeOf(receiverNode) !== 'string') throw new Unsupported();
    const receiver = `${this.node(receiverNode)}(s, l)`;
    const values = args.map((x) => `${this.node(x)}(s, l)`);
    const builtin = CEL_STRING_METHODS[name];
    if (builtin !== undefined && values.length === 1) return this.fn(`return ${receiver}.${builtin}(${values[0]!});`);
    const method = this.env.methods.get(name);
    if (method === undefined) throw new Unsupported();
    return this.fn(`return ${this.constant(method)}(${[receiver, ...values].join(', ')});`);
  }

  /**
   * `list.exists(x, p)` and `list.all(x, p)` as cel-js runs them: stop at the first element that
   * decides; an element whose predicate fails is remembered, and the first such error is the
   * result only if no element decided.
   */
  private quantifier(name: 'exists' | 'all', receiverNode: CheckedNode, args: unknown[]): string {
    const [varRaw, predRaw] = args;
    const variable = asNode(varRaw);
    const elementType = receiverNode.checkedType?.valueType?.name;
    if (args.length !== 2 || variable.op !== 'id' || elementType === undefined) throw new Unsupported();
    const list = this.node(receiverNode);
    const slot = this.locals.length;
    this.locals.push(identifier(variable.args));
    this.slots = Math.max(this.slots, this.locals.length);
    const pred = this.node(predRaw);
    this.locals.pop();
    const d = String(name === 'exists');
    const other = String(name !== 'exists');
    const check = this.typeCheck(elementType, `${name}: an element`);
    return this.fn([
      `const items = ${list}(s, l);`,
      'let error = null;',
      'for (let i = 0; i < items.length; i++) {',
      `const v = items[i];\n${check}`,
      `l[${slot}] = v;`,
      `let r;\ntry { r = ${pred}(s, l); } catch (err) { r = toError(err); }`,
      `if (r === ${d}) return ${d};`,
      `if (r !== ${other} && error === null) error = r instanceof Error ? r : new E(${this.constant(`${name}: the predicate is not a bool`)});`,
      '}',
      'if (error !== null) throw error;',
      `return ${other};`,
    ].join('\n'));
  }
}

/**
 * The condition as a function of the scope, or null when it uses anything outside the subset
 * (it then runs on cel-js). `ast`: the checked root node of cel-js's program.
 */
export function compileCondition(ast: unknown, env: CompileEnv): ((scope: RuleScope) => boolean) | null {
  const generator = new Generator(env);
  let root: (s: RuleScope, l: unknown[]) => unknown;
  try {
    const source = generator.source(generator.node(ast));
    const make = new Function('k', 'E', 'P', 'V', 'toError', source) as (...refs: unknown[]) => typeof root;
    root = make(generator.constants, ConditionEvalError, ProcessValue, EventValue, asError);
  } catch {
    // Outside the subset (Unsupported), or a tree the generator does not expect: cel-js runs it,
    // with the same results; a rule file is never refused for the generator's sake.
    return null;
  }
  // Comprehension variables live in an array per evaluation (a macro may run inside another's loop).
  if (generator.slots === 0) return (scope) => root(scope, NO_LOCALS) === true;
  return (scope) => root(scope, []) === true;
}

const NO_LOCALS: unknown[] = [];
