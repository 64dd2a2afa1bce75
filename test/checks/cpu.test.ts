/**
 * Lifetime CPU checks on the fake tree: share = (utime + stime) / (uptime - starttime).
 * Uptime is 100000 s. gzip 95% (root, child of cron), boinc 99% (user boinc), bzip2 97% (bob,
 * uid 600: regular only because the fixture login.defs says UID_MIN 500), spinner 96.7% but 30 s
 * old, hog 94% (root), warm 60% (root), and the kernel thread kworker/0:1 at 92%.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuCheck, type CheckResult, type CpuSpec } from '../../src/checks/index.js';
import { regularUidRange } from '../../src/checks/cpu.js';
import { cpuSpecDefaults } from '../../src/config/checks.js';
import { ETC_ROOT, runOnFixture } from '../fixtures/paths.js';

async function cpu(overrides: Partial<CpuSpec>): Promise<CheckResult> {
  const spec: CpuSpec = { ...cpuSpecDefaults(), criticalPercent: 90, ...overrides };
  const [result] = await runOnFixture([new CpuCheck(spec)]);
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
