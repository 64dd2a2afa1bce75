/**
 * mon, Nagios and JSON output, byte for byte, for checks run on the fake tree (sshd 100 and 101,
 * two processes called master, one cron, no tor) and for hand-made results where the tree
 * cannot produce the case.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountCheck, ListenCheck, parseListenSpec, parseSpec, type CheckResult } from '../../src/checks/index.js';
import { formatPerf, nagiosUnknown, renderJson, renderMon, renderNagios } from '../../src/report/index.js';
import { EDGE_ROOT, runOnFixture } from '../fixtures/paths.js';

async function run(specs: string[], excludePids: number[] = []): Promise<CheckResult[]> {
  return runOnFixture(specs.map((s) => new CountCheck(parseSpec(s))), { excludePids: new Set(excludePids) });
}

/** As mon runs `ps.monitor tor:1-1 sshd:1- master:1-1 cron:1-5` with sshd down. */
const failing = (): Promise<CheckResult[]> => run(['tor:1-1', 'sshd:1-', 'master:1-1', 'cron:1-5'], [100, 101]);

test('mon: a summary line of name:count tokens, then one detail line each, exit 1 (ps.monitor\'s format)', async () => {
  const { text, exitCode } = renderMon(await failing());
  assert.equal(text, 'tor:0 sshd:0 master:2 \ntor:0 < 1 (1-1)\nsshd:0 < 1 (1-0)\nmaster:2 > 1 (1-1)\n');
  assert.equal(exitCode, 1);
});

test('mon: nothing at all when every check passes, and warnings do not fail', async () => {
  assert.deepEqual(renderMon(await run(['sshd:1-', 'master:2', 'cron:1-5'])), { text: '', exitCode: 0 });
  assert.deepEqual(renderMon(await run(['sshd:1-/3-'])), { text: '', exitCode: 0 }, 'mon has no warning level');
});

test('mon: exclusion builtins and a re-checked failure', async () => {
  const { text } = renderMon(await run(['@gid0-not-uid0', '@single-domain=init_t']));
  assert.equal(text, '@gid0-not-uid0:1 @single-domain=init_t:2 \n@gid0-not-uid0:1 > 0 (0-0)\n@single-domain=init_t:2 > 1 (2-1)\n');
  const rechecked = await runOnFixture([new CountCheck(parseSpec('tor:1-1'))], { recheckDelaySeconds: 0.01, recheckTimes: 1 });
  assert.equal(renderMon(rechecked).text, 'tor:0 \ntor:0 < 1 (1-1)\ntor: still failing after 2 checks\n');
});

test('mon: a listen failure uses its summary token', async () => {
  const results = await runOnFixture([new ListenCheck(parseListenSpec('8080/tcp')), new ListenCheck(parseListenSpec('22/tcp@user=nobody'))]);
  assert.equal(renderMon(results).text,
    'tcp/8080:closed tcp/22:wrong-owner \nnothing listens on tcp port 8080\ntcp port 22 is listening, but not held by a process matching user=nobody (held by sshd[100])\n');
});

test('nagios: CRITICAL line with every check\'s perfdata, then details; exit 2', async () => {
  const { text, exitCode } = renderNagios(await failing());
  assert.equal(text, [
    "PROCS CRITICAL: tor:0, sshd:0, master:2 | 'tor'=0;;1:1;0 'sshd'=0;;1:;0 'master'=2;;1:1;0 'cron'=1;;1:5;0",
    'tor:0 < 1 (1-1)',
    'sshd:0 < 1 (1-0)',
    'master:2 > 1 (1-1)',
    '',
  ].join('\n'));
  assert.equal(exitCode, 2);
});

test('nagios: WARNING exits 1, OK exits 0', async () => {
  const warning = renderNagios(await run(['sshd:1-/3-', 'cron:1-5']));
  assert.equal(warning.text, "PROCS WARNING: sshd:2 | 'sshd'=2;3:;1:;0 'cron'=1;;1:5;0\nsshd:2 < 3 (3-2) warning\n");
  assert.equal(warning.exitCode, 1);
  const ok = renderNagios(await run(['sshd:2', 'master:-5']));
  // Issue 14: the OK line says what was counted, as check_procs does.
  assert.equal(ok.text, "PROCS OK: sshd: 2 processes, master: 2 processes | 'sshd'=2;;2:2;0 'master'=2;;5;0\n");
  assert.equal(ok.exitCode, 0);
});

const handMade = (over: Partial<CheckResult>): CheckResult => ({
  id: 'x', kind: 'count', status: 'ok', summary: '', details: [], perf: [], processes: [], attempts: 1, data: {}, ...over,
});

test('nagios: UNKNOWN exits 3; bad input is a one-line UNKNOWN', () => {
  const unknown = renderNagios([handMade({ id: 'domain=init_t', status: 'unknown', summary: 'domain=init_t:0', details: ['domain=init_t: 5 process(es) could not be read (vanished or hidden) and were not counted'] })]);
  assert.equal(unknown.text, 'PROCS UNKNOWN: domain=init_t:0\ndomain=init_t: 5 process(es) could not be read (vanished or hidden) and were not counted\n');
  assert.equal(unknown.exitCode, 3);
  assert.deepEqual(nagiosUnknown("unknown selector 'uid'"), { text: "PROCS UNKNOWN: unknown selector 'uid'\n", exitCode: 3 });
  const noSummary = renderNagios([handMade({ id: 'thing', status: 'critical' })]);
  assert.equal(noSummary.text, 'PROCS CRITICAL: thing:critical\n', 'a result without a summary token shows id:status');
});

