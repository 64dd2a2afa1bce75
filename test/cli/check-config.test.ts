/**
 * `procwatch check -c FILE` end to end on real processes: the file's defaults (format, recheck,
 * recheck_times, interpreters) take effect, --only picks checks, and command-line options win.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, checkById, checkJson, show } from '../helpers/cli.js';
import { Processes, uniqueTag } from '../helpers/spawn.js';

const procs = new Processes();
after(() => procs.cleanup());

const tag = uniqueTag();
const dir = procs.tempDir();
const present = `pwP${tag}`;
const missing = `pwM${tag}`;
const interpreter = `pwI${tag}`;
const scriptName = `pwS${tag}.sh`;
const config = join(dir, 'valid.yaml');
writeFileSync(config, `
defaults:
  format: nagios
  recheck: 0.5
  recheck_times: 2
  interpreters: [${interpreter}]
checks:
  script:                      # named after its script only thanks to defaults.interpreters
    match: [name=${scriptName}]
    count: 1-1
  present:
    spec: "${present}:1-1"
  missing:                     # never running: fails every time, so it is re-checked twice
    spec: "${missing}:1-"
`);

let scriptPid = 0;
let presentPid = 0;
test.before(async () => {
  const script = join(dir, scriptName);
  writeFileSync(script, 'sleep 120\nexit 0\n');
  scriptPid = (await procs.start(procs.copy('/bin/sh', dir, interpreter), [script], { comm: interpreter })).pid;
  presentPid = (await procs.start(procs.copy('/bin/sleep', dir, present), ['120'], { comm: present })).pid;
});

test('the file\'s format is Nagios; a failing check is re-checked recheck_times times, recheck seconds apart', async () => {
  const r = await check(['-c', config]);
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stdout, `PROCS CRITICAL: missing:0 | 'script'=1;;1:1;0 'present'=1;;1:1;0 'missing'=0;;1:;0\nmissing:0 < 1 (1-0)\nmissing: still failing after 3 checks\n`);
  assert.ok(r.ms >= 1000, `two re-checks 0.5 s apart (${r.ms.toFixed(0)} ms)`);
});

test('--only runs the named checks, in the file\'s order', async () => {
  const r = await check(['-c', config, '--only', 'present,script']);
  assert.deepEqual([r.code, r.stdout], [0, "PROCS OK: script: 1 process, present: 1 process | 'script'=1;;1:1;0 'present'=1;;1:1;0\n"], show(r));
});

test('-f on the command line wins over defaults.format; JSON shows the attempts and the interpreter naming', async () => {
  const { result, report } = await checkJson(['-c', config]);
  assert.equal(result.code, 1, show(result));
  assert.equal(checkById(report, 'missing').attempts, 3, 'the first check and two re-checks');
  assert.equal(checkById(report, 'present').attempts, 1, 'a passing check is not re-checked');
  assert.deepEqual(checkById(report, 'script').processes.map((p) => [p.pid, p.name]), [[scriptPid, scriptName]]);
  assert.deepEqual(checkById(report, 'present').processes.map((p) => p.pid), [presentPid]);
  const mon = await check(['-c', config, '-f', 'mon', '--only', 'missing']);
  assert.deepEqual([mon.code, mon.stdout], [1, `missing:0 \nmissing:0 < 1 (1-0)\nmissing: still failing after 3 checks\n`], show(mon));
});

test('command-line options win over the file\'s defaults: --recheck 0 turns re-checks off; specs run with the file\'s checks', async () => {
  const { result, report } = await checkJson(['-c', config, '--recheck', '0', '--only', 'missing', `${present}:2-`]);
  assert.equal(result.code, 1, show(result));
  assert.deepEqual(report.checks.map((c) => [c.id, c.status, c.attempts]), [['missing', 'critical', 1], [present, 'critical', 1]], 'evaluated once: no re-check');
});
