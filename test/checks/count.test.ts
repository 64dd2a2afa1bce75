/**
 * Count checks evaluated through runChecks on the fake tree test/fixtures/proc-basic, as
 * `procwatch check --proc-root ... --etc-root ...` would. make-fixtures.mjs lists the processes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountCheck, ListenCheck, CpuCheck, parseListenSpec, parseSpec, processName, takeSnapshot, PS_MONITOR_INTERPRETERS, type Check, type CheckResult } from '../../src/checks/index.js';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcReader, UserDb } from '../../src/procfs/index.js';
import { InputError } from '../../src/errors.js';
import { cpuSpecDefaults } from '../../src/config/checks.js';
import { EDGE_ROOT, ETC_ROOT, PROC_ROOT, runOnFixture } from '../fixtures/paths.js';

async function evaluate(spec: string, excludePids: number[] = []): Promise<CheckResult> {
  const [result] = await runOnFixture([new CountCheck(parseSpec(spec))], { excludePids: new Set(excludePids) });
  assert.ok(result !== undefined);
  return result;
}

/** The pids a spec counts, ascending; the check must also report no unknowns. */
async function pids(spec: string): Promise<number[]> {
  const result = await evaluate(spec);
  assert.equal(result.data.unknown, 0, `${spec}: nothing in the fixture is unreadable`);
  assert.equal(result.data.count, result.processes.length);
  return result.processes.map((p) => p.pid).sort((a, b) => a - b);
}

test('names as ps.monitor gives them: interpreters by their script, comm after its last "/", cut at a space', async () => {
  const names = new Map(takeSnapshot(new ProcReader(PROC_ROOT)).processes.map((p) => [p.pid, processName(p, new Set(PS_MONITOR_INTERPRETERS))]));
  assert.equal(names.get(300), 'foo', 'python3 /usr/bin/foo');
  assert.equal(names.get(301), '-w', 'perl -w x: ps.monitor takes the second word, even an option');
  assert.equal(names.get(3), '0:1', 'kworker/0:1');
  assert.equal(names.get(710), 'tmux:', 'tmux: server');
  assert.equal(names.get(302), 'a)', 'a) b (c');
  assert.equal(names.get(800), 'sh', 'a zombie keeps its comm');
  assert.equal(names.get(600), 'rc.local');
});

test('name counting on the fixture, including interpreter naming', async () => {
  assert.deepEqual(await pids('sshd'), [100, 101]);
  assert.deepEqual(await pids('master'), [200, 201]);
  assert.deepEqual(await pids('foo'), [300]);
  assert.deepEqual(await pids('python3:0'), [], 'an interpreter is never counted under its own name');
  assert.deepEqual(await pids('-w'), [301]);
  assert.deepEqual(await pids('perl:0'), []);
  assert.deepEqual(await pids('name=0:1:1'), [3]);
  assert.deepEqual(await pids('kworker:0'), []);
  assert.deepEqual(await pids('comm=kworker/*'), [3], 'comm= sees the full kernel name');
  assert.deepEqual(await pids('name="tmux:"'), [710], 'a name ending in ":" is quoted (unquoted, "tmux:" lost its range)');
  assert.deepEqual(await pids('a)'), [302]);
});

test('exe tells Postfix\'s master from another program called master', async () => {
  assert.deepEqual(await pids('exe=/usr/lib/postfix/sbin/master:1-1'), [200]);
  assert.deepEqual(await pids('exe=/opt/acme/bin/master'), [201]);
  assert.deepEqual(await pids('master,exe!=/usr/lib/postfix/sbin/master'), [201]);
  assert.deepEqual(await pids('exe=/usr/sbin/cron'), [400], 'a binary upgraded under the process still matches its path');
  assert.deepEqual(await pids('exe=/usr/sbin/*'), [100, 101, 202, 400, 700]);
  const postfix = await evaluate('exe=/usr/lib/postfix/sbin/master:1-1');
  assert.equal(postfix.status, 'ok');
  assert.deepEqual(postfix.details, [], 'kernel threads and zombies have no exe: that is empty, not "could not be read"');
});

