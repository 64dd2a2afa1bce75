/**
 * `procwatch check` given bad input, as mon or Nagios would meet it: the documented exit code
 * (mon/json 2, Nagios UNKNOWN 3), exactly one line saying what is wrong (stderr, or stdout as
 * `PROCS UNKNOWN: ...` for Nagios), and never a stack trace.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, show, type RunResult } from '../helpers/cli.js';
import { Processes, uniqueTag } from '../helpers/spawn.js';

const procs = new Processes();
after(() => procs.cleanup());
const dir = procs.tempDir();
const brokenYaml = join(dir, 'broken.yaml');
writeFileSync(brokenYaml, 'checks:\n  ssh: [unclosed\n  cron: {spec: "cron:1-"\n');
const badKeyYaml = join(dir, 'bad-key.yaml');
writeFileSync(badKeyYaml, 'checks:\n  ssh:\n    spec: "sshd:1-"\n    cuont: 1-\n');
/** No process can have a pid above pid_max. */
const NO_SUCH_PID = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;

function assertNoTrace(r: RunResult, what: string): void {
  for (const text of [r.stdout, r.stderr]) {
    assert.ok(!/^\s+at /m.test(text), `${what}: a stack trace\n${show(r)}`);
    assert.ok(!/\b(TypeError|ReferenceError|SyntaxError|RangeError)\b|node:internal/.test(text), `${what}: an internal error leaked\n${show(r)}`);
  }
}

