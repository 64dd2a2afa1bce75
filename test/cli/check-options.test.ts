/**
 * `procwatch check` options end to end on the fake /proc trees (--proc-root, --etc-root), where
 * every process's CPU share is known exactly: lifetime CPU mode with its warning level, minimum
 * age, exemptions and kernel threads; verdicts that unreadable processes could change; Nagios
 * output holding a '|'. make-fixtures.mjs lists the processes (uptime 100000 s in proc-basic).
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { check, checkById, checkJson, show } from '../helpers/cli.js';
import { Processes } from '../helpers/spawn.js';
import { EDGE_ROOT, ETC_ROOT, PROC_ROOT } from '../fixtures/paths.js';

const procs = new Processes();
after(() => procs.cleanup());

const onFixture = (args: string[], root = PROC_ROOT): string[] => ['--proc-root', root, '--etc-root', ETC_ROOT, ...args];
const offenderPids = (c: { data: Record<string, unknown> }): number[] => (c.data.offenders as Array<{ pid: number }>).map((o) => o.pid);

test('--cpu alone: lifetime mode, every process above the limit and older than 60 s, kernel threads left out', async () => {
  const r = await check(onFixture(['--cpu', '90']));
  assert.equal(r.code, 1, show(r));
  assert.equal(r.stdout, [
    'boinc(402):99% bzip2(403):97% gzip(401):95% hog(405):94% ',
    'pid 402 boinc (user boinc) used 99.0% CPU over its lifetime, limit 90%',
    'pid 403 bzip2 (user bob) used 97.0% CPU over its lifetime, limit 90%',
    'pid 401 gzip (user root) used 95.0% CPU over its lifetime, limit 90%',
    'pid 405 hog (user root) used 94.0% CPU over its lifetime, limit 90%',
    '',
  ].join('\n'));
  const nagios = await check(onFixture(['-f', 'nagios', '--cpu', '99.5']));
  assert.deepEqual([nagios.code, nagios.stdout], [0, "PROCS OK: cpu: highest CPU 99.0% | 'cpu_max'=99%;;99.5;0\n"], show(nagios));
});

test('--cpu-warning: between the levels is a WARNING (exit 1 in Nagios, 0 in mon); above critical is CRITICAL', async () => {
  const args = ['--cpu', '98', '--cpu-warning', '50', '--cpu-exempt-user', 'boinc,bob', '--cpu-exempt-name', 'gzip'];
  const nagios = await check(onFixture(['-f', 'nagios', ...args]));
  assert.equal(nagios.code, 1, show(nagios));
  assert.equal(nagios.stdout, [
    "PROCS WARNING: hog(405):94% warm(406):60% | 'cpu_max'=94%;50;98;0",
    'pid 405 hog (user root) used 94.0% CPU over its lifetime, limit 50% warning',
    'pid 406 warm (user root) used 60.0% CPU over its lifetime, limit 50% warning',
    '',
  ].join('\n'));
  const mon = await check(onFixture(args));
  assert.deepEqual([mon.code, mon.stdout], [0, ''], 'mon has no warning level');
  const critical = await check(onFixture(['-f', 'nagios', '--cpu', '98', '--cpu-warning', '50']));
  assert.equal(critical.code, 2, show(critical));
  assert.match(critical.stdout, /^PROCS CRITICAL: boinc\(402\):99% bzip2\(403\):97% gzip\(401\):95% hog\(405\):94% warm\(406\):60% \| 'cpu_max'=99%;50;98;0\n/);
  // The audit's case: a warning level above the critical one would have hidden every process.
  const refused = await check(onFixture(['-f', 'nagios', '--cpu', '5', '--cpu-warning', '80', '--cpu-min-age', '0']));
  assert.equal(refused.code, 3, show(refused));
  assert.match(refused.stdout, /^PROCS UNKNOWN: the CPU warning level \(80%\) must be below the critical level \(5%\)\n$/);
});

test('--cpu-min-age: the 30 s old spinner is counted only when the minimum age is below 30 s', async () => {
  const young = await checkJson(onFixture(['--cpu', '90', '--cpu-min-age', '10']));
  assert.deepEqual(offenderPids(checkById(young.report, 'cpu')), [402, 403, 404, 401, 405]);
  const old = await checkJson(onFixture(['--cpu', '90', '--cpu-min-age', '31']));
  assert.deepEqual(offenderPids(checkById(old.report, 'cpu')), [402, 403, 401, 405]);
});

test('--cpu-exempt-regular-users: UID_MIN..UID_MAX from --etc-root\'s login.defs (500 here, so bob at 600)', async () => {
  const { report } = await checkJson(onFixture(['--cpu', '90', '--cpu-exempt-regular-users']));
  assert.deepEqual(offenderPids(checkById(report, 'cpu')), [402, 401, 405]);
  const other = await checkJson(['--proc-root', PROC_ROOT, '--etc-root', '/nonexistent/etc', '--cpu', '90', '--cpu-exempt-regular-users']);
  assert.deepEqual(offenderPids(checkById(other.report, 'cpu')), [402, 403, 401, 405], 'no login.defs: 1000-60000, so bob is not regular');
});

test('--cpu-kernel-threads: kworker/0:1 (92%) is included; kernel threads are told by PF_KTHREAD, not pid 2', async () => {
  const { report } = await checkJson(onFixture(['--cpu', '90', '--cpu-kernel-threads']));
  assert.deepEqual(offenderPids(checkById(report, 'cpu')), [402, 403, 401, 405, 3]);
  // In a container's tree pid 2 and its child are ordinary processes; kswapd0 carries the flag.
  const container = await checkJson(onFixture(['--cpu', '90'], EDGE_ROOT));
  assert.deepEqual(offenderPids(checkById(container.report, 'cpu')), [2, 3]);
  const withKernel = await checkJson(onFixture(['--cpu', '90', '--cpu-kernel-threads'], EDGE_ROOT));
  assert.deepEqual(offenderPids(checkById(withKernel.report, 'cpu')), [4, 2, 3]);
});

test('cpu_max perfdata leaves out what the check leaves out: exempt processes and kernel threads', async () => {
  const r = await check(onFixture(['-f', 'nagios', '--cpu', '90', '--cpu-exempt-user', 'boinc,bob', '--cpu-exempt-name', 'gzip,hog']));
  assert.deepEqual([r.code, r.stdout], [0, "PROCS OK: cpu: highest CPU 60.0% | 'cpu_max'=60%;;90;0\n"], show(r));
});

test('a tree without /proc/uptime: CPU use is UNKNOWN, never OK', async () => {
  const root = join(procs.tempDir(), 'proc');
  cpSync(PROC_ROOT, root, { recursive: true, verbatimSymlinks: true });
  rmSync(join(root, 'uptime'));
  const nagios = await check(onFixture(['-f', 'nagios', '--cpu', '90'], root));
  assert.deepEqual([nagios.code, nagios.stdout],
    [3, `PROCS UNKNOWN: cpu:unknown\ncpu: cannot read ${root}/uptime, so CPU use cannot be computed\n`], `no made-up cpu_max either\n${show(nagios)}`);
  const mon = await check(onFixture(['--cpu', '90'], root));
  assert.deepEqual([mon.code, mon.stdout], [1, `cpu:unknown \ncpu: cannot read ${root}/uptime, so CPU use cannot be computed\n`], show(mon));
});

test('unreadable processes: UNKNOWN when they could change the verdict, the verdict otherwise', async () => {
  const unknown = await check(onFixture(['-f', 'nagios', 'exe=*/x:1-1'], EDGE_ROOT));
  assert.equal(unknown.code, 3, show(unknown));
  assert.equal(unknown.stdout, "PROCS UNKNOWN: exe=*/x:unknown | 'exe_*/x'=U;;1:1;0\nexe=*/x: 2 process(es) could not be read (vanished or hidden): the count is between 1 and 3, which changes the verdict\n");
  const ok = await check(onFixture(['-f', 'nagios', 'exe=*/x:1-'], EDGE_ROOT));
  assert.deepEqual([ok.code, ok.stdout], [0, "PROCS OK: exe=*/x: 1 process | 'exe_*/x'=1;;1:;0\n"], show(ok));
  const critical = await check(onFixture(['-f', 'nagios', 'comm=x,exe=*/x:3-'], EDGE_ROOT));
  assert.equal(critical.code, 2, `at most 2 could match 3-: CRITICAL whatever they are\n${show(critical)}`);
});

test('nagios: a "|" in a spec does not end the status text early: exactly one "|" in the output', async () => {
  const r = await check(onFixture(['-f', 'nagios', 'args~^(sshd|cron):3-']));
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stdout, "PROCS CRITICAL: args~^(sshd¦cron):2 | 'args~^(sshd_cron)'=2;;3:;0\nargs~^(sshd¦cron):2 < 3 (3-2)\n");
  assert.equal(r.stdout.split('|').length, 2);
});
