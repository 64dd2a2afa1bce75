/** The count-spec grammar (README "Spec grammar"), parsed without touching /proc. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelectors, parseSpec, type CountSpec, type Range } from '../../src/checks/index.js';
import { InputError } from '../../src/errors.js';

const r = (min: number | null, max: number | null): Range => ({ min, max });

function shape(spec: CountSpec): unknown {
  return { label: spec.label, selectors: spec.selectors.map((s) => `${s.key}${s.op}${s.value}`), critical: spec.critical, warning: spec.warning };
}

test('ps.monitor forms: NAME:MIN-MAX, MIN-, -MAX, N, and no range meaning 1-', () => {
  assert.deepEqual(shape(parseSpec('tor:1-1')), { label: 'tor', selectors: ['name=tor'], critical: r(1, 1), warning: null });
  assert.deepEqual(parseSpec('sshd:1-').critical, r(1, null));
  assert.deepEqual(parseSpec('foo:-3').critical, r(null, 3));
  assert.deepEqual(parseSpec('cron:5').critical, r(5, 5), 'N means exactly N');
  assert.deepEqual(parseSpec('name:5').critical, r(5, 5));
  assert.equal(parseSpec('name:5').label, 'name', 'a process called "name" is still a bare name');
  assert.deepEqual(shape(parseSpec('sshd')), { label: 'sshd', selectors: ['name=sshd'], critical: r(1, null), warning: null });
  assert.deepEqual(parseSpec('foo:0').critical, r(0, 0), 'exclusion: no process may match');
  assert.equal(parseSpec('tor:1-1').text, 'tor:1-1');
});

test('labels keep their colons: the range is only what follows the last ":" when it is a range', () => {
  assert.deepEqual(shape(parseSpec('label=system_u:system_r:init_t:s0:0-1')), {
    label: 'label=system_u:system_r:init_t:s0', selectors: ['label=system_u:system_r:init_t:s0'], critical: r(0, 1), warning: null,
  });
  assert.deepEqual(shape(parseSpec('label=system_u:system_r:init_t:s0')), {
    label: 'label=system_u:system_r:init_t:s0', selectors: ['label=system_u:system_r:init_t:s0'], critical: r(1, null), warning: null,
  });
  assert.deepEqual(parseSpec('label=system_u:system_r:sshd_t:s0-s0:c0.c1023').selectors[0]?.value, 'system_u:system_r:sshd_t:s0-s0:c0.c1023');
  assert.deepEqual(parseSpec('label=*:init_t:*').selectors[0]?.value, '*:init_t:*');
  // A kernel thread named after its CPU: the name "0:1" needs name= or quotes.
  assert.deepEqual(shape(parseSpec('name=0:1:1')), { label: 'name=0:1', selectors: ['name=0:1'], critical: r(1, 1), warning: null });
  assert.deepEqual(shape(parseSpec('"0:1":1-1')), { label: '0:1', selectors: ['name=0:1'], critical: r(1, 1), warning: null });
});

test('several selectors, every operator', () => {
  assert.deepEqual(shape(parseSpec('sshd,user=root:1-')), { label: 'sshd,user=root', selectors: ['name=sshd', 'user=root'], critical: r(1, null), warning: null });
  assert.deepEqual(parseSpec('exe!=/usr/sbin/cron,args~-f$,comm!~^k:0').selectors.map((s) => [s.key, s.op, s.value]), [
    ['exe', '!=', '/usr/sbin/cron'], ['args', '~', '-f$'], ['comm', '!~', '^k'],
  ]);
});

test('quoted values hold commas, colons, a range-like tail and escaped quotes', () => {
  assert.deepEqual(shape(parseSpec('args~"--listen=[^,]+,x"')), {
    label: 'args~"--listen=[^,]+,x"', selectors: ['args~--listen=[^,]+,x'], critical: r(1, null), warning: null,
  });
  const tail = parseSpec('args="~port:5"');
  assert.deepEqual(tail.selectors.map((s) => s.value), ['~port:5']);
  assert.deepEqual(tail.critical, r(1, null), 'the quoted ":5" is not a range');
  assert.deepEqual(shape(parseSpec('args="a,b:c",user=root:2-3')), {
    label: 'args="a,b:c",user=root', selectors: ['args=a,b:c', 'user=root'], critical: r(2, 3), warning: null,
  });
  assert.equal(parseSpec('args="say \\"hi\\" \\\\ now"').selectors[0]?.value, 'say "hi" \\ now');
});

test('CRIT/WARN ranges', () => {
  const s = parseSpec('sshd:1-/2-10');
  assert.deepEqual(s.critical, r(1, null));
  assert.deepEqual(s.warning, r(2, 10));
  assert.deepEqual(parseSpec('apache2:2-50/5-40').warning, r(5, 40));
  assert.deepEqual(parseSpec('x:-9/3').warning, r(3, 3));
});

test('builtins expand to the grammar and keep their own name as label', () => {
  assert.deepEqual(shape(parseSpec('@gid0-not-uid0')), {
    label: '@gid0-not-uid0', selectors: ['anygid=0', 'anyuid!=0'], critical: r(0, 0), warning: null,
  });
  assert.deepEqual(shape(parseSpec('@single-domain=init_t')), {
    label: '@single-domain=init_t', selectors: ['domain=init_t'], critical: r(0, 1), warning: null,
  });
  assert.deepEqual(parseSpec('@single-domain').selectors.map((s) => s.value), ['init_t'], 'default domain');
  assert.equal(parseSpec('@single-domain=sshd_t').text, '@single-domain=sshd_t');
});

/** Every bad spec is an InputError with one line that says what is wrong and quotes the input. */
function rejects(spec: string, pattern: RegExp): void {
  assert.throws(() => parseSpec(spec), (err: unknown) => {
    assert.ok(err instanceof InputError, `${spec}: expected an InputError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `${spec}: message must be one line: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('errors: unknown key, empty value, bad ranges, quoting, unknown builtin, empty selectors', () => {
  rejects('uid=0:1', /^unknown selector 'uid' in spec 'uid=0:1' \(known: name, comm, exe, .*\)$/);
  rejects('user=:1', /^selector 'user' has no value in spec 'user=:1'$/);
  rejects('label=""', /^selector 'label' has no value/);
  rejects('sshd:9-1', /^bad range '9-1' in spec 'sshd:9-1': minimum is above maximum$/);
  rejects('sshd:1-/9-1', /^bad range '9-1' in spec 'sshd:1-\/9-1': minimum is above maximum$/);
  rejects('args="x:1', /^unterminated quote in spec 'args="x:1'$/);
  rejects('@nope', /^unknown builtin check '@nope' \(known: @gid0-not-uid0, @single-domain\)$/);
  rejects(':1-1', /^spec ':1-1' selects nothing/);
  rejects('sshd,,cron', /^empty selector in spec 'sshd,,cron'$/);
  rejects('args="abc"def', /^bad quoting in value "abc"def$/);
});

test('a range typo is an error, not a process name', () => {
  for (const typo of ['sshd:1-x', 'sshd:2x', 'sshd:-x-']) {
    assert.throws(() => parseSpec(typo), (e: Error) => e instanceof InputError && /bad range/.test(e.message), typo);
  }
  assert.equal(parseSpec('label=system_u:system_r:init_t:s0-s0:c0.c1023').critical.min, 1, 'MLS parts are not ranges');
});

test('a spec whose range is empty is an error: "sshd:" is not a process called "sshd:"', () => {
  rejects('sshd:', /^bad range '' in spec 'sshd:' \(expected MIN-MAX, MIN-, -MAX or N/);
  rejects('name=tmux:', /^bad range '' in spec 'name=tmux:'/);
  rejects('label=system_u:system_r:init_t:s0:', /^bad range ''/);
  assert.deepEqual(shape(parseSpec('"tmux:"')), { label: 'tmux:', selectors: ['name=tmux:'], critical: r(1, null), warning: null }, 'quoted, a name may end in ":"');
  assert.deepEqual(parseSpec('name="tmux:":1-1').selectors.map((s) => s.value), ['tmux:']);
});

test('builtins: an argument where none is taken, or an empty one, is an error quoting what was typed', () => {
  rejects('@gid0-not-uid0=whatever', /^builtin check @gid0-not-uid0 takes no argument \(got '@gid0-not-uid0=whatever'\)$/);
  rejects('@gid0-not-uid0=', /^builtin check @gid0-not-uid0 takes no argument \(got '@gid0-not-uid0='\)$/);
  rejects('@single-domain=', /^builtin check '@single-domain=' needs a domain after '=' \(e\.g\. @single-domain=init_t\)$/);
  rejects('@single-domain=init_t[', /^bad glob 'init_t\['/);
  assert.deepEqual(parseSpec('@single-domain=*_t').selectors, [{ key: 'domain', op: '=', value: '*_t' }], 'a glob domain');
});

test('selectors are validated when parsed: a bad regex, glob or number fails before anything is read', () => {
  rejects('args~(', /^bad regular expression for 'args': Unterminated group$/);
  rejects(`args~${'a'.repeat(70_000)}`, /^bad regular expression for 'args': Regular expression too large$/); // not an internal error, and not 70 KB long
  rejects('comm!~[', /^bad regular expression for 'comm'/);
  rejects('name=foo[', /^bad glob 'foo\[': '\[' at position 4 is never closed by '\]'$/);
  rejects('exe=/usr/bin/[z-a]*', /^bad glob '\/usr\/bin\/\[z-a\]\*': Range out of order in character class$/);
  rejects('sshd,user~(:1-', /^bad regular expression for 'user'/);
  rejects('ppid=abc', /^'ppid' takes a number with = or != \(got 'ppid=abc'\)$/);
  rejects('ppid~1', /^'ppid' takes a number/);
  // User and group names need /etc: they are resolved when the check is prepared (count.test.ts).
  assert.deepEqual(parseSpec('user=nosuchuser').selectors, [{ key: 'user', op: '=', value: 'nosuchuser' }]);
});

test('parseSelectors splits at commas outside quotes only', () => {
  assert.deepEqual(parseSelectors('args~"a,b",user=root', 'x').map((s) => `${s.key}${s.op}${s.value}`), ['args~a,b', 'user=root']);
  assert.throws(() => parseSelectors('args~"a,b', 'x'), (e: unknown) => e instanceof InputError && /^unterminated quote/.test(e.message));
});
