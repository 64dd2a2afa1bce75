/**
 * Escaping of what processes control (issue 14, item 1): the one function every text renderer
 * uses, and each renderer fed a hostile name. Each assertion would fail if a raw control
 * character reached the output again.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountCheck, parseSpec, type CheckResult } from '../../src/checks/index.js';
import type { ProcEvent } from '../../src/events/types.js';
import { UserDb } from '../../src/procfs/index.js';
import {
  apiEventLine, commandLine, escapeText, eventJson, eventLine, fitLine, nagiosUnknown, renderMon, renderNagios, shellWord,
} from '../../src/report/index.js';
import { renderHistory, renderLineage, renderPs, renderTree, PS_FIELDS, type ProcessLike, type TreeNode } from '../../src/report/processes.js';
import { renderStats } from '../../src/report/stats.js';
import { newRecord } from '../../src/table/record.js';
import { ETC_ROOT } from '../fixtures/paths.js';

const users = new UserDb(ETC_ROOT);

/** The forged row of the issue: a newline, then what looks like a line of `watch`. */
const FORGED = 'legit\n12:34:56.789 exec 1 0 root /usr/sbin/sshd -D';
/** Clears the screen, sets the title, writes the clipboard (OSC 52), CSI in its 8-bit form, a bidi override. */
const HOSTILE = ['\x1b[2J\x1b[H', '\x1b]0;pwned\x07', '\x1b]52;c;cm0gLXJmIH4K\x07', '\u009b31m', 'abc\u202edcba', 'a\rb', 'x\u2028y', 'tab\there', '\x7f', '\0'];

