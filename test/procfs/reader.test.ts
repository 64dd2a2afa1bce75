/** ProcReader and takeSnapshot on the fake tree test/fixtures/proc-basic (see make-fixtures.mjs). */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcReader, ProcTreeError, UserDb, readDetails } from '../../src/procfs/index.js';
import { takeSnapshot } from '../../src/checks/index.js';
import { isKernelThread } from '../../src/procfs/index.js';
import { ETC_ROOT, PROC_ROOT } from '../fixtures/paths.js';

const reader = new ProcReader(PROC_ROOT);

const ALL_PIDS = [1, 2, 3, 100, 101, 102, 200, 201, 202, 203, 300, 301, 302, 400, 401, 402, 403, 404, 405, 406, 500, 600, 700, 701, 710, 800, 900];

test('listPids: numeric directories only, ascending; self, net, sys, uptime and 12abc are not pids', () => {
  assert.deepEqual(reader.listPids(), ALL_PIDS);
});

test('listPids: an unreadable root is a ProcTreeError that names it and says why', () => {
  assert.throws(() => new ProcReader('/nonexistent/proc').listPids(), (err: unknown) =>
    err instanceof ProcTreeError && err.name === 'ProcTreeError' && err.message === 'cannot read /proc tree /nonexistent/proc: no such file or directory (ENOENT)');
  assert.throws(() => new ProcReader(`${PROC_ROOT}/uptime`).listPids(), (err: unknown) =>
    err instanceof ProcTreeError && err.message === `cannot read /proc tree ${PROC_ROOT}/uptime: not a directory (ENOTDIR)`);
});

test('a pid whose stat vanished mid-scan is skipped by takeSnapshot, without error', () => {
  assert.equal(reader.stat(900), null);
  assert.notEqual(reader.status(900), null, 'the fixture keeps its status: only stat is gone');
  const snapshot = takeSnapshot(reader);
  assert.equal(snapshot.byPid.has(900), false);
  assert.deepEqual(snapshot.processes.map((p) => p.pid), ALL_PIDS.filter((p) => p !== 900));
  assert.equal(snapshot.uptimeSeconds, 100000);
  assert.equal(readDetails(reader, 900), null, 'no details for a process without stat');
});

test('takeSnapshot leaves out excluded pids (procwatch itself)', () => {
  const snapshot = takeSnapshot(reader, { excludePids: new Set([100, 101]) });
  assert.equal(snapshot.byPid.has(100), false);
  assert.equal(snapshot.byPid.has(101), false);
  assert.equal(snapshot.processes.length, ALL_PIDS.length - 3);
});

test('stat from the tree: a name with ") (" and a zombie', () => {
  assert.equal(reader.stat(302)?.comm, 'a) b (c');
  assert.equal(reader.stat(302)?.ppid, 701);
  assert.equal(reader.stat(800)?.state, 'Z');
  assert.equal(reader.stat(710)?.comm, 'tmux: server');
  assert.equal(reader.stat(1)?.startTicks, 100);
});

test('exe: the link target, without the " (deleted)" of an upgraded binary; null without a link', () => {
  assert.equal(reader.exe(200), '/usr/lib/postfix/sbin/master');
  assert.equal(reader.exe(400), '/usr/sbin/cron', 'cron\'s binary was replaced under it');
  assert.equal(reader.exe(302), '/home/alice/a) b (c');
  assert.equal(reader.exe(2), null, 'kernel thread');
  assert.equal(reader.exe(800), null, 'zombie');
  assert.equal(reader.exe(4242), null, 'no such process');
});

test('argv: arguments for a process, empty for kernel threads and zombies, null when gone', () => {
  assert.deepEqual(reader.argv(300), ['python3', '/usr/bin/foo', '--port', '9090']);
  assert.deepEqual(reader.argv(100), ['sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups']);
  assert.deepEqual(reader.argv(3), []);
  assert.deepEqual(reader.argv(800), []);
  assert.equal(reader.argv(4242), null);
});

