/**
 * `procwatch check NAME:MIN-MAX` against Debian's own ps.monitor, on the same real processes:
 * the same exit code, the same summary tokens (ps.monitor prints them in Perl's random hash order,
 * so as a set), the same detail lines, and byte-identical `-x PID` answers. The README promises
 * this compatibility; these tests are what keeps the promise.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { check, run, show, type RunResult } from '../helpers/cli.js';
import { Processes, uniqueTag } from '../helpers/spawn.js';

const PS_MONITOR = '/usr/lib/mon/mon-local.d/ps.monitor';

function psMonitorMissing(): string | false {
  if (!existsSync(PS_MONITOR)) return `SKIPPED: ${PS_MONITOR} is not installed (Debian package 'mon'); procwatch was NOT compared with ps.monitor`;
  const perl = spawnSync('perl', ['-MProc::ProcessTable', '-e', '1'], { encoding: 'utf8' });
  if (perl.status !== 0) return `SKIPPED: perl cannot load Proc::ProcessTable (libproc-processtable-perl): ${(perl.stderr || String(perl.error)).trim()}; procwatch was NOT compared with ps.monitor`;
  return false;
}

const skip = psMonitorMissing();
if (skip) console.error(`\n*** check-psmonitor: ${skip} ***\n`);

/** ps.monitor only names `python3 script` after its script when it is exec'd as `python3` (a pyenv shim execs python3.X). */
const PYTHON3 = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : null;
if (PYTHON3 === null) console.error('\n*** check-psmonitor: /usr/bin/python3 not found: the python3 interpreter naming case did not run (perl\'s did) ***\n');

const procs = new Processes();
const tag = uniqueTag();
/** Copies of /bin/sleep run 1, 2, 3 and 0 times; a python3 and a perl script; a comm with a space. */
const A = `pwA${tag}`;
const B = `pwB${tag}`;
const C = `pwC${tag}`;
const D = `pwD${tag}`;
/** Never started either: names for specs with no bounds. */
const E = `pwE${tag}`;
const PY = `pw${tag}.py`;
const PL = `pw${tag}.pl`;
const SPACED = `pw ${tag}`;
const pids: Record<string, number> = {};

before(async () => {
  const dir = procs.tempDir();
  const sleepAs = (name: string): string => procs.copy('/bin/sleep', dir, name);
  pids.A = (await procs.start(sleepAs(A), ['120'])).pid;
  pids.B = (await procs.startMany(2, sleepAs(B), ['120']))[0]!.pid;
  await procs.startMany(3, sleepAs(C), ['120']);
  sleepAs(D); // exists, never runs
  pids.spaced = (await procs.start(sleepAs(SPACED), ['120'], { comm: SPACED })).pid;
  writeFileSync(join(dir, PL), 'sleep 120;\n');
  pids.perlScript = (await procs.start('perl', [join(dir, PL)], { comm: 'perl' })).pid;
  // `perl` with no script reads one from stdin, which stays open: ps.monitor names it "" (no second word).
  pids.perlBare = (await procs.start('perl', [], { stdio: ['pipe', 'ignore', 'ignore'], comm: 'perl' })).pid;
  if (PYTHON3 !== null) {
    writeFileSync(join(dir, PY), 'import time\ntime.sleep(120)\n');
    pids.python = (await procs.start(PYTHON3, [join(dir, PY)], { comm: 'python3' })).pid;
    // An option in the script's place: both take the second word as it is.
    pids.pythonOption = (await procs.start(PYTHON3, ['-u', join(dir, PY)], { comm: 'python3' })).pid;
  }
});

after(() => procs.cleanup());

/** A mon monitor's answer, taken apart: the summary tokens and detail lines, sorted (as sets). */
interface MonAnswer {
  code: number | null;
  tokens: string[];
  details: string[];
}

function parseMon(r: RunResult, who: string): MonAnswer {
  assert.equal(r.stderr, '', `${who} wrote to stderr\n${show(r)}`);
  if (r.stdout === '') return { code: r.code, tokens: [], details: [] };
  assert.ok(r.stdout.endsWith('\n'), `${who}: output ends with a newline\n${show(r)}`);
  const [summary, ...details] = r.stdout.slice(0, -1).split('\n');
  // ps.monitor's summary line: each `name:count` token followed by one space.
  assert.match(summary ?? '', /^(\S+:\d+ )+$/, `${who}: summary line\n${show(r)}`);
  return { code: r.code, tokens: summary!.split(' ').filter((t) => t !== '').sort(), details: details.sort() };
}

const psMonitor = (args: string[]): Promise<RunResult> => run('perl', [PS_MONITOR, ...args]);

/**
 * Runs ps.monitor, procwatch, ps.monitor. When the two ps.monitor runs agree, nothing the specs
 * name changed meanwhile and procwatch must give the same answer; when they differ (a system
 * process came or went), the round proves nothing and is run again, at most 3 times.
 */
