/**
 * Globs as `=` values take them (`exe=/usr/sbin/*`), and as watch, ps and the API take them:
 * src/util/glob.ts translates them the way a shell (fnmatch) reads them.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, hasGlob } from '../../src/util/glob.js';
import { InputError } from '../../src/errors.js';

const matches = (glob: string, text: string): boolean => globToRegExp(glob).test(text);

test('* is any run of characters, ? exactly one; the whole value must match', () => {
  assert.ok(matches('kworker/*', 'kworker/0:1'));
  assert.ok(matches('*', ''));
  assert.ok(matches('/usr/*/sshd', '/usr/local/sbin/sshd'), '* crosses "/" as fnmatch without FNM_PATHNAME does');
  assert.ok(!matches('ssh*', 'openssh'), 'anchored at the start');
  assert.ok(matches('ss?d', 'sshd'));
  assert.ok(!matches('ss?d', 'ssd'));
  assert.ok(!matches('ss?d', 'ssxxd'));
  assert.ok(matches('a.b', 'a.b') && !matches('a.b', 'axb'), 'regex characters are literal');
  assert.ok(matches('(x|y)+', '(x|y)+') && !matches('(x|y)+', 'x'));
  assert.ok(matches('line*', 'line1\nline2'), 'a newline is an ordinary character');
});

test('[...] is one character of a set or range; [!...] and [^...] one character not in it', () => {
  assert.ok(matches('tty[0-9]', 'tty7'));
  assert.ok(!matches('tty[0-9]', 'ttyS'));
  assert.ok(matches('[abc]x', 'bx') && !matches('[abc]x', 'dx'));
  assert.ok(matches('tty[!0-9]', 'ttyS'), '[!x] negates, as in a shell');
  assert.ok(!matches('tty[!0-9]', 'tty7'));
  assert.ok(matches('tty[^0-9]', 'ttyS') && !matches('tty[^0-9]', 'tty1'), '[^x] too (bash)');
  assert.ok(matches('[]]', ']') && matches('[!]]', 'a') && !matches('[!]]', ']'), '] first in a set is a member');
  assert.ok(matches('[a-]', '-') && matches('[-a]', '-'), 'a leading or trailing - is literal');
  assert.ok(matches('[a^]', '^') && !matches('[a^]', 'b'), '^ later in a set is literal');
  assert.ok(matches('[\\]]', ']'), 'an escaped ] is a member');
  assert.ok(matches('[a\\-z]', '-') && !matches('[a\\-z]', 'm'), 'an escaped - is not a range');
  assert.ok(matches('[[:digit:]]*', '42abc') && !matches('[[:digit:]]*', 'abc'), 'POSIX classes');
  assert.ok(matches('[![:space:]]', 'x') && !matches('[![:space:]]', ' '));
});

test('a backslash makes the next character literal', () => {
  assert.ok(matches('a\\*', 'a*') && !matches('a\\*', 'ab'));
  assert.ok(matches('what\\?', 'what?') && !matches('what\\?', 'whatx'));
  assert.ok(matches('x\\', 'x\\'), 'a trailing backslash is itself');
});

test('a bad pattern is an InputError with one line, never a raw regex error', () => {
  for (const [glob, message] of [
    ['foo[', "bad glob 'foo[': '[' at position 4 is never closed by ']'"],
    ['[]', "bad glob '[]': '[' at position 1 is never closed by ']'"],
    ['[!]', "bad glob '[!]': '[' at position 1 is never closed by ']'"],
    ['x[z-a]', "bad glob 'x[z-a]': Range out of order in character class"],
    ['[[:word:]]', "bad glob '[[:word:]]': unknown character class '[:word:]'"],
  ] as const) {
    assert.throws(() => globToRegExp(glob), (err: unknown) => err instanceof InputError && err.message === message, glob);
  }
});

test('hasGlob: only * ? and [ make a value a glob', () => {
  assert.ok(hasGlob('a*') && hasGlob('a?') && hasGlob('a[b]'));
  assert.ok(!hasGlob('/usr/sbin/sshd') && !hasGlob('a.b(c)'));
});