test('perfdata: labels quoted, quotes doubled, "=" replaced; empty trailing fields dropped', () => {
  assert.equal(formatPerf({ label: 'label=system_u:system_r:init_t:s0', value: 2, unit: '', warn: '', crit: '0:1', min: 0, max: null }), "'label_system_u:system_r:init_t:s0'=2;;0:1;0");
  assert.equal(formatPerf({ label: "it's", value: 1, unit: '', warn: '', crit: '', min: null, max: null }), "'it''s'=1");
  assert.equal(formatPerf({ label: '22_time', value: 0.0042, unit: 's', warn: '', crit: '5', min: 0, max: null }), "'22_time'=0.0042s;;5;0");
  assert.equal(formatPerf({ label: 'cpu_max', value: 99, unit: '%', warn: '50', crit: '90', min: 0, max: 100 }), "'cpu_max'=99%;50;90;0;100");
});

test('json: status, exit code and every check with its counts and processes', async () => {
  const { text, exitCode } = renderJson(await failing());
  assert.equal(exitCode, 1);
  assert.ok(text.endsWith('}\n'));
  const doc = JSON.parse(text) as { status: string; exitCode: number; checks: CheckResult[] };
  assert.equal(doc.status, 'critical');
  assert.equal(doc.exitCode, 1);
  assert.deepEqual(doc.checks.map((c) => [c.id, c.kind, c.status, c.data.count]), [
    ['tor', 'count', 'critical', 0], ['sshd', 'count', 'critical', 0], ['master', 'count', 'critical', 2], ['cron', 'count', 'ok', 1],
  ]);
  const master = doc.checks[2]!;
  assert.equal(master.summary, 'master:2');
  assert.deepEqual(master.details, ['master:2 > 1 (1-1)']);
  assert.deepEqual(master.data, { count: 2, unknown: 0, critical: { min: 1, max: 1 }, warning: null, spec: 'master:1-1' });
  assert.deepEqual(master.processes.map((p) => [p.pid, p.user, p.args]), [[200, 'root', '/usr/lib/postfix/sbin/master -w'], [201, 'nobody', '/opt/acme/bin/master --foreground']]);
  assert.deepEqual(master.perf, [{ label: 'master', value: 2, unit: '', warn: '', crit: '1:1', min: 0, max: null }]);
  assert.equal(master.attempts, 1);
  const warn = JSON.parse(renderJson(await run(['sshd:1-/3-'])).text) as { status: string; exitCode: number };
  assert.deepEqual([warn.status, warn.exitCode], ['warning', 0], 'a warning exits 0 in JSON, as in mon');
});

test('nagios: a "|" in text would start perfdata, so text shows "¦" and labels "_"; the one "|" left separates perfdata', async () => {
  const results = await run(['args~^(sshd|cron):3-', 'args~"^(nothing|none)$":1-']);
  const { text, exitCode } = renderNagios(results);
  assert.equal(exitCode, 2);
  const lines = text.split('\n');
  assert.equal(lines[0], "PROCS CRITICAL: args~^(sshd¦cron):2, args~\"^(nothing¦none)$\":0 | 'args~^(sshd_cron)'=2;;3:;0 'args~\"^(nothing_none)$\"'=0;;1:;0");
  assert.deepEqual(lines.slice(1), ['args~^(sshd¦cron):2 < 3 (3-2)', 'args~"^(nothing¦none)$":0 < 1 (1-0)', '']);
  for (const line of lines) assert.ok((line.match(/\|/g) ?? []).length <= (line === lines[0] ? 1 : 0), line);
  assert.equal(nagiosUnknown("bad regular expression for 'args': Invalid regular expression: /(a|b/: Unterminated group").text,
    "PROCS UNKNOWN: bad regular expression for 'args': Invalid regular expression: /(a¦b/: Unterminated group\n");
  assert.equal(formatPerf({ label: 'a|b', value: 1, unit: '', warn: '', crit: '', min: null, max: null }), "'a_b'=1");
});

test('nagios and mon: a count the unreadable processes could change is UNKNOWN (exit 3 / 1), with the reason', async () => {
  const [result] = await runOnFixture([new CountCheck(parseSpec('exe=*/x:1-1'))], { procRoot: EDGE_ROOT });
  assert.deepEqual(renderNagios([result!]), {
    text: "PROCS UNKNOWN: exe=*/x:unknown | 'exe=*/x'=U;;1:1;0\nexe=*/x: 2 process(es) could not be read (vanished or hidden): the count is between 1 and 3, which changes the verdict\n".replace("'exe=", "'exe_"),
    exitCode: 3,
  });
  assert.deepEqual(renderMon([result!]), {
    text: 'exe=*/x:unknown \nexe=*/x: 2 process(es) could not be read (vanished or hidden): the count is between 1 and 3, which changes the verdict\n',
    exitCode: 1,
  });
});