/** mon and json: exit 2, nothing on stdout, one `procwatch: ...` line on stderr. */
async function assertUsage(args: string[], message: RegExp, code = 2): Promise<void> {
  const what = `check ${args.join(' ')}`;
  const r = await check(args);
  assertNoTrace(r, what);
  assert.equal(r.code, code, `${what}\n${show(r)}`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout\n${show(r)}`);
  assert.match(r.stderr, /^procwatch: [^\n]+\n$/, `${what}: exactly one line on stderr\n${show(r)}`);
  assert.match(r.stderr.slice('procwatch: '.length, -1), message, what);
}

/** Nagios: exit 3 (UNKNOWN), one `PROCS UNKNOWN: ...` line on stdout, nothing on stderr. */
async function assertNagiosUnknown(args: string[], message: RegExp): Promise<void> {
  const what = `check ${args.join(' ')}`;
  const r = await check(args);
  assertNoTrace(r, what);
  assert.equal(r.code, 3, `${what}\n${show(r)}`);
  assert.equal(r.stderr, '', `${what}: nothing on stderr\n${show(r)}`);
  assert.match(r.stdout, /^PROCS UNKNOWN: [^\n]+\n$/, `${what}: exactly one line on stdout\n${show(r)}`);
  assert.match(r.stdout.slice('PROCS UNKNOWN: '.length, -1), message, what);
}

/** Runs `each` over `items`, four at a time: each case starts its own node process. */
async function inParallel<T>(items: T[], each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => { while (next < items.length) await each(items[next++]!); };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** Each bad input, with what its one line must say. */
const CASES: Array<[what: string, args: string[], message: RegExp]> = [
  ['unknown option', ['--bogus', 'sshd:1-'], /^unknown option '--bogus'$/],
  ['unknown selector', ['comm=x,bogus=1:1-'], /^unknown selector 'bogus' in spec 'comm=x,bogus=1:1-' \(known: name, comm, exe, /],
  ['spec selecting nothing', [':1-'], /^spec ':1-' selects nothing/],
  ['unterminated quote', ['args~"abc:1-'], /^unterminated quote in spec 'args~"abc:1-'$/],
  ['selector without a value', ['user=:1-'], /^selector 'user' has no value in spec 'user=:1-'$/],
  ['range typo', ['sshd:1-x'], /^bad range '1-x' in spec 'sshd:1-x' \(expected MIN-MAX, MIN-, -MAX or N/],
  ['minimum above maximum', ['sshd:3-1'], /^bad range '3-1' in spec 'sshd:3-1': minimum is above maximum$/],
  ['unknown user', [`user=no-such-user-${uniqueTag()}:1-`], /^unknown user 'no-such-user-[a-z0-9]{4}'$/],
  ['unknown group', ['group=no-such-group-pw:1-'], /^unknown group 'no-such-group-pw'$/],
  ['bad regex', ['args~(unclosed:1-'], /^bad regular expression for 'args': Invalid regular expression: \/\(unclosed\/: Unterminated group$/],
  ['unknown builtin', ['@no-such-builtin'], /^unknown builtin check '@no-such-builtin' \(known: @gid0-not-uid0, @single-domain\)$/],
  ['--cpu-window without --cpu', ['--cpu-window', '1', 'sshd:1-'], /^the --cpu-\* options need --cpu PERCENT$/],
  ['--cpu-window too short', ['--cpu', '50', '--cpu-window', '0'], /^--cpu-window expects a number ≥ 0\.1, got '0'$/],
  ['nothing to check', [], /^nothing to check: give specs/],
  ['nonexistent config file', ['--config', join(dir, 'missing.yaml')], new RegExp(`^config ${join(dir, 'missing.yaml')}: cannot read: ENOENT$`)],
  ['broken YAML', ['--config', brokenYaml], new RegExp(`^config ${brokenYaml}: YAML: .+ at line \\d+, column \\d+$`)],
  ['misspelt config key', ['-c', badKeyYaml], new RegExp(`^config ${badKeyYaml}: checks\\.ssh: unknown key 'cuont'`)],
  ['--only without --config', ['--only', 'ssh', 'sshd:1-'], /^--only needs --config FILE$/],
  ['-x of a pid that does not exist', ['-x', String(NO_SUCH_PID)], new RegExp(`^no process with pid ${NO_SUCH_PID}$`)],
  ['-x of something not a pid', ['-x', 'abc'], /^--name-of expects an integer ≥ 1, got 'abc'$/],
  ['bad port', ['--listen', '70000'], /^bad port '70000' in listen check '70000' \(expected 1-65535\)$/],
  ['bad protocol', ['--listen', '22/sctp'], /^bad protocol 'sctp' in listen check '22\/sctp'/],
  ['banner without a prefix', ['--banner', '22'], /^bad banner check '22' \(expected \[HOST:\]PORT=PREFIX/],
  ['negative re-check delay', ['--recheck', '-1', 'sshd:1-'], /^--recheck expects a number ≥ 0, got '-1'$/],
  ['unknown format', ['-f', 'xml', 'sshd:1-'], /^option '-f, --format <format>' argument 'xml' is invalid\. Allowed choices are mon, nagios, json\.$/],
];

test('mon (the default): exit 2 and exactly one line on stderr for each bad input', async () => {
  await inParallel(CASES, ([, args, message]) => assertUsage(args, message));
});

test('--format json: bad input is exit 2 and one line on stderr, not a JSON document', async () => {
  const cases = CASES.filter(([, args]) => !args.includes('-f')); // those ask for another format themselves
  await inParallel(cases, ([, args, message]) => assertUsage(['--format', 'json', ...args], message));
});

test('--format nagios: bad input is UNKNOWN, exit 3, one `PROCS UNKNOWN: ...` line on stdout', async () => {
  const cases = CASES.filter(([, args]) => !args.includes('-f'));
  await inParallel(cases, ([, args, message]) => assertNagiosUnknown(['--format', 'nagios', ...args], message));
  // Every spelling of the option that asks for Nagios, wherever it stands.
  await assertNagiosUnknown(['sshd:3-1', '-f', 'nagios'], /^bad range '3-1' in spec 'sshd:3-1': minimum is above maximum$/);
  await assertNagiosUnknown(['--format=nagios', '--bogus'], /^unknown option '--bogus'$/);
  await assertNagiosUnknown(['-fnagios', 'user=no-such-user-pw:1-'], /^unknown user 'no-such-user-pw'$/);
});

test('an unreadable /proc is exit 4 (cannot run), still one line and no trace', async () => {
  const missing = join(dir, 'no-proc-here');
  await assertUsage(['--proc-root', missing, 'sshd:1-'], new RegExp(`cannot list ${missing}`), 4);
  await assertNagiosUnknown(['-f', 'nagios', '--proc-root', missing, 'sshd:1-'], new RegExp(`cannot list ${missing}`));
});