test('status: the id quads, including setuid and setgid processes', () => {
  assert.deepEqual(reader.status(102)?.uids, [1000, 0, 0, 0]);
  assert.deepEqual(reader.status(202)?.gids, [1000, 108, 108, 108]);
  assert.deepEqual(reader.status(101)?.groups, [10, 1000]);
  assert.equal(reader.status(4242), null);
});

test('label: from attr/current, from attr/selinux/current (stacked LSMs), AppArmor, none', () => {
  assert.equal(reader.label(1), 'system_u:system_r:init_t:s0', 'the NUL SELinux appends is gone');
  assert.equal(reader.label(100), 'system_u:system_r:sshd_t:s0-s0:c0.c1023');
  assert.equal(reader.label(600), 'system_u:system_r:init_t:s0', 'only attr/selinux/current exists for pid 600');
  assert.equal(reader.label(700), '/usr/sbin/cupsd (enforce)');
  assert.equal(reader.label(701), 'unconfined');
  assert.equal(reader.label(900), null, 'no attr files at all');
});

test('socketInodes: only socket:[N] fd links count; no fd directory is no sockets', () => {
  assert.deepEqual(reader.socketInodes(100).sort((a, b) => a - b), [1001, 1002]);
  assert.deepEqual(reader.socketInodes(200).sort((a, b) => a - b), [2001, 3333], '/dev/null on fd 0 is not a socket');
  assert.deepEqual(reader.socketInodes(101), [1010], 'a pipe is not a socket');
  assert.deepEqual(reader.socketInodes(1), []);
  assert.deepEqual(reader.socketInodes(4242), []);
});

test('cgroup (v2 line), uptime and files under the root', () => {
  assert.equal(reader.cgroup(100), '/system.slice/ssh.service');
  assert.equal(reader.cgroup(2), null);
  assert.equal(reader.uptimeSeconds(), 100000);
  assert.match(reader.file('net/tcp') ?? '', /^ +sl +local_address/);
  assert.equal(reader.file('net/raw'), null);
  assert.equal(new ProcReader('/nonexistent/proc').uptimeSeconds(), null);
  assert.equal(takeSnapshot(new ProcReader(`${PROC_ROOT}/1`)).uptimeSeconds, null, 'a tree without uptime: null, never 0');
});

test('stat flags: PF_KTHREAD on kthreadd and the kworker only', () => {
  const kernel = reader.listPids().filter((pid) => { const s = reader.stat(pid); return s !== null && isKernelThread(s); });
  assert.deepEqual(kernel, [2, 3]);
  assert.equal(reader.stat(2)?.flags, 0x208040);
});

test('readDetails: one instance\'s image, ids, label and cgroup together', () => {
  const d = readDetails(reader, 100);
  assert.ok(d !== null);
  assert.equal(d.comm, 'sshd');
  assert.equal(d.exe, '/usr/sbin/sshd');
  assert.equal(d.ppid, 1);
  assert.equal(d.startTicks, 500);
  assert.deepEqual(d.uids, [0, 0, 0, 0]);
  assert.equal(d.label, 'system_u:system_r:sshd_t:s0-s0:c0.c1023');
  assert.equal(d.cgroup, '/system.slice/ssh.service');
});

test('UserDb: names from the fixture passwd/group; unknown ids print as numbers', () => {
  const users = new UserDb(ETC_ROOT);
  assert.equal(users.userName(1000), 'alice');
  assert.equal(users.userName(65534), 'nobody');
  assert.equal(users.userName(4321), '4321');
  assert.equal(users.groupName(108), 'postdrop');
  assert.equal(users.group.byName.get('wheel'), 10);
  const none = new UserDb('/nonexistent/etc');
  assert.equal(none.userName(0), '0', 'no passwd: ids stay numbers, no error');
});
