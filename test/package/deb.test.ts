/**
 * The Debian package, for real (issue 17, item 12): built from this tree, installed on this
 * machine with apt, run as a sysadmin would (`procwatch --version`, `procwatch check`, the daemon
 * with the packaged config, a query as a member of the procwatch group), then purged, leaving
 * nothing behind. Needs root and dpkg; CI runs it.
 *
 * The machine may be shared: the whole test holds a lock file (one install at a time), waits
 * for apt's lock instead of failing on it, and runs the daemon on a temporary database and
 * socket, never the packaged paths or systemd (which may not run here at all).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { REPO_ROOT } from '../helpers/cli.js';
import { eventually } from '../helpers/wait.js';

const why = process.getuid?.() !== 0 ? 'needs root (installs a package)'
  : spawnSync('dpkg-deb', ['--version']).status !== 0 ? 'needs dpkg-deb'
    : spawnSync('apt-get', ['--version']).status !== 0 ? 'needs apt-get'
      : spawnSync('flock', ['--version']).status !== 0 ? 'needs flock (util-linux)'
        : null;
const installed = why === null && spawnSync('dpkg-query', ['-W', '-f', '${Status}', 'procwatch'], { encoding: 'utf8' }).stdout.includes('install ok installed');
const skip = why !== null ? `SKIPPED: ${why}` : installed ? 'SKIPPED: a procwatch package is already installed here; this test will not replace it' : false;
if (skip) console.error(`package test: ${skip}`);
if (skip && process.env.PROCWATCH_REQUIRE_NATIVE === '1') {
  test('the package test runs in CI (PROCWATCH_REQUIRE_NATIVE=1)', () => assert.fail(String(skip)));
}

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const LOCK = '/run/lock/procwatch-package-test.lock';

function sh(command: string, args: string[], options: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', timeout: options.timeout ?? 120_000, env: options.env ?? process.env });
}

const show = (r: SpawnSyncReturns<string>): string => `exit ${String(r.status)}${r.signal ? ` (${r.signal})` : ''}\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;

/** apt-get, waiting (not failing) while another apt or dpkg on this machine holds the lock. */
function apt(args: string[]): SpawnSyncReturns<string> {
  return sh('apt-get', ['-y', '-q', '-o', 'DPkg::Lock::Timeout=300', ...args], { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

test('the .deb installs, runs (version, check, the daemon with its packaged config, a query as a group member) and purges cleanly', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'pw-deb-'));
  chmodSync(work, 0o755); // the query as nobody walks through it to the socket's directory
  // One install at a time on this machine: other runs of this test wait here.
  const lock = spawn('flock', ['--exclusive', LOCK, 'sh', '-c', 'echo locked; read x'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let lockOut = '';
  lock.stdout!.on('data', (c: Buffer) => (lockOut += c.toString()));
  await eventually(`the package test lock ${LOCK}`, () => lockOut.includes('locked'), { timeoutMs: 900_000, stepMs: 200 });
  let daemon: ReturnType<typeof spawn> | null = null;
  try {
    const built = sh(process.execPath, [join(REPO_ROOT, 'scripts/package-deb.mjs'), '--out', work]);
    assert.equal(built.status, 0, show(built));
    const deb = built.stdout.trim();
    assert.match(deb, new RegExp(`/procwatch_${version.replace(/\./g, '\\.')}-1_[a-z0-9]+\\.deb$`));
    const contents = sh('dpkg-deb', ['-c', deb]).stdout;
    for (const path of ['./usr/lib/procwatch/bin/procwatch', './usr/bin/procwatch -> ../lib/procwatch/bin/procwatch', './usr/lib/procwatch/native/build/Release/procconn.node',
      './usr/lib/procwatch/native/bpf/build/Release/procbpf.node', './usr/lib/procwatch/native/build/Release/unixdgram.node',
      './usr/lib/procwatch/native/build/Release/malloctune.node',
      './usr/lib/procwatch/rules/pack.yaml', './usr/lib/procwatch/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      './lib/systemd/system/procwatch.service', './etc/procwatch/procwatch.yaml', './usr/share/man/man1/procwatch.1.gz',
      './usr/share/bash-completion/completions/procwatch', './usr/share/zsh/vendor-completions/_procwatch']) {
      assert.ok(contents.includes(path), `the package holds ${path}`);
    }
    assert.ok(!contents.includes('/dist/test/'), 'no tests in the package');
    assert.ok(!contents.includes('better-sqlite3/deps/'), 'no SQLite sources in the package');

    const install = apt(['install', '--no-install-recommends', deb]);
    assert.equal(install.status, 0, show(install));

    const v = sh('procwatch', ['--version']);
    assert.equal(v.status, 0, show(v));
    assert.equal(v.stdout, `${version}\n`);
    const init = readFileSync('/proc/1/comm', 'utf8').trim();
    const check = sh('/usr/bin/procwatch', ['check', '-f', 'nagios', `comm=${init}:1-1`]);
    assert.equal(check.status, 0, show(check));
    assert.match(check.stdout, /^PROCS OK: /);
    assert.match(sh('getent', ['group', 'procwatch']).stdout, /^procwatch:x:\d+:/, 'postinst added the procwatch group');
    const gid = Number(sh('getent', ['group', 'procwatch']).stdout.split(':')[2]);
    const config = statSync('/etc/procwatch/procwatch.yaml');
    assert.equal(config.mode & 0o777, 0o640);
    assert.equal(config.gid, gid, 'the config belongs to the procwatch group');
    assert.equal(gunzipSync(readFileSync('/usr/share/man/man1/procwatch.1.gz')).toString().replace(/^\.TH .*\n/, ''),
      sh('procwatch', ['manpage']).stdout.replace(/^\.TH .*\n/, ''), 'the man page is the installed CLI\'s');
    assert.equal(readFileSync('/usr/share/bash-completion/completions/procwatch', 'utf8'), sh('procwatch', ['completion', 'bash']).stdout);
    const verify = sh('systemd-analyze', ['verify', '--man=no', '/lib/systemd/system/procwatch.service']);
    if (verify.error === undefined) assert.equal(verify.status, 0, `systemd-analyze verify: ${show(verify)}`);

    // The daemon as the unit starts it, with the packaged config, on a private database and socket.
    const socket = join(work, 'run', 'procwatch.sock');
    const db = join(work, 'lib', 'events.db');
    daemon = spawn('/usr/bin/procwatch', ['daemon', '--config', '/etc/procwatch/procwatch.yaml', '--database', db, '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    daemon.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    const d = daemon;
    await eventually('the packaged daemon to listen', () => log.includes('API on') || d.exitCode !== null, { timeoutMs: 120_000, seen: () => log });
    assert.equal(daemon.exitCode, null, log);
    assert.equal(statSync(socket).gid, gid, 'socket_group: procwatch');
    assert.equal(statSync(socket).mode & 0o777, 0o660);
    const ps = sh('procwatch', ['ps', '--socket', socket, '-o', 'pid,comm']);
    assert.equal(ps.status, 0, show(ps));
    assert.ok(ps.stderr === '', `from the daemon, not /proc: ${ps.stderr}`);
    // A member of the group may ask; anyone else is refused by the socket's mode.
    const member = sh('setpriv', ['--reuid=65534', '--regid=65534', `--groups=${gid}`, '/usr/bin/procwatch', 'stats', '--socket', socket]);
    assert.equal(member.status, 0, show(member));
    assert.match(member.stdout, /^source +\S+, up /m);
    const stranger = sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/procwatch', 'stats', '--socket', socket]);
    assert.equal(stranger.status, 4, show(stranger));
    assert.match(stranger.stderr, /permission denied: run as root or as a member of the socket group/);
    daemon.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => (d.exitCode !== null ? r(d.exitCode) : d.on('exit', (c) => r(c))));
    assert.equal(code, 0, log);
    daemon = null;
  } finally {
    if (daemon !== null) daemon.kill('SIGKILL');
    // Purge only what this test installed: when an earlier step failed before the install, a
    // purge of nothing would fail too and hide that step's own error.
    const installed = /install ok installed/.test(sh('dpkg-query', ['-W', '-f', '${Status}', 'procwatch']).stdout);
    const purge = installed ? apt(['purge', 'procwatch']) : null;
    lock.stdin!.end(); // releases the lock once the package is gone
    rmSync(work, { recursive: true, force: true });
    if (purge !== null) assert.equal(purge.status, 0, show(purge));
  }
  for (const gone of ['/usr/bin/procwatch', '/usr/lib/procwatch', '/etc/procwatch', '/lib/systemd/system/procwatch.service', '/usr/share/man/man1/procwatch.1.gz']) {
    assert.equal(existsSync(gone), false, `${gone} removed`);
  }
  assert.doesNotMatch(sh('dpkg-query', ['-W', '-f', '${Status}', 'procwatch']).stdout, /installed/, 'dpkg forgot it');
});