/** No character a terminal acts on (C0, DEL, C1) nor a line or bidi control: the property every line must have. */
function assertInert(text: string, what: string): void {
  const lines = text.split('\n');
  for (const line of lines) {
    const bad = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.exec(line.replace(/\x1b\[[0-9;]*m/g, ''));
    assert.equal(bad, null, `${what}: raw ${JSON.stringify(bad?.[0])} in ${JSON.stringify(line)}`);
  }
}

test('escapeText: controls as C escapes, invisible formatting as \\u, everything else untouched; idempotent', () => {
  assert.equal(escapeText(FORGED), 'legit\\n12:34:56.789 exec 1 0 root /usr/sbin/sshd -D');
  assert.equal(escapeText('\x1b]52;c;Zm9v\x07'), '\\e]52;c;Zm9v\\x07');
  assert.equal(escapeText('a\tb\rc\0d\x7fe'), 'a\\tb\\rc\\x00d\\x7fe');
  assert.equal(escapeText('\u009b2J'), '\\u009b2J', 'an 8-bit CSI');
  assert.equal(escapeText('abc\u202edcba\u2066'), 'abc\\u202edcba\\u2066', 'bidi override and isolate');
  assert.equal(escapeText('zero\u200bwidth\ufeff'), 'zero\\u200bwidth\\ufeff');
  assert.equal(escapeText('naïve 日本 /usr/bin/ß C:\\dir'), 'naïve 日本 /usr/bin/ß C:\\dir', 'printable text, even a backslash, unchanged');
  for (const s of [FORGED, ...HOSTILE]) assert.equal(escapeText(escapeText(s)), escapeText(s), `idempotent for ${JSON.stringify(s)}`);
});

test('command lines: words quoted as printf %q does, so one argument stays visibly one', () => {
  assert.equal(commandLine(['sleep', '60']), 'sleep 60');
  assert.equal(commandLine(['sh', '-c', 'sleep 1; exit 3']), "sh -c 'sleep 1; exit 3'");
  assert.equal(commandLine(['printf', '']), "printf ''", 'an empty word is visible');
  assert.equal(commandLine(['echo', "it's"]), "echo 'it'\\''s'");
  assert.equal(commandLine(['find', '/', '-name', '*.log']), "find / -name '*.log'");
  assert.equal(commandLine([FORGED, '60']), "$'legit\\n12:34:56.789 exec 1 0 root /usr/sbin/sshd -D' 60");
  assert.equal(shellWord('a\\b\x1b'), "$'a\\\\b\\e'", 'ANSI-C quoting escapes backslash and quote');
  assert.equal(shellWord('no\u00a0break'), "'no\u00a0break'", 'a no-break space is whitespace: quoted');
  assert.equal(shellWord('--opt=/usr/lib/x,y:z@1+2%'), '--opt=/usr/lib/x,y:z@1+2%');
});

/** A process whose every string is hostile. */
function hostileProcess(text: string): ProcessLike {
  return {
    key: '4242:100', pid: 4242, ppid: 1, parentKey: '1:1', startTicks: 100, startTime: '2026-11-23T12:00:00.000Z', exitTime: '2026-11-23T12:00:02.500Z',
    comm: text.slice(0, 15), exe: `/tmp/${text}`, filename: `/tmp/${text}`, argv: [text, '60'], cwd: `/tmp/${text}`, uid: 0, euid: 0, gid: 0, egid: 0, label: text, cgroup: `/${text}`,
    exitCode: null, exitSignal: 11, coreDumped: true, origin: 'observed', exitOrigin: 'observed', user: `u${text}`, threads: 0, live: false,
    unit: `${text}.service`, container: text, containerRuntime: 'docker', usage: null,
  };
}

test('every text renderer escapes every process-controlled string; JSON keeps them exact', () => {
  for (const text of [FORGED, ...HOSTILE]) {
    const p = hostileProcess(text);
    assertInert(renderPs([p], PS_FIELDS), 'ps, every field');
    const tree: TreeNode = { ...p, children: [{ ...p, pid: 4243, key: '4243:101', children: [] }] };
    assertInert(renderTree([tree]), 'tree');
    assertInert(renderHistory([p]), 'history');
    assertInert(renderLineage({ process: p, ancestors: [p], descendants: [{ ...p, depth: 1 }], truncated: false }), 'lineage');

    const record = { ...newRecord(4242, 100, '4242:100', 'observed'), ppid: 1, comm: text, argv: [text], uids: [0, 0, 0, 0] as const, gids: [0, 0, 0, 0] as const };
    const base = { seq: 1, ktimeNs: 5e9, pid: 4242, tid: 4242, cpu: 0, provenance: 'observed' as const, key: '4242:100' };
    const details = { comm: text, exe: `/tmp/${text}`, argv: [text], argvTruncated: false, cwd: '/', ppid: 1, uids: null, gids: null, startTicks: 100, label: null, cgroup: null };
    const events: ProcEvent[] = [
      { ...base, kind: 'exec', details },
      { ...base, kind: 'fork', parentPid: 1, parentTid: 1, thread: false },
      { ...base, kind: 'exit', status: { code: 0, signal: null, coreDumped: false }, rawCode: 0, parentPid: 1, comm: text },
      { ...base, kind: 'comm', comm: text },
      { ...base, kind: 'lost', count: null, reason: text },
      { ...base, kind: 'open', path: text, pathTruncated: false, dirFd: null, flags: 0, flagNames: ['O_RDONLY'], mode: 0, result: 3, error: null, uid: 0, cgroupId: 1 },
    ];
    for (const event of events) {
      const view = { event, record, wallMs: Date.UTC(2026, 10, 23, 12) };
      assertInert(eventLine(view, users), `watch ${event.kind}`);
      // `events` renders the API's object: the same fields, and the stored process.
      const api = { ...eventJson(view, users), process: { ...p, uid: 0 } };
      assertInert(apiEventLine(api, users, { time: { utc: true }, style: { color: false, width: null }, dated: true }), `events ${event.kind}`);
      const json = JSON.parse(JSON.stringify(eventJson(view, users))) as { process: { comm: string } };
      assert.equal(json.process.comm, text, 'JSON keeps the exact string');
    }
  }
});

test('check output: a hostile script name cannot add a line to mon or Nagios output, nor forge a status line', async () => {
  // What a CPU check reports of a hog whose interpreter script is named "x\nPROCS OK: ...".
  const name = 'x\nPROCS OK: 1 check(s) ok | procs=1';
  const cpu: CheckResult = {
    id: 'cpu', kind: 'cpu', status: 'critical', summary: `${name}(4242):99%`, attempts: 1, processes: [], data: {},
    details: [`pid 4242 ${name} (user root) used 99.0% CPU over 5s, limit 80%`], perf: [{ label: name, value: 99, unit: '%', warn: '', crit: '80', min: 0, max: null }],
  };
  const nagios = renderNagios([cpu]).text;
  assert.equal(nagios.split('\n').filter((l) => l !== '').length, 2, `a status line and one detail line: ${JSON.stringify(nagios)}`);
  assert.match(nagios, /^PROCS CRITICAL: x\\nPROCS OK: 1 check\(s\) ok ¦ procs=1\(4242\):99% \| 'x\\nPROCS OK: 1 check\(s\) ok _ procs_1'=99%;;80;0\n/);
  assertInert(nagios, 'nagios');
  // nagios-plain (issue 14) drops the quotes around labels: its labels are escaped all the same.
  const plain = renderNagios([{ ...cpu, perf: cpu.perf.map((p) => ({ ...p, label: `${HOSTILE[0]!}${p.label}` })) }], { plain: true }).text;
  assert.equal(plain.split('\n').filter((l) => l !== '').length, 2, `nagios-plain: a status line and one detail line: ${JSON.stringify(plain)}`);
  assertInert(plain, 'nagios-plain');
  const mon = renderMon([cpu]).text;
  assert.equal(mon.split('\n').filter((l) => l !== '').length, 2, JSON.stringify(mon));
  assertInert(mon, 'mon');
  assertInert(nagiosUnknown(`bad spec '${HOSTILE[0]!}'`).text, 'nagios unknown');
  // And a real count check on the fixture tree still prints as before (nothing to escape).
  const { runOnFixture } = await import('../fixtures/paths.js');
  assert.equal(renderMon(await runOnFixture([new CountCheck(parseSpec('tor:1-1'))])).text, 'tor:0 \ntor:0 < 1 (1-1)\n');
});

test('stats: rounded figures, human durations, kinds in the README\'s order', () => {
  const text = renderStats({
    source: 'ebpf', uptimeSeconds: 3 * 86_400 + 4 * 3600 + 125,
    eventsByKind: { exit: 1234567, exec: 1234570, fork: 1300000, lost: 2 },
    sourceCounters: { lost: 2, malformed: 0 }, reorder: { late: 0 }, table: { live: 312, exited: 1000, resyncs: 1 },
    store: { byKindLastMinute: { exit: 30, exec: 31 }, dropped: 0, events: 9876543, processes: 123456, dbBytes: 734003200, queued: 3, lagMs: 36.4, oldestEvent: '2026-11-20T08:00:00.000Z' },
  }, { utc: true });
  assert.match(text, /^source {10}ebpf, up 3d 4h$/m);
  assert.match(text, /^events {10}fork 1,300,000, exec 1,234,570, exit 1,234,567, lost 2$/m);
  assert.match(text, /^per second {6}exec 0\.52, exit 0\.50 \(last minute\)$/m);
  assert.match(text, /lag 36 ms; oldest 2026-11-20 08:00:00Z$/m);
  assert.match(text, /700\.0 MiB/);
});

test('lines fit the terminal: cut to its width, colours not counted and closed', () => {
  assert.equal(fitLine('abcdef', 4), 'abcd');
  assert.equal(fitLine('abcdef', null), 'abcdef');
  assert.equal(fitLine('\x1b[1mabcdef\x1b[0m', 3), '\x1b[1mabc\x1b[0m');
  assert.equal(fitLine('ab\x1b[32mcd\x1b[0mef', 6), 'ab\x1b[32mcd\x1b[0mef');
  assert.equal(fitLine('日本語テキスト', 3), '日本語');
});
