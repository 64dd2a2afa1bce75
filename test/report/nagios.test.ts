/**
 * Issue 14, item 13: what Nagios users hit. UNKNOWN perfdata is `U`, labels are unique, the
 * re-check line is there, the OK line says what was counted, and `nagios-plain` survives
 * Nagios' default illegal_macro_output_chars.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CountCheck, parseSpec, type CheckResult } from '../../src/checks/index.js';
import { nagiosUnknown, renderNagios } from '../../src/report/index.js';
import { runOnFixture } from '../fixtures/paths.js';
import { BIN } from '../helpers/cli.js';

const run = (specs: string[], options = {}): Promise<CheckResult[]> => runOnFixture(specs.map((s) => new CountCheck(parseSpec(s))), options);
/** Nagios' default illegal_macro_output_chars (nagios.cfg). */
const ILLEGAL = /[`~$&|'"<>]/;
const perfOf = (text: string): string => text.split('\n')[0]!.split(' | ')[1] ?? '';

test('an UNKNOWN result prints U as its value, not 0', () => {
  const unknown: CheckResult = {
    id: 'domain=init_t', kind: 'count', status: 'unknown', summary: 'domain=init_t:unknown', details: ['domain=init_t: no process has a readable security label'],
    perf: [{ label: 'domain=init_t', value: 0, unit: '', warn: '', crit: '1:', min: 0, max: null }], processes: [], attempts: 1, data: {},
  };
  const ok: CheckResult = { ...unknown, id: 'cron', status: 'ok', summary: '', details: [], perf: [{ label: 'cron', value: 1, unit: '', warn: '', crit: '1:', min: 0, max: null }] };
  const r = renderNagios([unknown, ok]);
  assert.equal(perfOf(r.text), "'domain_init_t'=U;;1:;0 'cron'=1;;1:;0");
  assert.equal(r.exitCode, 3);
});

test('two checks with the same name get unique perfdata labels', async () => {
  const r = renderNagios(await run(['sshd:1-', 'sshd:1-5', 'sshd:0-']));
  assert.equal(perfOf(r.text), "'sshd'=2;;1:;0 'sshd_2'=2;;1:5;0 'sshd_3'=2;;0:;0");
});

test('a check still failing after its re-checks says so, as in mon', async () => {
  const results = await run(['tor:1-1'], { recheckDelaySeconds: 0.01, recheckTimes: 2 });
  assert.equal(renderNagios(results).text, "PROCS CRITICAL: tor:0 | 'tor'=0;;1:1;0\ntor:0 < 1 (1-1)\ntor: still failing after 3 checks\n");
});

test('the OK line says what each check counted', async () => {
  const r = renderNagios(await run(['sshd:1-', 'cron:1', 'tor:0']));
  assert.equal(r.text.split(' | ')[0], 'PROCS OK: sshd: 2 processes, cron: 1 process, tor: 0 processes');
});

test('nagios-plain: nothing Nagios strips, comparisons in words, labels unquoted; same verdict and perfdata values', async () => {
  const results = await run(['tor:1-1', "args~^(sshd|master)$:5-", 'sshd:1-']);
  const plain = renderNagios(results, { plain: true });
  const normal = renderNagios(results);
  assert.equal(plain.exitCode, normal.exitCode);
  // Nagios cuts the output at the first '|' (perfdata) before it strips anything: check both halves.
  for (const part of plain.text.trimEnd().split('\n').flatMap((line) => line.split(' | '))) assert.doesNotMatch(part, ILLEGAL, part);
  assert.equal(plain.text, [
    'PROCS CRITICAL: tor:0, args∼^(sshd¦master)＄:0 | tor=0;;1:1;0 args_^(sshd_master)_=0;;5:;0 sshd=2;;1:;0',
    'tor:0 below 1 (1-1)',
    'args∼^(sshd¦master)＄:0 below 5 (5-0)',
    '',
  ].join('\n'));
  assert.doesNotMatch(nagiosUnknown("unknown selector 'uid' in <spec>", { plain: true }).text.trimEnd(), ILLEGAL);
});

test('check -f nagios-plain: bad input is a plain UNKNOWN (exit 3)', () => {
  const r = spawnSync(process.execPath, [BIN, 'check', '-f', 'nagios-plain', 'args~(:1'], { encoding: 'utf8' });
  assert.equal(r.status, 3);
  assert.equal(r.stdout, 'PROCS UNKNOWN: bad regular expression for ’args’: Unterminated group\n');
  const config = spawnSync(process.execPath, [BIN, 'check', '--format=nagios-plain', 'nosuch-xyz:0'], { encoding: 'utf8' });
  assert.equal(config.status, 0, config.stderr);
  assert.equal(config.stdout, 'PROCS OK: nosuch-xyz: 0 processes | nosuch-xyz=0;;0:0;0\n');
});
