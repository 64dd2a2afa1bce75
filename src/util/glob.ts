/**
 * Shell-style globs as anchored regular expressions, translated as fnmatch(3) reads them:
 * `*` any run of characters (also `/`), `?` one character, `[...]` one of a set, `[!...]` or
 * `[^...]` one character not in it (a `]` right after `[` or `[!` is a member), `[[:digit:]]`
 * POSIX classes, and `\x` the character x itself.
 */

import { InputError } from '../errors.js';
import { own } from './own.js';
import { compileRegExp, quoteShort } from './regex.js';

/** POSIX classes that `[...]` may hold, as JavaScript class contents (ASCII, as in the C locale). */
const POSIX_CLASSES: Record<string, string> = {
  alnum: 'a-zA-Z0-9', alpha: 'a-zA-Z', blank: ' \\t', cntrl: '\\x00-\\x1f\\x7f', digit: '0-9', graph: '!-~',
  lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: ' \\t\\n\\r\\f\\v', upper: 'A-Z', xdigit: '0-9A-Fa-f',
};

/** Characters with a meaning inside a JavaScript class, escaped so a glob's set stays literal. */
function classChar(c: string): string {
  return c === '\\' || c === ']' || c === '[' || c === '^' ? `\\${c}` : c;
}

/** Translates the set starting at glob[open] === '['; returns its regex source and the index after its ']'. */
function translateSet(glob: string, open: number): [source: string, next: number] {
  let i = open + 1;
  let negated = false;
  if (glob[i] === '!' || glob[i] === '^') {
    negated = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === ']' && !first) return [`[${negated ? '^' : ''}${body}]`, i + 1];
    first = false;
    if (c === '[' && glob[i + 1] === ':') {
      const close = glob.indexOf(':]', i + 2);
      if (close >= 0) {
        const name = glob.slice(i + 2, close);
        const members = own(POSIX_CLASSES, name);
        if (members === undefined) throw new InputError(`bad glob ${quoteShort(glob)}: unknown character class ${quoteShort(`[:${name}:]`)}`);
        body += members;
        i = close + 1;
        continue;
      }
    }
    if (c === '\\' && i + 1 < glob.length) {
      const escaped = glob[++i]!;
      body += escaped === '-' ? '\\-' : classChar(escaped); // `[a\-z]` is three characters, not a range
      continue;
    }
    body += classChar(c);
  }
  throw new InputError(`bad glob ${quoteShort(glob)}: '[' at position ${open + 1} is never closed by ']'`);
}

/** Throws InputError for a pattern that is not a glob (an unclosed `[`, a reversed range). */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; ) {
    const c = glob[i]!;
    if (c === '*') {
      source += '.*';
      i++;
    } else if (c === '?') {
      source += '.';
      i++;
    } else if (c === '[') {
      const [set, next] = translateSet(glob, i);
      source += set;
      i = next;
    } else if (c === '\\' && i + 1 < glob.length) {
      source += escapeRegExp(glob[i + 1]!);
      i += 2;
    } else {
      source += escapeRegExp(c);
      i++;
    }
  }
  try {
    return compileRegExp(`^${source}$`, 's');
  } catch (err) {
    // A set such as [z-a]: the regex engine names the fault ("Range out of order").
    throw new InputError(`bad glob ${quoteShort(glob)}: ${(err as Error).message}`);
  }
}

function escapeRegExp(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

export function hasGlob(text: string): boolean {
  return /[*?[]/.test(text);
}

/** A command-line glob option as a regular expression; a malformed one names the option (exit 2). */
export function globOption(text: string | undefined, option: string): RegExp | null {
  if (text === undefined) return null;
  try {
    return globToRegExp(text);
  } catch (err) {
    throw new InputError(`${option}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
