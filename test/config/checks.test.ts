/** The checks config file (README "Config file"): every kind, and one clear line per mistake. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BannerCheck, CountCheck, CpuCheck, ListenCheck } from '../../src/checks/index.js';
import { loadChecksConfig, parseChecksConfig } from '../../src/config/checks.js';
import { InputError } from '../../src/errors.js';
import { runOnFixture } from '../fixtures/paths.js';

const VALID = `
defaults:
  format: nagios
  recheck: 2
  recheck_times: 3
  timeout: 4
  interpreters: [ruby]

checks:
  postfix:
    match: [exe=/usr/lib/postfix/sbin/master]
    count: 1-1
  ssh-listener:
    spec: "sshd,user=root:1-"
  init-domain:
    match: ["label=system_u:system_r:init_t:s0"]
    count: 0-1
  one-foo:
    match: [name=foo]
  smtp-port:
    listen: 25/tcp@name=master
  ssh-banner:
    banner: 22=SSH-2.0-OpenSSH_
    timeout: 3
  cpu-hogs:
    cpu:
      percent: 90
      warning: 50
      min_age: 60
      exempt_users: [boinc]
      exempt_names: [gzip]
      exempt_regular_users: true
      include_kernel_threads: false
`;

test('a valid file: defaults and one check of each kind, named as in the file', async () => {
  const config = await parseChecksConfig(VALID, 'procwatch.yaml');
  assert.deepEqual(config.defaults, { format: 'nagios', recheck: 2, recheckTimes: 3, timeout: 4, interpreters: ['ruby'] });
  assert.deepEqual(config.checks.map((c) => [c.id, c.kind]), [
    ['postfix', 'count'], ['ssh-listener', 'count'], ['init-domain', 'count'], ['one-foo', 'count'],
    ['smtp-port', 'listen'], ['ssh-banner', 'banner'], ['cpu-hogs', 'cpu'],
  ]);
  const [postfix, ssh, init, foo, smtp, banner, cpu] = config.checks;
  assert.ok(postfix instanceof CountCheck && ssh instanceof CountCheck && init instanceof CountCheck && foo instanceof CountCheck);
  assert.deepEqual(postfix.spec.selectors, [{ key: 'exe', op: '=', value: '/usr/lib/postfix/sbin/master' }]);
  assert.deepEqual(postfix.spec.critical, { min: 1, max: 1 });
  assert.deepEqual(ssh.spec.selectors.map((s) => `${s.key}${s.op}${s.value}`), ['name=sshd', 'user=root']);
  assert.deepEqual(init.spec.selectors, [{ key: 'label', op: '=', value: 'system_u:system_r:init_t:s0' }], 'match items need no quoting');
  assert.deepEqual(init.spec.critical, { min: 0, max: 1 });
  assert.deepEqual(foo.spec.critical, { min: 1, max: null }, 'count defaults to 1-');
  assert.ok(smtp instanceof ListenCheck);
  assert.equal(smtp.spec.port, 25);
  assert.ok(banner instanceof BannerCheck);
  assert.equal(banner.spec.timeoutSeconds, 3, 'the check\'s own timeout wins over defaults.timeout');
  assert.equal(banner.spec.expect, 'SSH-2.0-OpenSSH_');
  assert.ok(cpu instanceof CpuCheck);
  assert.deepEqual(cpu.spec, {
    criticalPercent: 90, warningPercent: 50, windowSeconds: null, minAgeSeconds: 60, exemptUsers: ['boinc'], exemptNames: ['gzip'],
    exemptRegularUsers: true, includeKernelThreads: false,
  });
});

test('checks from a config file run on the fixture like command-line specs', async () => {
  const config = await parseChecksConfig(VALID, 'procwatch.yaml');
  const runnable = config.checks.filter((c) => c.kind !== 'banner'); // a banner check connects to a port
  const results = await runOnFixture(runnable);
  assert.deepEqual(results.map((r) => [r.id, r.status]), [
    ['postfix', 'ok'], ['ssh-listener', 'ok'], ['init-domain', 'critical'], ['one-foo', 'ok'], ['smtp-port', 'ok'], ['cpu-hogs', 'critical'],
  ]);
  assert.deepEqual(results[2]?.details, ['init-domain:2 > 1 (2-1)'], 'reports use the config name');
  assert.equal(results[5]?.summary, 'hog(405):94% warm(406):60%', 'hog above 90% is critical, warm above the 50% warning');
});

test('--only selects named checks; the default banner timeout comes from defaults', async () => {
  const config = await parseChecksConfig(VALID.replace('    timeout: 3\n', ''), 'procwatch.yaml', ['ssh-banner', 'postfix']);
  assert.deepEqual(config.checks.map((c) => c.id), ['postfix', 'ssh-banner'], 'in file order');
  const banner = config.checks[1];
  assert.ok(banner instanceof BannerCheck);
  assert.equal(banner.spec.timeoutSeconds, 4);
});

/** Every mistake is an InputError: one line, naming the file and the key path. */
async function rejects(text: string, expected: string | RegExp, only: string[] = []): Promise<void> {
  await assert.rejects(parseChecksConfig(text, '/etc/procwatch/checks.yaml', only), (err: unknown) => {
    assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    if (typeof expected === 'string') assert.equal(err.message, expected);
    else assert.match(err.message, expected);
    return true;
  });
}