test('user (effective) and ruser (real), by name and by number', async () => {
  const root = [1, 2, 3, 100, 102, 200, 301, 400, 401, 404, 405, 406, 600, 700, 800];
  assert.deepEqual(await pids('user=root'), root);
  assert.deepEqual(await pids('user=0'), root);
  assert.deepEqual(await pids('user=alice'), [101, 202, 302, 500, 701, 710]);
  assert.deepEqual(await pids('ruser=alice'), [101, 102, 202, 302, 500, 701, 710], 'su runs as root for real user alice');
  assert.deepEqual(await pids('ruser=1000'), [101, 102, 202, 302, 500, 701, 710]);
  assert.deepEqual(await pids('user=nobody'), [201, 300]);
  assert.deepEqual(await pids('sshd,user=root:1-'), [100]);
  assert.deepEqual(await pids('sshd,user!=root'), [101]);
  assert.deepEqual(await pids('user~^(bob|boinc)$'), [402, 403], '~ matches the user name');
});

test('an unknown user name is bad input, not zero matches', async () => {
  await assert.rejects(evaluate('user=nosuchuser'), (err: unknown) => err instanceof InputError && err.message === "unknown user 'nosuchuser'");
  await assert.rejects(evaluate('group=nosuchgroup'), (err: unknown) => err instanceof InputError && err.message === "unknown group 'nosuchgroup'");
});

test('group (effective) and rgroup (real)', async () => {
  assert.deepEqual(await pids('group=postdrop'), [202], 'postdrop is setgid postdrop');
  assert.deepEqual(await pids('rgroup=postdrop:0'), []);
  assert.deepEqual(await pids('rgroup=alice'), [101, 102, 202, 302, 701, 710]);
  assert.deepEqual(await pids('group=1000'), [101, 102, 302, 701, 710]);
});

test('anygid=0,anyuid!=0 finds exactly the process with GID 0 but UID 1000', async () => {
  assert.deepEqual(await pids('anygid=0,anyuid!=0:0'), [500]);
  const builtin = await evaluate('@gid0-not-uid0');
  assert.equal(builtin.status, 'critical');
  assert.equal(builtin.data.count, 1);
  assert.deepEqual(builtin.processes, [{ pid: 500, ppid: 1, name: 'badgid', user: 'alice', args: '/usr/local/bin/badgid' }]);
  assert.equal(builtin.summary, '@gid0-not-uid0:1');
  assert.deepEqual(builtin.details, ['@gid0-not-uid0:1 > 0 (0-0)']);
  const clean = await evaluate('@gid0-not-uid0', [500]);
  assert.equal(clean.status, 'ok');
  assert.equal(clean.data.count, 0);
});

test('domain and label: two processes in init_t break @single-domain=init_t', async () => {
  assert.deepEqual(await pids('domain=init_t'), [1, 600], 'pid 600 is labelled through attr/selinux/current');
  assert.deepEqual(await pids('label=*:init_t:*'), [1, 600]);
  assert.deepEqual(await pids('label=system_u:system_r:init_t:s0'), [1, 600]);
  assert.deepEqual(await pids('domain=sshd_t'), [100], 'an MLS label');
  assert.deepEqual(await pids('domain=/usr/sbin/cupsd'), [700], 'an AppArmor profile without " (enforce)"');
  assert.deepEqual(await pids('label~unconfined_t'), [101, 102, 302, 403, 710]);
  const single = await evaluate('@single-domain=init_t');
  assert.equal(single.status, 'critical');
  assert.equal(single.data.count, 2);
  assert.deepEqual(single.details, ['@single-domain=init_t:2 > 1 (2-1)'], 'ps.monitor prints 0-1 with two running this way');
  assert.equal((await evaluate('label=system_u:system_r:init_t:s0:0-1')).status, 'critical');
  assert.equal((await evaluate('@single-domain=init_t', [600])).status, 'ok');
});

