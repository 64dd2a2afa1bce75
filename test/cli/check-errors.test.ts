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
const yaml = (name: string, text: string): string => { const file = join(dir, name); writeFileSync(file, text); return file; };
const strayTimeoutYaml = yaml('stray-timeout.yaml', 'checks:\n  ssh:\n    spec: "sshd:1-"\n    timeout: 3\n');
const halfRecheckYaml = yaml('half-recheck.yaml', 'defaults:\n  recheck_times: 1.5\nchecks:\n  ssh:\n    spec: "sshd:1-"\n');
const matchStringYaml = yaml('match-string.yaml', 'checks:\n  ssh:\n    match: "name=sshd,user=root"\n');
const longRecheckYaml = yaml('long-recheck.yaml', 'defaults:\n  recheck: 1000000000\nchecks:\n  ssh:\n    spec: "sshd:1-"\n');
/** Nagios by default: bad input must be a Nagios UNKNOWN, whether on the command line or in the file. */
const nagiosYaml = yaml('nagios.yaml', 'defaults:\n  format: nagios\nchecks:\n  ssh:\n    spec: "sshd:0-"\n');
const nagiosBadCheckYaml = yaml('nagios-bad-check.yaml', 'defaults:\n  format: nagios\nchecks:\n  ssh:\n    match: ["args~("]\n');
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
  ['bad regex', ['args~(unclosed:1-'], /^bad regular expression for 'args': Unterminated group$/],
  ['unknown builtin', ['@no-such-builtin'], /^unknown builtin check '@no-such-builtin' \(known: @gid0-not-uid0, @single-domain\)$/],
  ['--cpu-window without --cpu', ['--cpu-window', '1', 'sshd:1-'], /^the --cpu-\* options need --cpu PERCENT$/],
  ['--cpu-window too short', ['--cpu', '50', '--cpu-window', '0'], /^--cpu-window expects a number ≥ 0\.1 and ≤ 86400, got '0'$/],
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
  ['negative re-check delay', ['--recheck', '-1', 'sshd:1-'], /^--recheck expects a number ≥ 0 and ≤ 86400, got '-1'$/],
  ['unknown format', ['-f', 'xml', 'sshd:1-'], /^option '-f, --format <format>' argument 'xml' is invalid\. Allowed choices are mon, nagios, nagios-plain, json\.$/],
  ['CPU warning above critical', ['--cpu', '5', '--cpu-warning', '80', '--cpu-min-age', '0'], /^the CPU warning level \(80%\) must be below the critical level \(5%\)$/],
  ['CPU warning at critical', ['--cpu', '50', '--cpu-warning', '50'], /^the CPU warning level \(50%\) must be below the critical level \(50%\)$/],
  ['re-check delay past a timer\'s range', ['--recheck', '1e9', 'sshd:1-'], /^--recheck expects a number ≥ 0 and ≤ 86400, got '1e9'$/],
  ['CPU window past a timer\'s range', ['--cpu', '50', '--cpu-window', '3000000'], /^--cpu-window expects a number ≥ 0\.1 and ≤ 86400, got '3000000'$/],
  ['banner timeout past a timer\'s range', ['--banner', '22=SSH-', '--timeout', '1e9'], /^--timeout expects a number ≥ 0\.001 and ≤ 86400, got '1e9'$/],
  ['fractional re-check count', ['--recheck', '1', '--recheck-times', '1.5', 'sshd:1-'], /^--recheck-times expects an integer ≥ 1, got '1\.5'$/],
  ['unclosed [ in a glob', ['name=foo[:1-'], /^bad glob 'foo\[': '\[' at position 4 is never closed by '\]'$/],
  ['reversed range in a glob', ['exe=/usr/bin/[z-a]*'], /^bad glob '\/usr\/bin\/\[z-a\]\*': Range out of order in character class$/],
  ['nothing after the last colon', ['sshd:'], /^bad range '' in spec 'sshd:' \(expected MIN-MAX, MIN-, -MAX or N/],
  ['argument to @gid0-not-uid0', ['@gid0-not-uid0=whatever'], /^builtin check @gid0-not-uid0 takes no argument \(got '@gid0-not-uid0=whatever'\)$/],
  ['empty @single-domain', ['@single-domain='], /^builtin check '@single-domain=' needs a domain after '=' \(e\.g\. @single-domain=init_t\)$/],
  ['unknown CPU-exempt user', ['--cpu', '50', '--cpu-exempt-user', 'root,no-such-user-pw'], /^unknown user 'no-such-user-pw' in the CPU check's exempt users$/],
  ['listen address that is not an IP', ['--listen', 'x:22'], /^bad address 'x' in listen check 'x:22' \(expected an IP address such as 127\.0\.0\.1 or \[::1\]\)$/],
  ['bad regex in a listen owner, on a closed port', ['--listen', '1@args~('], /^bad regular expression for 'args': Unterminated group$/],
  ['unknown group in a listen owner', ['--listen', '1@group=no-such-group-pw'], /^unknown group 'no-such-group-pw'$/],
  ['timeout on a check that is not a banner', ['-c', strayTimeoutYaml], new RegExp(`^config ${strayTimeoutYaml}: checks\\.ssh\\.timeout: goes with 'banner'`)],
  ['fractional recheck_times in the config', ['-c', halfRecheckYaml], new RegExp(`^config ${halfRecheckYaml}: defaults\\.recheck_times: expected an integer ≥ 1$`)],
  ['match as one string in the config', ['-c', matchStringYaml], new RegExp(`^config ${matchStringYaml}: checks\\.ssh\\.match: expected a list of selectors`)],
  ['re-check delay past a timer\'s range in the config', ['-c', longRecheckYaml], new RegExp(`^config ${longRecheckYaml}: defaults\\.recheck: expected a number ≥ 0 and ≤ 86400$`)],
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

test('an unreadable /proc is exit 4 (cannot run), one line saying which tree and why, not "internal error"', async () => {
  const missing = join(dir, 'no-proc-here');
  await assertUsage(['--proc-root', missing, 'sshd:1-'], new RegExp(`^cannot read /proc tree ${missing}: no such file or directory \\(ENOENT\\)$`), 4);
  await assertNagiosUnknown(['-f', 'nagios', '--proc-root', missing, 'sshd:1-'], new RegExp(`^cannot read /proc tree ${missing}: no such file or directory \\(ENOENT\\)$`));
  await assertUsage(['--proc-root', brokenYaml, 'sshd:1-'], new RegExp(`^cannot read /proc tree ${brokenYaml}: not a directory \\(ENOTDIR\\)$`), 4);
});

test('defaults.format: nagios in the config makes bad input a Nagios UNKNOWN too; -f on the command line wins', async () => {
  await assertNagiosUnknown(['-c', nagiosYaml, 'sshd:3-1'], /^bad range '3-1' in spec 'sshd:3-1': minimum is above maximum$/);
  await assertNagiosUnknown(['-c', nagiosYaml, '--listen', 'x:22'], /^bad address 'x'/);
  await assertNagiosUnknown(['-c', nagiosYaml, '--recheck', '1e9'], /^--recheck expects a number ≥ 0 and ≤ 86400, got '1e9'$/);
  await assertNagiosUnknown(['-c', nagiosYaml, '--proc-root', join(dir, 'no-proc-here')], /^cannot read \/proc tree /);
  await assertNagiosUnknown(['-c', nagiosBadCheckYaml], new RegExp(`^config ${nagiosBadCheckYaml}: checks\\.ssh: bad regular expression for 'args'`));
  await assertUsage(['-c', nagiosYaml, '-f', 'mon', 'sshd:3-1'], /^bad range '3-1'/);
  await assertUsage(['-f', 'json', '-c', nagiosBadCheckYaml], /checks\.ssh: bad regular expression/);
  const ok = await check(['-c', nagiosYaml]);
  assert.equal(ok.code, 0, show(ok));
  assert.match(ok.stdout, /^PROCS OK: ssh: \d+ process(es)? \| 'ssh'=\d+;;0:;0\n$/, 'the same file, valid: Nagios output');
});

test('bad input is reported before any waiting or connecting', async () => {
  // 10.255.255.1 does not answer: a banner check would wait its full timeout, an hour here, and
  // the harness would kill it after a minute. Exiting by itself with 2 is the proof, on a
  // machine of any speed: no clock is read.
  const r = await check(['args~(', '--banner', '10.255.255.1:22=SSH-', '--timeout', '3600'], { timeoutMs: 60_000 });
  assert.equal(r.code, 2, show(r));
  assert.match(r.stderr, /^procwatch: bad regular expression for 'args'/);
  const user = await check(['user=no-such-user-pw', '--banner', '10.255.255.1:22=SSH-', '--timeout', '3600', '--recheck', '3600'], { timeoutMs: 60_000 });
  assert.equal(user.code, 2, `an unknown user too: ${show(user)}`);
});
