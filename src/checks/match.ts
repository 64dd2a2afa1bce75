/**
 * Compiles selectors into predicates over a ProcessView. A predicate answers true, false,
 * or null when the value it needs could not be read (the process vanished, or hides it):
 * unknown is reported, never counted as a match or a non-match.
 *
 * Compiling is where bad input shows: a regex or glob that does not compile (already when the
 * spec is parsed, see validateSelector) and a user or group name /etc does not know (when the
 * check is prepared, before anything is read or waited for).
 */

import { InputError } from '../errors.js';
import { labelDomain } from '../procfs/index.js';
import { processName } from './naming.js';
import { globToRegExp, hasGlob } from '../util/glob.js';
import { resolvedExePath } from '../util/resolve-path.js';
import type { CheckEnv } from './check.js';
import type { ProcessView, Snapshot } from './snapshot.js';
import type { Selector, SelectorKey } from './spec.js';
import { compileRegExp } from '../util/regex.js';

export type Verdict = boolean | null;
/** The snapshot is the one `proc` comes from: `parent=` looks the parent up in it. */
export type Predicate = (proc: ProcessView, snapshot: Snapshot) => Verdict;

const ID_KEYS: ReadonlySet<SelectorKey> = new Set(['user', 'ruser', 'anyuid', 'group', 'rgroup', 'anygid']);
const isRegex = (sel: Selector): boolean => sel.op === '~' || sel.op === '!~';

/** `=` compares exactly, or as a glob when the value holds * ? or [...]; `~` is a regex search. */
function stringTest(sel: Selector): (value: string) => boolean {
  if (isRegex(sel)) {
    try {
      const re = compileRegExp(sel.value);
      return (v) => re.test(v);
    } catch (err) {
      throw new InputError(`bad regular expression for '${sel.key}': ${(err as Error).message}`);
    }
  }
  if (hasGlob(sel.value)) {
    const re = globToRegExp(sel.value);
    return (v) => re.test(v);
  }
  return (v) => v === sel.value;
}

/** An id selector takes a number or a name; `~` matches the name. */
function idTest(sel: Selector, names: { byName: Map<string, number>; byId: Map<number, string> }, what: string): (id: number) => boolean {
  if (isRegex(sel)) {
    const test = stringTest(sel);
    return (id) => test(names.byId.get(id) ?? String(id));
  }
  const wanted = /^\d+$/.test(sel.value) ? Number(sel.value) : names.byName.get(sel.value);
  if (wanted === undefined) throw new InputError(`unknown ${what} '${sel.value}'`);
  return (id) => id === wanted;
}

function numberTest(sel: Selector): (n: number) => boolean {
  if (isRegex(sel) || !/^\d+$/.test(sel.value)) {
    throw new InputError(`'${sel.key}' takes a number with = or != (got '${sel.key}${sel.op}${sel.value}')`);
  }
  const wanted = Number(sel.value);
  return (n) => n === wanted;
}

/**
 * Everything about a selector that can be checked without /etc: its regex or glob compiles,
 * a number is a number. Spec parsers call it, so a bad selector is reported with its spec.
 */
export function validateSelector(sel: Selector): void {
  if (sel.key === 'ppid') numberTest(sel);
  else if (!ID_KEYS.has(sel.key) || isRegex(sel)) stringTest(sel);
}

function positive(sel: Selector, env: CheckEnv): Predicate {
  const key: SelectorKey = sel.key;
  switch (key) {
    case 'name': {
      const test = stringTest(sel);
      return (p) => { const n = processName(p, env.interpreters); return n === null ? null : test(n); };
    }
    case 'comm': { const test = stringTest(sel); return (p) => test(p.comm); }
    case 'state': { const test = stringTest(sel); return (p) => test(p.stat.state); }
    case 'exe': {
      // The kernel reports exe with symlinks resolved (/bin/bash runs as /usr/bin/bash on a
      // merged-/usr system): a path given with `=` matches as written or as resolved here.
      const given = stringTest(sel);
      const resolved = isRegex(sel) ? null : resolvedExePath(sel.value);
      const alt = resolved === null ? null : stringTest({ ...sel, value: resolved });
      const test = alt === null ? given : (v: string): boolean => given(v) || alt(v);
      // Kernel threads and zombies have no executable: their exe is empty (README), not unknown.
      return (p) => { const e = p.exe(); return e !== null ? test(e) : p.isKernelThread || p.stat.state === 'Z' ? test('') : null; };
    }
    case 'args': {
      const test = stringTest(sel);
      return (p) => { const a = p.argv(); return a === null ? null : test(a.join(' ')); };
    }
    case 'label': { const test = stringTest(sel); return (p) => { const l = p.label(); return l === null ? null : test(l); }; }
    case 'domain': { const test = stringTest(sel); return (p) => { const l = p.label(); return l === null ? null : test(labelDomain(l)); }; }
    case 'user': case 'ruser': case 'anyuid': {
      const test = idTest(sel, env.users.passwd, 'user');
      return (p) => {
        const s = p.status();
        if (s === null) return null;
        return key === 'anyuid' ? s.uids.some(test) : test(s.uids[key === 'user' ? 1 : 0]);
      };
    }
    case 'group': case 'rgroup': case 'anygid': {
      const test = idTest(sel, env.users.group, 'group');
      return (p) => {
        const s = p.status();
        if (s === null) return null;
        return key === 'anygid' ? s.gids.some(test) : test(s.gids[key === 'group' ? 1 : 0]);
      };
    }
    case 'ppid': { const test = numberTest(sel); return (p) => test(p.ppid); }
    case 'parent': {
      const test = stringTest(sel);
      return (p, snapshot) => {
        const parent = snapshot.byPid.get(p.ppid);
        if (parent === undefined) return p.ppid === 0 ? false : null;
        const n = processName(parent, env.interpreters);
        return n === null ? null : test(n);
      };
    }
  }
}

export function compileSelector(sel: Selector, env: CheckEnv): Predicate {
  const test = positive(sel, env);
  if (sel.op === '=' || sel.op === '~') return test;
  return (p, s) => { const v = test(p, s); return v === null ? null : !v; };
}

/** Cheap tests first: stat is already read, the others each cost a file read. */
const COST: Record<SelectorKey, number> = {
  comm: 0, state: 0, ppid: 0, name: 1, parent: 1, user: 2, ruser: 2, anyuid: 2, group: 2, rgroup: 2, anygid: 2,
  exe: 3, args: 3, label: 4, domain: 4,
};

/** All selectors must hold; false wins over unknown, since one false is enough to exclude. */
export function compileSelectors(selectors: Selector[], env: CheckEnv): Predicate {
  const ordered = [...selectors].sort((a, b) => COST[a.key] - COST[b.key]);
  const tests = ordered.map((s) => compileSelector(s, env));
  return (p, snapshot) => {
    let unknown = false;
    for (const test of tests) {
      const v = test(p, snapshot);
      if (v === false) return false;
      if (v === null) unknown = true;
    }
    return unknown ? null : true;
  };
}