test('args regex, parent name, ppid, state', async () => {
  assert.deepEqual(await pids('args~-D \\[listener\\]'), [100]);
  assert.deepEqual(await pids('args~^/usr/lib/postfix/'), [200]);
  assert.deepEqual(await pids('args~"--port 9090$"'), [300]);
  assert.deepEqual(await pids('args!~^/,user=alice'), [101, 302, 701, 710], 'negated regex');
  assert.deepEqual(await pids('parent=cron'), [401, 800]);
  assert.deepEqual(await pids('parent=master'), [203]);
  assert.deepEqual(await pids('parent=sshd'), [101, 701]);
  assert.deepEqual(await pids('parent=bash'), [102, 202, 302, 403]);
  assert.deepEqual(await pids('parent!=systemd,parent!=kthreadd,user=root'), [1, 2, 102, 401, 800], 'pid 1 and 2 have no parent, so not systemd');
  assert.deepEqual(await pids('ppid=100'), [101]);
  assert.deepEqual(await pids('state=Z:0'), [800]);
});

test('counts against ranges: ok, critical below and above, warning, exclusion', async () => {
  assert.equal((await evaluate('sshd:1-')).status, 'ok');
  assert.equal((await evaluate('sshd:2')).status, 'ok');
  const low = await evaluate('tor:1-1');
  assert.equal(low.status, 'critical');
  assert.equal(low.summary, 'tor:0');
  assert.deepEqual(low.details, ['tor:0 < 1 (1-1)']);
  const high = await evaluate('master:1-1');
  assert.equal(high.status, 'critical');
  assert.deepEqual(high.details, ['master:2 > 1 (1-1)']);
  const warn = await evaluate('sshd:1-/3-');
  assert.equal(warn.status, 'warning');
  assert.deepEqual(warn.details, ['sshd:2 < 3 (3-2) warning']);
  const none = await evaluate('sshd:1-', [100, 101]);
  assert.deepEqual(none.details, ['sshd:0 < 1 (1-0)'], 'ps.monitor prints a missing maximum as the count');
  const upper = await evaluate('master:-1');
  assert.deepEqual(upper.details, ['master:2 > 1 (2-1)'], 'and a missing minimum as the count');
});

test('a listed process carries pid, parent, name, user and command line', async () => {
  const result = await evaluate('master:1-1');
  assert.deepEqual(result.processes, [
    { pid: 200, ppid: 1, name: 'master', user: 'root', args: '/usr/lib/postfix/sbin/master -w' },
    { pid: 201, ppid: 1, name: 'master', user: 'nobody', args: '/opt/acme/bin/master --foreground' },
  ]);
  const kthread = await evaluate('comm=kworker/*');
  assert.deepEqual(kthread.processes, [{ pid: 3, ppid: 2, name: '0:1', user: 'root', args: '[kworker/0:1]' }]);
});

test('rechecks: a check still failing after the delay says so', async () => {
  const seen: Array<[string[], number]> = [];
  const results = await runOnFixture([new CountCheck(parseSpec('tor:1-1')), new CountCheck(parseSpec('sshd:1-'))], {
    recheckDelaySeconds: 0.02,
    recheckTimes: 2,
    onRecheck: (failing, attempt) => seen.push([failing, attempt]),
  });
  assert.deepEqual(seen, [[['tor'], 1], [['tor'], 2]]);
  assert.equal(results[0]?.attempts, 3);
  assert.equal(results[1]?.attempts, 1, 'a passing check is evaluated once');
});

