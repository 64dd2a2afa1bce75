/** The console's pure logic, without a browser: text made visible, the tree model, the timeline's filters and model. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseFrames } from '../../web/src/api.js';
import { commandLine, visible } from '../../web/src/text.js';
import { TreeModel } from '../../web/src/tree-model.js';
import { globRegExp, NO_FILTERS, pageFilter, TimelineModel } from '../../web/src/timeline-model.js';
import type { ApiEvent, ProcessRow } from '../../web/src/types.js';

test('visible: control characters, bidi overrides and backslashes are shown, markup is left as the text it is', () => {
  assert.equal(visible('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>');
  assert.equal(visible('\x1b[31mred\x1b[0m'), '\\e[31mred\\e[0m');
  assert.equal(visible('a\nb\tc\rd\x00'), 'a\\nb\\tc\\x0dd\\x00');
  assert.equal(visible('evil\u202egnp.exe'), 'evil\\u202egnp.exe');
  assert.equal(visible('C:\\path'), 'C:\\\\path');
  assert.equal(visible('\x9b2J'), '\\x9b2J');
  assert.equal(visible(null), '');
  assert.equal(commandLine(['sh', '-c', 'echo\nhi']), 'sh -c echo\\nhi');
  assert.equal(commandLine(null, 'kworker/0:1'), '[kworker/0:1]');
});

const row = (pid: number, parent: number | null, comm: string, argv: string[] = [comm]): ProcessRow => ({
  key: `${pid}:1`, pid, ppid: parent, parentKey: parent === null ? null : `${parent}:1`, comm, exe: `/usr/bin/${comm}`, argv, user: 'root', euid: 0,
  startTime: null, origin: 'seeded', threads: 1, cpuPct: null, rssBytes: null, memPct: null,
});

test('tree model: tree order by pid, collapse, search keeps ancestors, removal, a parent cycle cannot loop', () => {
  const m = new TreeModel();
  m.upsert([row(1, null, 'init'), row(20, 1, 'sshd'), row(10, 1, 'cron'), row(21, 20, 'bash', ['bash', '-l']), row(30, 21, 'vim', ['vim', 'notes.txt'])]);
  const order = (search = ''): string[] => m.visible(search).map((v) => `${'.'.repeat(v.depth)}${v.row.comm}`);
  assert.deepEqual(order(), ['init', '.cron', '.sshd', '..bash', '...vim']);
  m.toggle('20:1');
  assert.deepEqual(order(), ['init', '.cron', '.sshd']);
  assert.deepEqual(order('notes'), ['init', '.sshd', '..bash', '...vim'], 'a search shows the match with its ancestors, collapsed or not');
  assert.deepEqual(m.visible('notes').filter((v) => v.match).map((v) => v.row.pid), [30]);
  m.toggle('20:1');
  m.remove(['21:1']);
  assert.deepEqual(order(), ['init', '.cron', '.sshd', 'vim'], 'an orphan is a root');
  // Bad data: two processes each the other's parent. Both are roots of nothing: shown once, no hang.
  const c = new TreeModel();
  c.upsert([{ ...row(5, 6, 'a'), parentKey: '6:1' }, { ...row(6, 5, 'b'), parentKey: '5:1' }, row(7, null, 'c')]);
  assert.deepEqual(c.visible('').map((v) => v.row.pid), [7]);
  assert.equal(c.visible('a').length, 0);
});

test('tree model: 10,000 processes flatten and search in well under a frame budget of work each', () => {
  const m = new TreeModel();
  const rows: ProcessRow[] = [row(1, null, 'init')];
  for (let pid = 2; pid <= 10_000; pid++) rows.push(row(pid, Math.max(1, Math.floor(pid / 3)), `p${pid}`, [`p${pid}`, `--arg=${pid}`]));
  m.upsert(rows);
  assert.equal(m.visible('').length, 10_000);
  assert.ok(m.visible('--arg=9999').some((v) => v.match && v.row.pid === 9999));
});

const ev = (over: Partial<ApiEvent>): ApiEvent => ({ seq: 1, time: '2026-12-04T10:00:00.000Z', kind: 'exec', pid: 1, tid: 1, key: '1:1', run: 1, bootId: 'b', ...over });

test('timeline model: every event kept once (a resumed stream repeats the last moment), lost events counted', () => {
  const m = new TimelineModel();
  assert.equal(m.add(ev({ seq: 1 })), true);
  assert.equal(m.add(ev({ seq: 1 })), false, 'the same boot, run and seq again');
  assert.equal(m.add(ev({ seq: 1, run: 2 })), true, 'another run');
  m.add(ev({ seq: 2, kind: 'lost', count: 35, reason: 'ring buffer full' }));
  m.add(ev({ seq: 3, kind: 'lost', count: null, reason: 'ENOBUFS' }));
  assert.deepEqual([m.received, m.events.length, m.lostMarkers, m.lostCount], [4, 4, 2, 35]);
});

test('timeline filters applied in the page: name and exe globs, user, subtree; lost events always pass', () => {
  assert.ok(globRegExp('ng*x').test('nginx'));
  assert.ok(globRegExp('/usr/*/p?thon[23]').test('/usr/bin/python3'));
  assert.ok(!globRegExp('a.b').test('axb'), 'a dot is a dot');
  assert.ok(globRegExp('[!a]b').test('xb') && !globRegExp('[!a]b').test('ab'));
  const proc = (pid: number, parent: number | null, comm: string, user = 'root') => ({
    key: `${pid}:1`,
    process: { key: `${pid}:1`, pid, ppid: parent, parentKey: parent === null ? null : `${parent}:1`, comm, exe: `/usr/bin/${comm}`, argv: [comm], user, uid: user === 'root' ? 0 : 1000 },
  });
  const byName = pageFilter({ ...NO_FILTERS, name: 'ssh*' }, new Set())!;
  assert.ok(byName(ev(proc(5, 1, 'sshd'))));
  assert.ok(!byName(ev(proc(6, 1, 'cron'))));
  assert.ok(byName(ev({ kind: 'lost', key: null, pid: 0 })));
  assert.ok(byName(ev({ details: { comm: 'ssh-agent' } })), 'a stored exec names its image in details');
  const byUser = pageFilter({ ...NO_FILTERS, user: 'alice' }, new Set())!;
  assert.ok(byUser(ev(proc(7, 1, 'x', 'alice'))) && !byUser(ev(proc(8, 1, 'x'))));
  assert.equal(pageFilter({ ...NO_FILTERS, user: 'alice' }, new Set(['user'])), null, 'what the server filters is not filtered twice');
  const subtree = pageFilter({ ...NO_FILTERS, subtree: '100' }, new Set())!;
  assert.ok(subtree(ev({ pid: 100, ...proc(100, 1, 'make') })));
  assert.ok(subtree(ev({ kind: 'fork', pid: 101, ...proc(101, 100, 'make') })), 'a child joins');
  assert.ok(subtree(ev({ pid: 102, ...proc(102, 101, 'cc') })), 'a grandchild too');
  assert.ok(!subtree(ev({ pid: 103, ...proc(103, 1, 'cron') })));
});

