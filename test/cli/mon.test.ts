/**
 * Issue 14, item 12: mon appends its hostgroup's host names to a monitor's arguments (unless
 * the line ends in `;;`). Run by the real mon 1.3.6, `procwatch check` leaves them out of the
 * specs; without mon's config it still knows `localhost`, the group and this host, and says
 * what a failing bare word at the end may be.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostgroupHosts, splitMonHosts } from '../../src/cli/mon-hosts.js';
import { BIN } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-mon-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const haveMon = spawnSync('mon', ['-v'], { encoding: 'utf8' }).error === undefined;
const skip = haveMon ? false : 'SKIPPED: needs mon (Debian package mon; .ci/run installs it)';
if (skip) console.error(`mon: ${skip}`);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

test('the real mon: the hosts it appends are not counted as processes', { skip }, async () => {
  for (const d of ['mon.d', 'alert.d', 'log', 'state']) mkdirSync(join(dir, d));
  const ran = join(dir, 'ran.log');
  // The monitor: procwatch check, recording its arguments and exit code for the test.
  writeFileSync(join(dir, 'mon.d/procwatch.monitor'), `#!/bin/sh\n"${process.execPath}" "${BIN}" check "$@"\nrc=$?\necho "$* -> $rc" >> "${ran}"\nexit $rc\n`);
  writeFileSync(join(dir, 'alert.d/record.alert'), `#!/bin/sh\n{ echo "ALERT $*"; cat; } >> "${join(dir, 'alerts.log')}"\n`);
  chmodSync(join(dir, 'mon.d/procwatch.monitor'), 0o755);
  chmodSync(join(dir, 'alert.d/record.alert'), 0o755);
  writeFileSync(join(dir, 'auth.cf'), 'list:\tall\n');
  writeFileSync(join(dir, 'mon.cf'), [
    `alertdir = ${dir}/alert.d`, `mondir = ${dir}/mon.d`, `logdir = ${dir}/log`, `statedir = ${dir}/state`, `cfbasedir = ${dir}`,
    `authfile = ${dir}/auth.cf`, 'serverbind = 127.0.0.1', 'trapbind = 127.0.0.1', 'dtlogging = no', '',
    'hostgroup pwgroup localhost pw-host-b', '',
    'watch pwgroup',
    '\tservice appended',
    '\t\tinterval 1s',
    '\t\tmonitor procwatch.monitor pw-no-such-process:0',
    '\t\tperiod',
    '\t\t\talert record.alert',
    '\tservice failing',
    '\t\tinterval 1s',
    '\t\tmonitor procwatch.monitor pw-no-such-process:1-',
    '\t\tperiod',
    '\t\t\talert record.alert',
    '',
  ].join('\n'));
  const mon = spawn('mon', ['-c', join(dir, 'mon.cf'), '-B', dir, '-p', String(await freePort()), '-t', String(await freePort()), '-P', join(dir, 'mon.pid'), '-L', join(dir, 'log'), '-D', join(dir, 'state')],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let monErr = '';
  mon.stderr!.on('data', (c: Buffer) => (monErr += c.toString()));
  try {
    const lines = (): string[] => (existsSync(ran) ? readFileSync(ran, 'utf8').trim().split('\n') : []);
    for (let i = 0; i < 600 && !(lines().some((l) => l.includes(':0 ')) && lines().some((l) => l.includes(':1- '))); i++) await new Promise((r) => setTimeout(r, 50));
    const runs = lines();
    assert.ok(runs.length > 0, `mon ran no monitor: ${monErr}`);
    // mon appended the group's hosts; procwatch counted only the spec.
    assert.ok(runs.includes('pw-no-such-process:0 localhost pw-host-b -> 0'), runs.join('\n'));
    assert.ok(runs.includes('pw-no-such-process:1- localhost pw-host-b -> 1'), 'a real failure still fails');
    // The alert of the failing service lands (its script writes the whole entry at once, after "ALERT"):
    // then mon has also had its chance to alert for the appended one.
    const alertsLog = (): string => (existsSync(join(dir, 'alerts.log')) ? readFileSync(join(dir, 'alerts.log'), 'utf8') : '');
    for (let i = 0; i < 600 && !/ALERT .*failing[\s\S]*pw-no-such-process:0 < 1/.test(alertsLog()); i++) await new Promise((r) => setTimeout(r, 50));
    const alerts = alertsLog();
    assert.match(alerts, /ALERT .*failing/, `mon alerted for the failing service: ${alerts}`);
    assert.doesNotMatch(alerts, /localhost:0|pw-host-b:0/, 'no outage reported for a process called localhost (the -h of the alert lists the hosts)');
  } finally {
    mon.kill('SIGTERM');
    await new Promise((r) => (mon.exitCode !== null ? r(null) : mon.on('exit', r)));
  }
});

test('mon config: a hostgroup\'s hosts, over several lines; a watch without a hostgroup is its own host', () => {
  const cf = 'hostgroup web www1 www2\n  www3\n\nhostgroup db db1 # primary\n\nwatch gw.example.net\n\tservice ping\n';
  assert.deepEqual(hostgroupHosts(cf, 'web'), ['www1', 'www2', 'www3']);
  assert.deepEqual(hostgroupHosts(cf, 'db'), ['db1']);
  assert.deepEqual(hostgroupHosts(cf, 'gw.example.net'), ['gw.example.net']);
  assert.equal(hostgroupHosts(cf, 'nope'), null);
  const ctx = { group: 'web', service: 'procs', hosts: ['www1', 'www2'] };
  assert.deepEqual(splitMonHosts(['sshd:1-', 'www1', 'www2'], ctx), { specs: ['sshd:1-'], hosts: ['www1', 'www2'] });
  assert.deepEqual(splitMonHosts(['sshd', 'cron'], ctx), { specs: ['sshd', 'cron'], hosts: [] }, 'a line ending in ;; passes no hosts');
  assert.deepEqual(splitMonHosts(['www1', 'sshd:1-'], ctx), { specs: ['www1', 'sshd:1-'], hosts: [] }, 'only trailing ones');
});

test('run by mon without a readable config: localhost, the group and this host are hosts; another bare word gets a hint', () => {
  const env = { ...process.env, MON_GROUP: 'pwgroup', MON_SERVICE: 'procs', MON_CFBASEDIR: join(dir, 'nowhere') };
  const ok = spawnSync(process.execPath, [BIN, 'check', 'pw-no-such-process:0', 'localhost', 'pwgroup', hostname()], { encoding: 'utf8', env });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  const odd = spawnSync(process.execPath, [BIN, 'check', 'pw-no-such-process:0', 'pw-other-host'], { encoding: 'utf8', env });
  assert.equal(odd.status, 1);
  assert.match(odd.stdout, /^pw-other-host: run by mon \(group pwgroup\) whose config procwatch could not read: if 'pw-other-host' is a host name mon appended, end the monitor line with ';;'$/m);
  // Not run by mon: every argument is a spec, as before.
  const plain = spawnSync(process.execPath, [BIN, 'check', 'pw-no-such-process:0', 'localhost'], { encoding: 'utf8', env: { ...process.env, MON_GROUP: '', MON_SERVICE: '' } });
  assert.equal(plain.status, 1, 'localhost is a spec when mon is not running us');
});