test('label checks where no LSM is active say so, instead of blaming vanished processes', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const root = mkdtempSync(join(tmpdir(), 'pw-nolsm-'));
  try {
    for (const pid of [1, 2]) {
      mkdirSync(join(root, String(pid)));
      writeFileSync(join(root, String(pid), 'stat'), `${pid} (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1000 100 0`);
    }
    const [result] = await runOnFixture([new CountCheck(parseSpec('domain=init_t:0-1'))], { procRoot: root });
    assert.equal(result!.status, 'unknown');
    assert.deepEqual(result!.details, ['domain=init_t: no process has a readable security label: is an LSM (SELinux, AppArmor, Smack) enabled?']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ─────────── proc-edge: processes caught half-read, and a container's pid 2 ───────────

async function onEdge(spec: string): Promise<CheckResult> {
  const [result] = await runOnFixture([new CountCheck(parseSpec(spec))], { procRoot: EDGE_ROOT });
  assert.ok(result !== undefined);
  return result;
}

test('unreadable processes make the verdict unknown only when they could change it', async () => {
  // exe=*/x: pid 12's exe is readable (count 1); pid 11's and the vanished pid 10's are not.
  const fine = await onEdge('exe=*/x:1-');
  assert.equal(fine.status, 'ok', 'counts 1..3 are all in 1-');
  assert.deepEqual([fine.data.count, fine.data.unknown], [1, 2]);
  assert.deepEqual(fine.details, ['exe=*/x: 2 process(es) could not be read (vanished or hidden) and were not counted']);

  const exact = await onEdge('exe=*/x:1-1');
  assert.equal(exact.status, 'unknown', 'a count of 2 or 3 would be critical');
  assert.equal(exact.summary, 'exe=*/x:unknown');
  assert.deepEqual(exact.details, ['exe=*/x: 2 process(es) could not be read (vanished or hidden): the count is between 1 and 3, which changes the verdict']);

  // As a plugin run by user nagios sees root's daemons: nothing readable matches.
  const none = await onEdge('exe=/usr/sbin/sshd:1-');
  assert.equal(none.status, 'unknown', 'not CRITICAL: an unreadable process may be sshd');
  assert.equal((await onEdge('exe=/usr/sbin/sshd:0')).status, 'unknown', 'an exclusion check cannot pass either');

  const narrowed = await onEdge('comm=x,exe=*/x:2-2');
  assert.deepEqual([narrowed.status, narrowed.data.count, narrowed.data.unknown], ['unknown', 1, 1], 'comm rules the vanished pid 10 out');
  assert.equal((await onEdge('comm=x,exe=*/x:1-/1-1')).status, 'unknown', 'a warning range that the unreadable could break counts too');
  assert.equal((await onEdge('comm=x,exe=*/x:3-')).status, 'critical', 'at most 2 can match: critical whatever the unreadable one is');
});

test('a process that vanished after its stat was read: named from stat, unknown for the rest', async () => {
  const reader = new ProcReader(EDGE_ROOT);
  assert.notEqual(reader.stat(10), null);
  assert.equal(reader.status(10), null);
  assert.equal(reader.argv(10), null);
  const gone = await onEdge('gone:1-1');
  assert.equal(gone.status, 'ok', 'the name comes from stat alone');
  assert.deepEqual(gone.processes, [{ pid: 10, ppid: 1, name: 'gone', user: null, args: null }], 'user and command line unknown, not made up');
  assert.equal(gone.data.unknown, 0);
  const asRoot = await onEdge('gone,user=root:1-1');
  assert.deepEqual([asRoot.status, asRoot.data.count, asRoot.data.unknown], ['unknown', 0, 1], 'its user cannot be read: neither counted nor excluded');
  const args = await onEdge('args~^/usr/bin/gone:0');
  assert.equal(args.status, 'unknown');
});

test('a process that exits between the snapshot and the read is not running: neither counted nor unknown', async () => {
  // A copy of the edge tree where a process whose exe cannot be read has exited by then (its /proc
  // entry is gone), as on a busy host where something always exits mid-scan.
  const root = mkdtempSync(join(tmpdir(), 'pw-vanish-'));
  try {
    cpSync(EDGE_ROOT, root, { recursive: true });
    class ExitingReader extends ProcReader {
      override exe(pid: number): string | null {
        const exe = super.exe(pid);
        if (exe === null && pid === 11) rmSync(join(root, '11'), { recursive: true, force: true });
        return exe;
      }
    }
    const reader = new ExitingReader(root);
    const check = new CountCheck(parseSpec('exe=*/x:1-1'));
    const snapshot = takeSnapshot(reader);
    const round = { reader, users: new UserDb(ETC_ROOT), interpreters: new Set<string>(), snapshot: () => snapshot, freshSnapshot: () => snapshot };
    check.prepare(round);
    const result = await check.evaluate(round);
    // Pid 10's exe is unreadable but it is still listed (stat readable): still unknown. Pid 11 left.
    assert.deepEqual([result.data.count, result.data.unknown], [1, 1]);
    assert.equal(result.status, 'unknown', 'pid 10 could still make it 2');
    // Pid 10 reused by another process (a later start time) after a snapshot that saw the first one.
    const before = takeSnapshot(new ProcReader(EDGE_ROOT));
    const stat10 = join(root, '10', 'stat');
    writeFileSync(stat10, readFileSync(stat10, 'utf8').replace(/^(\d+ \(.*\)(?: \S+){19}) (\d+)/, (_m, head: string, start: string) => `${head} ${Number(start) + 1}`));
    const second = new CountCheck(parseSpec('exe=*/x:1-1'));
    const round2 = { ...round, reader: new ProcReader(root), snapshot: () => ({ ...before, reader: new ProcReader(root) }) };
    second.prepare(round2);
    const after = await second.evaluate(round2);
    assert.deepEqual([after.status, after.data.count, after.data.unknown], ['ok', 1, 0], JSON.stringify(after.details));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('kernel threads are told by the PF_KTHREAD flag, not by being pid 2 or its child', async () => {
  const snapshot = takeSnapshot(new ProcReader(EDGE_ROOT));
  const kernel = snapshot.processes.filter((p) => p.isKernelThread).map((p) => p.pid);
  assert.deepEqual(kernel, [4], 'in a container pid 2 and its child are ordinary processes');
  const basic = takeSnapshot(new ProcReader(PROC_ROOT));
  assert.deepEqual(basic.processes.filter((p) => p.isKernelThread).map((p) => p.pid), [2, 3]);
  // exe= of a kernel thread is empty, not unknown; an ordinary process without exe is unknown.
  const kthread = await onEdge('comm=kswapd0,exe!=/*:1-1');
  assert.deepEqual([kthread.status, kthread.data.unknown], ['ok', 0]);
});

/** A check that records whether it was evaluated. */
function spy(): Check & { evaluated: boolean } {
  return {
    id: 'spy', kind: 'count', evaluated: false,
    prepare() {},
    async evaluate() { this.evaluated = true; return { id: 'spy', kind: 'count', status: 'ok', summary: '', details: [], perf: [], processes: [], attempts: 1, data: {} }; },
  };
}

test('every check is prepared before any is evaluated: an unknown user fails before /proc is read or a port probed', async () => {
  for (const bad of [
    new CountCheck(parseSpec('user=nosuchuser')),
    new ListenCheck(parseListenSpec('8080@group=nosuchgroup')), // 8080 is closed: the owner would never be looked at
    new CpuCheck({ ...cpuSpecDefaults(), exemptUsers: ['nosuchuser'] }),
  ]) {
    const first = spy();
    await assert.rejects(runOnFixture([first, bad]), (err: unknown) => err instanceof InputError && /^unknown (user|group) 'nosuch(user|group)'/.test(err.message), bad.id);
    assert.equal(first.evaluated, false, `${bad.id}: nothing was evaluated`);
  }
  await assert.rejects(runOnFixture([new CountCheck(parseSpec('sshd'))], { recheckDelaySeconds: 1e9, recheckTimes: 1 }),
    (err: unknown) => err instanceof InputError && /re-check delay/.test(err.message));
});