test('timeline model: beyond MAX_KEPT the oldest are trimmed in chunks, counted, never silently', () => {
  const m = new TimelineModel();
  for (let i = 0; i < 215_000; i++) m.add(ev({ seq: i }));
  assert.equal(m.received, 215_000);
  assert.equal(m.trimmed + m.events.length, 215_000);
  assert.ok(m.events.length >= 200_000 && m.events.length <= 210_000);
  assert.equal(m.events[0]!.seq, m.trimmed);
});

test('SSE frames: any event name, ids kept, heartbeats skipped, frames split anywhere across chunks', () => {
  const got: Array<[string, string | null]> = [];
  const frames = new SseFrames((data, id) => got.push([data, id]));
  const text = 'id: 41\nevent: exec\ndata: {"kind":"exec"}\n\n: heartbeat\n\nevent: some_new_kind\ndata: {"a":1}\n\ndata: line1\ndata: line2\n\nid: 42\r\nevent: lost\r\ndata: {"kind":"lost"}\r\n\r\n';
  // Every split point, one character at a time: a frame never depends on how the socket cut it.
  for (let cut = 0; cut <= text.length; cut++) {
    got.length = 0;
    frames.push(text.slice(0, cut));
    frames.push(text.slice(cut));
    assert.deepEqual(got, [['{"kind":"exec"}', '41'], ['{"a":1}', null], ['line1\nline2', null], ['{"kind":"lost"}', '42']], `cut at ${cut}`);
  }
});

test('timeline filters applied in the page: args is a regex over the command line (an exec by the one it ran)', () => {
  const f = pageFilter({ ...NO_FILTERS, args: ' -c read x$' }, new Set())!;
  assert.ok(f(ev({ kind: 'exec', details: { argv: ['/bin/sh', '-c', 'read x'] } })));
  assert.ok(!f(ev({ kind: 'exec', details: { argv: ['/bin/sh', '-c', 'read y'] } })));
  assert.ok(f(ev({ kind: 'lost' })), 'lost events always pass');
  assert.equal(pageFilter({ ...NO_FILTERS, args: 'x' }, new Set(['args'])), null, 'applied by the daemon: nothing left for the page');
});
