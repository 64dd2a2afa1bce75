/**
 * What a procps user types, in procwatch's words: `ps -ef`, `ps aux`, `ps -eo pid,comm`,
 * `ps -C sshd`. Without this, Commander reads `-ef` as `-e f` (an exe glob "f", which matches
 * nothing) and prints a header alone, an empty answer that looks like a fact.
 */

import { InputError } from '../errors.js';

/** procwatch ps options that take a value: the token after them is never rewritten. */
const TAKES_VALUE = new Set(['-o', '--output', '-u', '--user', '-n', '--name', '-e', '--exe', '-a', '--args', '-p', '--pid', '--socket', '-C']);

/** procps flags that choose columns procwatch does not have: refused with the way to get columns. */
const UNSUPPORTED = /^-[eAfF]*[lyjLTHMZcOsvX][eAfFlyjLTHMZcOsvX]*$|^--(forest|sort|ppid|sid|tty|cols|columns|width|headers|no-headers)(=|$)/;

export interface Rewritten {
  args: string[];
  /** One line each for stderr: what was taken differently from procps. */
  notes: string[];
}

export function procpsArgs(input: readonly string[]): Rewritten {
  const args: string[] = [];
  const notes: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const token = input[i]!;
    const next = input[i + 1];
    if (token === '--') {
      args.push(...input.slice(i));
      break;
    }
    // `-e GLOB` is procwatch's exe filter; `-e` alone (or before another option) is procps's "every process".
    if (token === '-e' && next !== undefined && !next.startsWith('-')) {
      args.push(token, next);
      i++;
      continue;
    }
    if (token === '-C' && next !== undefined) { // procps: by command name
      args.push('-n', next);
      i++;
      continue;
    }
    if (token === '--format' || token.startsWith('--format=')) { // procps's long -o
      args.push(token === '--format' ? '-o' : `--output=${token.slice('--format='.length)}`);
      continue;
    }
    if (TAKES_VALUE.has(token) && token !== '-e') {
      args.push(token);
      if (next !== undefined) args.push(next);
      i++;
      continue;
    }
    // Every process (-e, -A), full format (-f, -F): procwatch's default listing is `ps -ef`'s.
    if (/^-[eAfF]+$/.test(token)) continue;
    if (/^-[eAfF]*o$/.test(token)) { // -eo LIST
      args.push('-o');
      continue;
    }
    // BSD syntax: aux, ax, -aux, auxww (w: whole lines).
    if (/^-?[auxw]+$/.test(token) && (token.startsWith('-') ? /^-a[uxw]+$/.test(token) : /[ax]/.test(token))) {
      if (token.includes('u')) notes.push(`'${token}': every process, in procwatch's columns (it has no %CPU, %MEM, VSZ, RSS, TTY or STAT; choose columns with -o)`);
      if (token.includes('w')) args.push('-w');
      continue;
    }
    if (UNSUPPORTED.test(token)) {
      throw new InputError(`ps: procps's ${token} is not supported here: choose columns with -o (see procwatch ps --help), show a subtree with procwatch tree PID`);
    }
    args.push(token);
  }
  return { args, notes };
}
