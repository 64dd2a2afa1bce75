import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessTable } from '../../src/table/index.js';
import { SharedValues, shared } from '../../src/table/record.js';
import { exec, fork, uid } from './events.js';

test('processes with the same image hold one copy of each value, and the values are right', () => {
  const table = new ProcessTable({ startTicksOf: () => null });
  const image = (pid: number) => exec(pid, pid, {
    startTicks: 1000 + pid, comm: 'worker-process', exe: '/usr/sbin/php-fpm8.2', cwd: '/var/www/site',
    argv: ['php-fpm: pool www', '--nodaemonize'], uids: [33, 33, 33, 33], gids: [33, 33, 33, 33], cgroup: '/system.slice/php-fpm.service',
  });
  table.apply([image(100), image(101), exec(102, 102, { startTicks: 1102, argv: ['php-fpm: pool www', '--other'], uids: [1000, 0, 0, 0] })]);
  const [a, b, c] = [table.get('100:1100')!, table.get('101:1101')!, table.get('102:1102')!];
  for (const field of ['comm', 'exe', 'cwd', 'cgroup', 'argv', 'uids', 'gids'] as const) assert.equal(a[field], b[field], `${field} is shared`);
  assert.deepEqual(a.argv, ['php-fpm: pool www', '--nodaemonize']);
  assert.deepEqual(a.uids, [33, 33, 33, 33]);
  assert.deepEqual(c.argv, ['php-fpm: pool www', '--other'], 'another command line is not confused with it');
  assert.deepEqual(c.uids, [1000, 0, 0, 0]);
  assert.ok(Object.isFrozen(a.argv) && Object.isFrozen(a.uids), 'shared arrays cannot be changed under another process');
  assert.throws(() => (a.argv as string[]).push('x'), TypeError);
});

test('a uid change gives the process its own ids and leaves the others alone', () => {
  const table = new ProcessTable({ startTicksOf: (pid) => pid * 10 });
  table.apply([exec(10, 1, { startTicks: 100, uids: [0, 0, 0, 0] }), exec(11, 2, { startTicks: 110, uids: [0, 0, 0, 0] }), uid(11, 3, 65534)]);
  assert.deepEqual(table.get('10:100')!.uids, [0, 0, 0, 0]);
  assert.deepEqual(table.get('11:110')!.uids, [65534, 65534, 0, 0], 'ruid and euid changed, saved and fs ids kept');
  table.apply([uid(10, 4, 65534)]);
  assert.equal(table.get('10:100')!.uids, table.get('11:110')!.uids, 'equal quads are shared again');
});

test('a fork child runs its parent image until it execs: the same shared values', () => {
  const table = new ProcessTable({ startTicksOf: (pid) => pid * 10 });
  table.apply([exec(20, 1, { startTicks: 200, argv: ['bash'] }), fork(21, 20, 2)]);
  const [parent, child] = [table.get('20:200')!, table.get('21:210')!];
  assert.equal(child.argv, parent.argv);
  assert.equal(child.inheritedImage, true);
});

test('the pools are bounded and stay right when they start over', () => {
  const pool = new SharedValues();
  const first = pool.string('/usr/lib/postgresql/16/bin/postgres');
  for (let i = 0; i < 10_000; i++) assert.equal(pool.string(`/opt/app-${i}/bin/server`), `/opt/app-${i}/bin/server`);
  const again = pool.string('/usr/lib/postgresql/16/bin/postgres');
  assert.equal(again, first, 'the same value, whether or not still pooled');
  for (let i = 0; i < 10_000; i++) assert.deepEqual(pool.argv([`prog-${i}`, 'x']), [`prog-${i}`, 'x']);
  for (let i = 0; i < 10_000; i++) assert.deepEqual(pool.ids([i, i + 1, i, i]), [i, i + 1, i, i]);
});

test('command lines that differ only in where the arguments split are not shared', () => {
  const pool = new SharedValues();
  assert.deepEqual(pool.argv(['ab']), ['ab']);
  assert.deepEqual(pool.argv(['a', 'b']), ['a', 'b']);
  assert.deepEqual(pool.argv(['a', 'b', '']), ['a', 'b', '']);
  const long = ['java', '-cp', 'x'.repeat(5000)];
  assert.equal(pool.argv(long), long, 'a very long command line is kept as it is');
  assert.equal(Object.isFrozen(long), false);
});

test('a name cut out of a longer text is kept as an equal string of its own', () => {
  const stat = `4242 (${'kworker/u8:3-events_unbound'}) I 2 0 0 0 -1 69238880 ${'0 '.repeat(200)}`;
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const kept = shared.string(comm);
  assert.equal(kept, 'kworker/u8:3-events_unbound');
  assert.equal(shared.string(null), null);
  assert.equal(shared.argv(null), null);
  assert.equal(shared.ids(null), null);
});