async function assertAgreement(specs: string[], expectProblem: boolean): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const first = parseMon(await psMonitor(specs), 'ps.monitor');
    const oursRaw = await check(specs);
    const second = parseMon(await psMonitor(specs), 'ps.monitor');
    if (JSON.stringify(first) !== JSON.stringify(second)) {
      console.error(`ps.monitor changed its answer between two runs (attempt ${attempt}), the system changed; again`);
      continue;
    }
    const ours = parseMon(oursRaw, 'procwatch');
    assert.equal(ours.code, first.code, `exit code for ${specs.join(' ')}\n${show(oursRaw)}`);
    assert.deepEqual(ours.tokens, first.tokens, `summary tokens for ${specs.join(' ')}`);
    assert.deepEqual(ours.details, first.details, `detail lines for ${specs.join(' ')}`);
    // Not a vacuous agreement: the scenario does what it is meant to.
    assert.equal(first.code, expectProblem ? 1 : 0, `ps.monitor's own verdict for ${specs.join(' ')}`);
    return;
  }
  assert.fail(`the process table kept changing; no stable ps.monitor answer for ${specs.join(' ')}`);
}

/** `python3 -u script` is named "-u" (the second word), so one process is named after the script. */
const scripts = (): string[] => [`${PL}:1-1`, ...(PYTHON3 === null ? [] : [`${PY}:1-1`])];

test('all in range (exact, open-ended, -MAX, 0-, no bounds, interpreter scripts): both silent, exit 0', { skip }, async () => {
  await assertAgreement([`${A}:1-1`, `${B}:1-`, `${C}:2-3`, `${D}:0-`, `${E}:-`, `${E}x:-3`, ...scripts()], false);
});

test('counts below the minimum: same tokens and "< MIN (MIN-MAX)" details, a missing max printed as the count', { skip }, async () => {
  await assertAgreement([`${A}:2-`, `${B}:3-4`, `${C}:4-`, `${D}:1-`, `${PL}:2-2`, ...(PYTHON3 === null ? [] : [`${PY}:2-`])], true);
});

test('counts above the maximum, including -MAX and a minimum of 0 that ps.monitor prints as the count', { skip }, async () => {
  await assertAgreement([`${A}:0-`, `${B}:-1`, `${C}:1-2`, `${D}:-`, ...scripts()], true);
  await assertAgreement([`${C}:0-2`, `${B}:1-1`], true);
});

test('a mix of passing and failing specs, only the failing ones reported', { skip }, async () => {
  await assertAgreement([`${A}:1-`, `${B}:-1`, `${C}:2-3`, `${D}:1-`, `${PL}:2-`, ...(PYTHON3 === null ? [] : [`${PY}:0-1`])], true);
});

test('real system names (sshd:1-, cron:1-5, kthreadd:1-1): the same verdict whether they run here or not', { skip }, async () => {
  const specs = ['sshd:1-', 'cron:1-5', 'kthreadd:1-1', 'init:1-1', `${A}:1-1`];
  const ps = await psMonitor(specs);
  await assertAgreement(specs, ps.code === 1);
});

test('-x PID prints exactly what ps.monitor -x prints', { skip }, async () => {
  const cases: Array<[string, number]> = [
    ['a copied sleep', pids.A!], ['one of two', pids.B!], ['a comm with a space (cut at it)', pids.spaced!],
    ['perl script', pids.perlScript!], ['perl reading stdin (no second word)', pids.perlBare!],
    ['pid 1', 1], ['this test (node)', process.pid],
  ];
  if (PYTHON3 !== null) cases.push(['python3 script', pids.python!], ['python3 -u script', pids.pythonOption!]);
  if (existsSync('/proc/2/stat')) cases.push(['pid 2 (a kernel thread)', 2]);
  for (const [what, pid] of cases) {
    const theirs = await psMonitor(['-x', String(pid)]);
    const ours = await check(['-x', String(pid)]);
    assert.equal(theirs.code, 0, `ps.monitor -x ${pid}\n${show(theirs)}`);
    assert.match(theirs.stdout, new RegExp(`^PID:${pid} has name "[^"\n]*"\n$`), `${what}: ps.monitor's answer`);
    assert.equal(ours.stdout, theirs.stdout, `${what}: -x ${pid}`);
    assert.equal(ours.code, theirs.code, `${what}: exit code`);
    assert.equal(ours.stderr, '', `${what}: nothing on stderr`);
  }
  // The interpreter cases really exercised the interpreter rule.
  assert.equal((await check(['-x', String(pids.perlScript)])).stdout, `PID:${pids.perlScript} has name "${PL}"\n`);
  assert.equal((await check(['-x', String(pids.spaced)])).stdout, `PID:${pids.spaced} has name "pw"\n`);
  if (PYTHON3 !== null) assert.equal((await check(['-x', String(pids.python)])).stdout, `PID:${pids.python} has name "${PY}"\n`);
});

// The one deliberate difference (README): ps.monitor ignores a maximum of 0 (`0 || $count`);
// procwatch honours it, which is what makes exclusion checks possible. Not an agreement test.
test('pwA:0-0 with one running: procwatch alerts (ps.monitor, by design, does not)', async () => {
  const r = await check([`${A}:0-0`]);
  assert.equal(r.code, 1, show(r));
  assert.equal(r.stdout, `${A}:1 \n${A}:1 > 0 (0-0)\n`);
  assert.equal(r.stderr, '');
  const none = await check([`${D}:0-0`]);
  assert.equal(none.code, 0, `none running is fine\n${show(none)}`);
  assert.equal(none.stdout, '');
  if (!skip) {
    const theirs = await psMonitor([`${A}:0-0`]);
    assert.deepEqual([theirs.code, theirs.stdout], [0, ''], `ps.monitor ignores a max of 0, as the README says\n${show(theirs)}`);
  }
});
