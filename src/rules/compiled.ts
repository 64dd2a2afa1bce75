/**
 * Conditions compiled to JavaScript: the checked CEL tree of a condition becomes, once at load,
 * one generated function, so an event runs plain statements instead of cel-js's tree-walking
 * evaluator (its per-node dispatch, context object and runtime overload lookup). Each node is a
 * block that computes its value into a variable of its own (t0, t1, ...), nested as the tree is.
 * Generated source rather than one closure per node: closures made from one function share its
 * inline caches, so `scope[name]` over many names would be a megamorphic lookup, as cel-js's
 * own reads are; a generated `s.process` and `v.exe` each keep their own cache. One function
 * per condition rather than one per node: V8 compiles each hot function on its own, so a
 * fresh daemon's first storm compiled every node again apart from the rule that inlined it
 * (BENCHMARKS.md, "Rule conditions compiled to JavaScript", and "... one function per condition").
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
  /** Variables of the generated source kept between calls (per-node caches of `in`). */
  private readonly declarations: string[] = [];
  /** Literals, messages and functions the source refers to as k[i]. */
  readonly constants: unknown[] = [];
  /** Comprehension variables in scope, innermost last, with the generated variable that holds each. */
  private readonly locals: Array<{ name: string; variable: string }> = [];
  /** Generated variables so far: each node's value has its own (t0, t1, ...), so no block shadows another's. */
  private variables = 0;

  constructor(private readonly env: CompileEnv) {}

  /** The factory's body: the caches, then the condition's one function, returned. */
  source(root: unknown): string {
    const result = this.variable();
    const body = this.emit(root, result);
    return `"use strict";\n${this.declarations.join('\n')}\nreturn function condition(s) {\nlet ${result};\n${body}\nreturn ${result};\n};`;
  }

  private variable(): string {
    return `t${this.variables++}`;
  }

  /** Declares a variable and the statements that compute the node into it. */
  private value(raw: unknown): [string, string] {
    const into = this.variable();
    return [into, `let ${into};\n${this.emit(raw, into)}`];
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

  /**
   * Statements that compute the node's value into `into` (declared by the caller), or throw its
   * error: one block of the condition's function, nested as the tree is.
   */
  private emit(raw: unknown, into: string): string {
    const n = asNode(raw);
    switch (n.op) {
      case 'value': {
        const js = SCALARS[typeOf(n)];
        if (js === undefined || typeof n.args !== js) throw new Unsupported();
        return `${into} = ${this.constant(n.args)};`;
      }
      case 'id': return this.id(n, into);
      case '.': return this.field(n, into);
      case '&&': return this.logical(n, false, into);
      case '||': return this.logical(n, true, into);
      case '!_': {
        const [a, code] = this.value(n.args);
        return `{\n${code}\nif (typeof ${a} !== "boolean") ${this.fail('!: not a bool')}\n${into} = !${a};\n}`;
      }
      case '?:': {
        const [cRaw, aRaw, bRaw] = n.args as unknown[];
        const [c, code] = this.value(cRaw);
        return `{\n${code}\nif (${c} === true) {\n${this.emit(aRaw, into)}\n} else if (${c} === false) {\n${this.emit(bRaw, into)}\n} else ${this.fail('?: the condition is not a bool')}\n}`;
      }
      case '==': case '!=': case '<': case '<=': case '>': case '>=': return this.compare(n, into);
      case 'in': {
        const [aRaw, bRaw] = n.args as [unknown, unknown];
        if (typeOf(asNode(aRaw)) !== 'string' || typeOf(asNode(bRaw)) !== 'list<string>') throw new Unsupported();
        const [x, xCode] = this.value(aRaw);
        const [list, listCode] = this.value(bRaw);
        // The language's `in`, with the list's set kept by this node: a rule set's list is the same
        // array at every event, so the lookup of its set (a WeakMap) is made once, not per event.
        const site = this.declarations.length;
        this.declarations.push(`let list${site} = null, set${site} = null;`);
        return [
          `{\n${xCode}\n${listCode}`,
          `if (${list} !== list${site}) { set${site} = ${this.constant(this.env.listSet)}(${list}); list${site} = ${list}; }`,
          `${into} = set${site} !== null ? set${site}.has(${x}) : ${list}.includes(${x});\n}`,
        ].join('\n');
      }
      case 'list': return this.list(n, into);
      case 'call': {
        // Global functions: only string(int).
        const [name, args] = n.args as [unknown, unknown];
        if (name !== 'string' || !Array.isArray(args) || args.length !== 1 || typeOf(asNode(args[0])) !== 'int') throw new Unsupported();
        const [v, code] = this.value(args[0]);
        return `{\n${code}\n${into} = String(${v});\n}`;
      }
      case 'rcall': return this.rcall(n, into);
      default: throw new Unsupported();
    }
  }

  private id(n: CheckedNode, into: string): string {
    const name = identifier(n.args);
    for (let i = this.locals.length - 1; i >= 0; i--) if (this.locals[i]!.name === name) return `${into} = ${this.locals[i]!.variable};`;
    return `{\nconst v = s.${name};\n${this.typeCheck(typeOf(n), name)}\n${into} = v;\n}`;
  }

  private field(n: CheckedNode, into: string): string {
    const [objRaw, nameRaw] = n.args as [unknown, unknown];
    const holder = typeOf(asNode(objRaw));
    if (holder !== 'Process' && holder !== 'Event') throw new Unsupported();
    const name = identifier(nameRaw);
    const [obj, code] = this.value(objRaw);
    // The type check accepted only declared fields: getters of ProcessValue / EventValue.
    return `{\n${code}\nconst v = ${obj}.${name};\n${this.typeCheck(typeOf(n), `${holder}.${name}`)}\n${into} = v;\n}`;
  }

  /** `&&` (decides: false) and `||` (decides: true), with CEL's error absorption. */
  private logical(n: CheckedNode, decides: boolean, into: string): string {
    const [aRaw, bRaw] = n.args as [unknown, unknown];
    const d = String(decides);
    const other = String(!decides);
    const op = decides ? '||' : '&&';
    const a = this.variable();
    const aCode = this.emit(aRaw, a);
    const [b, bCode] = this.value(bRaw);
    return [
      `{\nlet ${a};\ntry {\n${aCode}\n} catch (err) { ${a} = toError(err); }`,
      `if (${a} === ${d}) ${into} = ${d};`,
      `else {\n${bCode}`,
      `if (${b} === ${d}) ${into} = ${d};`,
      `else if (${b} !== ${other}) ${this.fail(`${op}: not a bool`)}`,
      `else if (${a} === ${other}) ${into} = ${other};`,
      `else if (${a} instanceof Error) throw ${a};`,
      `else ${this.fail(`${op}: not a bool`)}\n}\n}`,
    ].join('\n');
  }

  /** Comparisons of two values of one scalar type (mixed types stay on cel-js). */
  private compare(n: CheckedNode, into: string): string {
    const [aRaw, bRaw] = n.args as [unknown, unknown];
    const type = typeOf(asNode(aRaw));
    if (type !== typeOf(asNode(bRaw)) || SCALARS[type] === undefined) throw new Unsupported();
    if (n.op !== '==' && n.op !== '!=' && type !== 'int' && type !== 'double') throw new Unsupported();
    const js = n.op === '==' ? '===' : n.op === '!=' ? '!==' : n.op;
    const [a, aCode] = this.value(aRaw);
    const [b, bCode] = this.value(bRaw);
    return `{\n${aCode}\n${bCode}\n${into} = ${a} ${js} ${b};\n}`;
  }

  private list(n: CheckedNode, into: string): string {
    if (!Array.isArray(n.args)) throw new Unsupported();
    const items = n.args.map((x) => asNode(x));
    // A list of literals is made once (`event.kind in ["exec", "uid"]` on every event).
    if (items.every((x) => x.op === 'value' && SCALARS[typeOf(x)] === typeof x.args)) return `${into} = ${this.constant(items.map((x) => x.args))};`;
    const values = items.map((x) => this.value(x));
    return `{\n${values.map(([, code]) => code).join('\n')}\n${into} = [${values.map(([v]) => v).join(', ')}];\n}`;
  }

  private rcall(n: CheckedNode, into: string): string {
    const [name, receiverRaw, args] = n.args as [unknown, unknown, unknown];
    if (typeof name !== 'string' || !Array.isArray(args)) throw new Unsupported();
    const receiverNode = asNode(receiverRaw);
    if ((name === 'exists' || name === 'all') && receiverNode.checkedType?.kind === 'list') return this.quantifier(name, receiverNode, args, into);
    if (typeOf(receiverNode) !== 'string') throw new Unsupported();
    // CEL's own method as the same JavaScript call cel-js makes, or the language's function.
    const builtin = args.length === 1 ? CEL_STRING_METHODS[name] : undefined;
    const handler = builtin === undefined ? this.env.methods.get(name) : undefined;
    if (builtin === undefined && handler === undefined) throw new Unsupported();
    const [receiver, receiverCode] = this.value(receiverNode);
    const values = args.map((x) => this.value(x));
    const call = handler === undefined ? `${receiver}.${builtin}(${values[0]![0]})` : `${this.constant(handler)}(${[receiver, ...values.map(([v]) => v)].join(', ')})`;
    return `{\n${receiverCode}\n${values.map(([, c]) => c).join('\n')}\n${into} = ${call};\n}`;
  }

  /**
   * `list.exists(x, p)` and `list.all(x, p)` as cel-js runs them: stop at the first element that
   * decides; an element whose predicate fails is remembered, and the first such error is the
   * result only if no element decided.
   */
  private quantifier(name: 'exists' | 'all', receiverNode: CheckedNode, args: unknown[], into: string): string {
    const [varRaw, predRaw] = args;
    const variable = asNode(varRaw);
    const elementType = receiverNode.checkedType?.valueType?.name;
    if (args.length !== 2 || variable.op !== 'id' || elementType === undefined) throw new Unsupported();
    const [items, itemsCode] = this.value(receiverNode);
    const element = this.variable();
    const [i, error, decided, r] = [this.variable(), this.variable(), this.variable(), this.variable()];
    this.locals.push({ name: identifier(variable.args), variable: element });
    const pred = this.emit(predRaw, r);
    this.locals.pop();
    const d = String(name === 'exists');
    const other = String(name !== 'exists');
    return [
      `{\n${itemsCode}`,
      `let ${error} = null, ${decided} = false;`,
      `for (let ${i} = 0; ${i} < ${items}.length; ${i}++) {`,
      `const v = ${items}[${i}];\n${this.typeCheck(elementType, `${name}: an element`)}`,
      `const ${element} = v;`,
      `let ${r};\ntry {\n${pred}\n} catch (err) { ${r} = toError(err); }`,
      `if (${r} === ${d}) { ${decided} = true; break; }`,
      `if (${r} !== ${other} && ${error} === null) ${error} = ${r} instanceof Error ? ${r} : new E(${this.constant(`${name}: the predicate is not a bool`)});`,
      '}',
      `if (${decided}) ${into} = ${d};\nelse if (${error} !== null) throw ${error};\nelse ${into} = ${other};\n}`,
    ].join('\n');
  }
}

/**
 * The condition as a function of the scope, or null when it uses anything outside the subset
 * (it then runs on cel-js). `ast`: the checked root node of cel-js's program.
 */
export function compileCondition(ast: unknown, env: CompileEnv): ((scope: RuleScope) => boolean) | null {
  const generator = new Generator(env);
  let condition: (s: RuleScope) => unknown;
  try {
    const source = generator.source(ast);
    const make = new Function('k', 'E', 'P', 'V', 'toError', source) as (...refs: unknown[]) => typeof condition;
    condition = make(generator.constants, ConditionEvalError, ProcessValue, EventValue, asError);
  } catch {
    // Outside the subset (Unsupported), or a tree the generator does not expect: cel-js runs it,
    // with the same results; a rule file is never refused for the generator's sake.
    return null;
  }
  return (scope) => condition(scope) === true;
}