test('an unknown key, at any depth', async () => {
  await rejects('checks:\n  ssh:\n    spec: sshd\n    cuont: 1\n',
    "config /etc/procwatch/checks.yaml: checks.ssh: unknown key 'cuont' (expected one of: spec, match, listen, banner, cpu, count, timeout, for, interval, severity, actions, daemon)");
  await rejects('checks:\n  hogs:\n    cpu:\n      percent: 80\n      exempt_user: [boinc]\n',
    /^config \/etc\/procwatch\/checks\.yaml: checks\.hogs\.cpu: unknown key 'exempt_user' \(expected one of: percent, /);
  await rejects('defaults:\n  fromat: mon\nchecks:\n  a:\n    spec: sshd\n', /^config \/etc\/procwatch\/checks\.yaml: defaults: unknown key 'fromat'/);
  await rejects('check:\n  a:\n    spec: sshd\n', /^config \/etc\/procwatch\/checks\.yaml: top level: unknown key 'check'/);
});

test('two kinds in one check, or none', async () => {
  await rejects('checks:\n  ssh:\n    spec: sshd\n    listen: 22\n',
    'config /etc/procwatch/checks.yaml: checks.ssh: needs exactly one of: spec, match, listen, banner, cpu (found spec, listen)');
  await rejects('checks:\n  ssh:\n    timeout: 3\n', /checks\.ssh: needs exactly one of: .* \(found none\)$/);
  await rejects('checks:\n  ssh:\n    spec: sshd\n    count: 1-1\n', "config /etc/procwatch/checks.yaml: checks.ssh.count: goes with 'match' (a spec carries its own range)");
});

test('bad ranges and bad specs name the check', async () => {
  await rejects('checks:\n  ssh:\n    match: [name=sshd]\n    count: 9-1\n',
    "config /etc/procwatch/checks.yaml: checks.ssh: bad range '9-1' in checks.ssh.count: minimum is above maximum");
  await rejects('checks:\n  ssh:\n    match: [name=sshd]\n    count: lots\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.ssh: bad range 'lots'/);
  await rejects('checks:\n  ssh:\n    spec: "sshd:9-1"\n',
    "config /etc/procwatch/checks.yaml: checks.ssh.spec: bad range '9-1' in spec 'sshd:9-1': minimum is above maximum");
  await rejects('checks:\n  ssh:\n    spec: "uid=0"\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.ssh\.spec: unknown selector 'uid'/);
  await rejects('checks:\n  smtp:\n    listen: 99999/tcp\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.smtp\.listen: bad port '99999'/);
  await rejects('checks:\n  hogs:\n    cpu:\n      warning: 50\n', 'config /etc/procwatch/checks.yaml: checks.hogs.cpu.percent: expected a number ≥ 0');
  await rejects('checks:\n  hogs:\n    cpu:\n      percent: "lots"\n', 'config /etc/procwatch/checks.yaml: checks.hogs.cpu.percent: expected a number ≥ 0');
  await rejects('defaults:\n  format: xml\nchecks:\n  a:\n    spec: sshd\n', 'config /etc/procwatch/checks.yaml: defaults.format: expected mon, nagios, nagios-plain or json');
});

test('bad YAML, an empty file, a file that is not a mapping', async () => {
  await rejects('checks:\n  ssh: [unclosed\n', /^config \/etc\/procwatch\/checks\.yaml: YAML: ./);
  await rejects('', 'config /etc/procwatch/checks.yaml: top level: the file is empty');
  await rejects('# nothing here yet\n', 'config /etc/procwatch/checks.yaml: top level: the file is empty');
  await rejects('- sshd:1-\n', 'config /etc/procwatch/checks.yaml: top level: expected a mapping');
  await rejects('defaults:\n  format: mon\n', 'config /etc/procwatch/checks.yaml: checks: expected a mapping of check names to checks');
});

test('--only with a name the file does not have', async () => {
  await rejects(VALID, "config /etc/procwatch/checks.yaml: checks: no check named 'nope' (have: postfix, ssh-listener, init-domain, one-foo, smtp-port, ssh-banner, cpu-hogs)", ['postfix', 'nope']);
});

test('loadChecksConfig reads the file, and names it when it cannot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'procwatch-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'checks.yaml');
  writeFileSync(file, 'checks:\n  ssh:\n    spec: "sshd:1-"\n');
  const config = await loadChecksConfig(file);
  assert.deepEqual(config.checks.map((c) => c.id), ['ssh']);
  await assert.rejects(loadChecksConfig(join(dir, 'missing.yaml')), (err: unknown) =>
    err instanceof InputError && err.message === `config ${join(dir, 'missing.yaml')}: cannot read: ENOENT`);
});

test('strict keys: timeout only with banner, recheck_times a whole number, match a non-empty list', async () => {
  await rejects('checks:\n  ssh:\n    spec: "sshd:1-"\n    timeout: 3\n',
    "config /etc/procwatch/checks.yaml: checks.ssh.timeout: goes with 'banner' (the only check that waits for an answer)");
  await rejects('checks:\n  smtp:\n    listen: 25\n    timeout: 3\n', /checks\.smtp\.timeout: goes with 'banner'/);
  await rejects('defaults:\n  recheck_times: 1.5\nchecks:\n  a:\n    spec: sshd\n', 'config /etc/procwatch/checks.yaml: defaults.recheck_times: expected an integer ≥ 1');
  await rejects('checks:\n  a:\n    match: "name=sshd,user=root"\n',
    "config /etc/procwatch/checks.yaml: checks.a.match: expected a list of selectors, one per item (e.g. [name=sshd, user=root]); 'spec' takes the one-string grammar");
  await rejects('checks:\n  a:\n    match: []\n', 'config /etc/procwatch/checks.yaml: checks.a.match: expected at least one selector (an empty list would match every process)');
  const config = await parseChecksConfig('checks:\n  a:\n    match: ["args=x,y", user=root]\n', 'f.yaml');
  assert.ok(config.checks[0] instanceof CountCheck);
  assert.deepEqual(config.checks[0].spec.selectors, [{ key: 'args', op: '=', value: 'x,y' }, { key: 'user', op: '=', value: 'root' }], 'one selector per item: commas are part of the value');
});

test('delays and timeouts are capped at one day (Node timers overflow past ~24.8 days)', async () => {
  await rejects('defaults:\n  recheck: 1000000000\nchecks:\n  a:\n    spec: sshd\n', 'config /etc/procwatch/checks.yaml: defaults.recheck: expected a number ≥ 0 and ≤ 86400');
  await rejects('defaults:\n  timeout: 1000000000\nchecks:\n  a:\n    spec: sshd\n', 'config /etc/procwatch/checks.yaml: defaults.timeout: expected a number ≥ 0.001 and ≤ 86400');
  await rejects('checks:\n  b:\n    banner: 22=SSH-\n    timeout: 86401\n', 'config /etc/procwatch/checks.yaml: checks.b.timeout: expected a number ≥ 0.001 and ≤ 86400');
  await rejects('checks:\n  c:\n    cpu:\n      percent: 50\n      window: 3000000\n', 'config /etc/procwatch/checks.yaml: checks.c.cpu.window: expected a number ≥ 0.1 and ≤ 86400');
  const ok = await parseChecksConfig('defaults:\n  recheck: 86400\nchecks:\n  c:\n    cpu:\n      percent: 50\n      window: 86400\n', 'f.yaml');
  assert.equal(ok.defaults.recheck, 86400, 'one day is allowed');
});

test('cpu: a warning level at or above percent, or an exempt user /etc does not know, is an error', async () => {
  await rejects('checks:\n  hogs:\n    cpu:\n      percent: 5\n      warning: 80\n',
    'config /etc/procwatch/checks.yaml: checks.hogs.cpu: the CPU warning level (80%) must be below the critical level (5%)');
  await rejects('checks:\n  hogs:\n    cpu:\n      percent: 50\n      warning: 50\n', /checks\.hogs\.cpu: the CPU warning level \(50%\) must be below/);
  const config = await parseChecksConfig('checks:\n  hogs:\n    cpu:\n      percent: 50\n      exempt_users: [boinc, nosuchuser]\n', 'f.yaml');
  await assert.rejects(runOnFixture(config.checks), (err: unknown) => err instanceof InputError && err.message === "unknown user 'nosuchuser' in the CPU check's exempt users");
});

test('bad selectors in match and listen are found when the file is read', async () => {
  await rejects('checks:\n  a:\n    match: ["args~("]\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.a: bad regular expression for 'args'/);
  await rejects('checks:\n  a:\n    match: ["name=foo["]\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.a: bad glob 'foo\['/);
  await rejects('checks:\n  a:\n    listen: "22@args~("\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.a\.listen: bad regular expression/);
  await rejects('checks:\n  a:\n    listen: "x:22"\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.a\.listen: bad address 'x'/);
  await rejects('checks:\n  a:\n    spec: "sshd:"\n', /^config \/etc\/procwatch\/checks\.yaml: checks\.a\.spec: bad range ''/);
});

test('defaults.format is told before the rest of the file is checked, so later errors can be shown in it', async () => {
  const heard: string[] = [];
  await assert.rejects(parseChecksConfig('defaults:\n  format: nagios\n  bogus: 1\nchecks:\n  a:\n    spec: "sshd:9-1"\n', 'f.yaml', [], (f) => heard.push(f)));
  assert.deepEqual(heard, ['nagios']);
  heard.length = 0;
  await assert.rejects(parseChecksConfig('defaults:\n  format: xml\n', 'f.yaml', [], (f) => heard.push(f)));
  assert.deepEqual(heard, [], 'an invalid format is not passed on');
});
