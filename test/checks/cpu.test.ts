/**
 * Lifetime CPU checks on the fake tree: share = (utime + stime) / (uptime - starttime).
 * Uptime is 100000 s. gzip 95% (root, child of cron), boinc 99% (user boinc), bzip2 97% (bob,
 * uid 600: regular only because the fixture login.defs says UID_MIN 500), spinner 96.7% but 30 s
 * old, hog 94% (root), warm 60% (root), and the kernel thread kworker/0:1 at 92%.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuCheck, type CheckResult, type CpuSpec } from '../../src/checks/index.js';
import { regularUidRange } from '../../src/checks/cpu.js';
import { cpuSpecDefaults } from '../../src/config/checks.js';
import { InputError } from '../../src/errors.js';
import { EDGE_ROOT, ETC_ROOT, PROC_ROOT, runOnFixture } from '../fixtures/paths.js';

async function cpu(overrides: Partial<CpuSpec>, procRoot = PROC_ROOT): Promise<CheckResult> {
  const spec: CpuSpec = { ...cpuSpecDefaults(), criticalPercent: 90, ...overrides };
  const [result] = await runOnFixture([new CpuCheck(spec)], { procRoot });
  assert.ok(result !== undefined);
  return result;
}

const offenders = (r: CheckResult): Array<[number, string]> => r.processes.map((p) => [p.pid, p.name]);

test('every process above the limit is an offender, highest first; young processes and kernel threads are left out', async () => {
  const r = await cpu({});
  assert.equal(r.status, 'critical');
  assert.deepEqual(offenders(r), [[402, 'boinc'], [403, 'bzip2'], [401, 'gzip'], [405, 'hog']]);
  assert.equal(r.summary, 'boinc(402):99% bzip2(403):97% gzip(401):95% hog(405):94%');
  assert.deepEqual(r.details, [
    'pid 402 boinc (user boinc) used 99.0% CPU over its lifetime, limit 90%',
    'pid 403 bzip2 (user bob) used 97.0% CPU over its lifetime, limit 90%',
    'pid 401 gzip (user root) used 95.0% CPU over its lifetime, limit 90%',
    'pid 405 hog (user root) used 94.0% CPU over its lifetime, limit 90%',
  ]);
  assert.deepEqual(r.perf, [{ label: 'cpu_max', value: 99, unit: '%', warn: '', crit: '90', min: 0, max: null }]);
});

test('exemptions by user, by name and by regular-user range leave only the real offender', async () => {
  const r = await cpu({ exemptUsers: ['boinc'], exemptNames: ['gzip'], exemptRegularUsers: true });
  assert.deepEqual(offenders(r), [[405, 'hog']]);
  assert.equal(r.summary, 'hog(405):94%');
  assert.equal(r.status, 'critical');
  assert.deepEqual(offenders(await cpu({ exemptUsers: ['120'] })).map(([pid]) => pid), [403, 401, 405], 'a user by uid');
  assert.deepEqual(offenders(await cpu({ exemptNames: ['boinc', 'bzip2'] })).map(([pid]) => pid), [401, 405]);
});

test('regular users come from login.defs (UID_MIN 500 here, so bob at 600 is regular)', async () => {
  assert.deepEqual(regularUidRange(ETC_ROOT), [500, 60000]);
  assert.deepEqual(regularUidRange('/nonexistent/etc'), [1000, 60000], 'Debian defaults without login.defs');
  assert.deepEqual(offenders(await cpu({ exemptRegularUsers: true })).map(([pid]) => pid), [402, 401, 405]);
});

test('min-age: the 30 s old spinner counts once the minimum age is below its age', async () => {
  assert.ok(!offenders(await cpu({ minAgeSeconds: 60 })).some(([pid]) => pid === 404));
  const r = await cpu({ minAgeSeconds: 10 });
  assert.deepEqual(offenders(r).map(([pid]) => pid), [402, 403, 404, 401, 405]);
  assert.ok(r.details.includes('pid 404 spinner (user root) used 96.7% CPU over its lifetime, limit 90%'));
});

test('kernel threads only when asked', async () => {
  const r = await cpu({ includeKernelThreads: true });
  assert.deepEqual(offenders(r).map(([pid]) => pid), [402, 403, 401, 405, 3]);
  assert.equal(r.processes.at(-1)?.name, '0:1');
});

test('warning level: below critical but above warning is a warning, with the warning limit', async () => {
  const r = await cpu({ criticalPercent: 98, warningPercent: 50, exemptUsers: ['boinc', 'bob'], exemptNames: ['gzip'] });
  assert.equal(r.status, 'warning');
  assert.deepEqual(r.details, [
    'pid 405 hog (user root) used 94.0% CPU over its lifetime, limit 50% warning',
    'pid 406 warm (user root) used 60.0% CPU over its lifetime, limit 50% warning',
  ]);
  assert.equal(r.perf[0]?.warn, '50');
  const mixed = await cpu({ criticalPercent: 98, warningPercent: 50 });
  assert.equal(mixed.status, 'critical', 'boinc at 99% is above 98%');
  assert.equal(mixed.details[0], 'pid 402 boinc (user boinc) used 99.0% CPU over its lifetime, limit 98%');
});

test('nothing above the limit is ok, with the highest share in perfdata', async () => {
  const r = await cpu({ criticalPercent: 99.5 });
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.details, []);
  assert.equal(r.summary, '');
  assert.equal(r.perf[0]?.value, 99);
});

test('cpu_max is the highest share among the processes the check looks at: not exempt ones, not kernel threads', async () => {
  const r = await cpu({ exemptUsers: ['boinc', 'bob'], exemptNames: ['gzip', 'hog'] });
  assert.equal(r.status, 'ok');
  assert.equal(r.perf[0]?.value, 60, 'warm at 60%: not boinc (99%, exempt), nor kworker/0:1 (92%, a kernel thread)');
  assert.equal(r.data.highestPercent, 60);
  assert.equal((await cpu({ exemptUsers: ['boinc', 'bob'], exemptNames: ['gzip', 'hog'], includeKernelThreads: true })).perf[0]?.value, 92);
  assert.equal((await cpu({ exemptUsers: ['boinc', 'bob'], exemptNames: ['gzip', 'hog', 'warm'], minAgeSeconds: 10 })).perf[0]?.value, 96.7, 'spinner counts once old enough');
});

test('a warning level at or above the critical level is refused: it would hide critical processes', () => {
  for (const warningPercent of [80, 5]) {
    assert.throws(() => new CpuCheck({ ...cpuSpecDefaults(), criticalPercent: 5, warningPercent }),
      (err: unknown) => err instanceof InputError && err.message === `the CPU warning level (${warningPercent}%) must be below the critical level (5%)`);
  }
  assert.throws(() => new CpuCheck({ ...cpuSpecDefaults(), windowSeconds: 3_000_000 }), (err: unknown) => err instanceof InputError && /CPU window \(3000000s\) must be above 0 and at most 86400s/.test(err.message));
});

test('with a warning level, every process above it is reported, the critical ones as critical', async () => {
  const r = await cpu({ criticalPercent: 95, warningPercent: 5, exemptRegularUsers: true });
  assert.equal(r.status, 'critical');
  assert.deepEqual(offenders(r).map(([pid]) => pid), [402, 401, 405, 406], 'boinc 99% critical; gzip 95%, hog 94%, warm 60% warnings');
  assert.ok(r.details[0]!.endsWith('limit 95%') && r.details.slice(1).every((d) => d.endsWith('limit 5% warning')), r.details.join('\n'));
});

test('an exempt user /etc/passwd does not know is bad input, not silently nobody', async () => {
  await assert.rejects(cpu({ exemptUsers: ['boinc', 'no-such-user'] }),
    (err: unknown) => err instanceof InputError && err.message === "unknown user 'no-such-user' in the CPU check's exempt users");
});

test('kernel threads by their PF_KTHREAD flag: a container\'s pid 2 and its child are checked', async () => {
  const r = await cpu({}, EDGE_ROOT);
  assert.deepEqual(offenders(r), [[2, 'worker'], [3, 'cruncher']], 'kswapd0 (97%) is a kernel thread; worker is pid 2, cruncher its child');
  assert.equal(r.perf[0]?.value, 95);
  assert.deepEqual(offenders(await cpu({ includeKernelThreads: true }, EDGE_ROOT)).map(([pid]) => pid), [4, 2, 3]);
});

test('without /proc/uptime no CPU share can be computed: unknown, never ok', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'pw-nouptime-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  cpSync(PROC_ROOT, root, { recursive: true, verbatimSymlinks: true });
  rmSync(join(root, 'uptime'));
  for (const windowSeconds of [null, 0.1]) {
    const r = await cpu({ windowSeconds }, root);
    assert.equal(r.status, 'unknown', `window ${String(windowSeconds)}`);
    assert.equal(r.summary, 'cpu:unknown');
    assert.deepEqual(r.details, [`cpu: cannot read ${root}/uptime, so CPU use cannot be computed`]);
  }
});
