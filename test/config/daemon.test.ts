/** The daemon section of the config file (README "Daemon configuration"): every key, and one clear line per mistake. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_DEFAULTS, daemonPathsProblem, parseDaemonConfig } from '../../src/config/daemon.js';
import { InputError } from '../../src/errors.js';
import { UserDb } from '../../src/procfs/index.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');

const parse = (text: string) => parseDaemonConfig(text, 'test.yaml');

test('no daemon section: the built-in defaults', async () => {
  assert.deepEqual(await parse('checks: {}\n'), DAEMON_DEFAULTS);
  assert.equal(DAEMON_DEFAULTS.source, 'auto');
  assert.deepEqual(DAEMON_DEFAULTS.ebpf, {}, 'no network or file capture unless asked');
});

test('every key, with units', async () => {
  const c = await parse(`
daemon:
  source: ebpf
  database: /tmp/x.db
  socket: /tmp/x.sock
  socket_group: adm
  retention: { max_age: 12h, max_size: 512MiB, interval: 5m }
  rcvbuf: 4MiB
  reader_priority: 0
  hold_ms: 50
  max_exited: 500
  flush_interval_ms: 100
  max_queue: 5000
  poll_interval_ms: 250
  http: { listen: "127.0.0.1:9465", token: "0123456789abcdef" }
  ebpf:
    network: true
    files: true
    path_prefix: /etc/
    user: root
    cgroup: /sys/fs/cgroup
    ring_buffer: 16MiB
`);
  assert.equal(c.source, 'ebpf');
  assert.equal(c.retentionMaxAgeMs, 12 * 3_600_000);
  assert.equal(c.retentionMaxBytes, 512 * 1024 ** 2);
  assert.equal(c.retentionIntervalMs, 5 * 60_000);
  assert.equal(c.socketGroup, new UserDb().group.byName.get('adm'), 'the group is resolved to its gid');
  assert.equal((await parse('daemon:\n  socket_group: 4321\n')).socketGroup, 4321, 'a gid by number');
  assert.equal(c.rcvbufBytes, 4 * 1024 ** 2);
  assert.equal(c.readerPriority, 0, '0: the reader thread at normal priority');
  assert.equal((await parse('daemon:\n  source: netlink\n')).readerPriority, 10, 'SCHED_FIFO 10 by default');
  assert.equal(c.httpListen, '127.0.0.1:9465');
  assert.deepEqual(c.ebpf, { network: true, files: true, pathPrefix: '/etc/', uid: 0, cgroupPath: '/sys/fs/cgroup', ringBytes: 16 * 1024 ** 2 });
  assert.equal((await parse('daemon:\n  ebpf: { user: 65534 }\n')).ebpf.uid, 65534, 'a uid by number');
  assert.equal((await parse('daemon:\n  retention: { max_age: none }\n')).retentionMaxAgeMs, null);
});

test('each mistake is one InputError line naming the file and the key', async () => {
  const cases: Array<[string, RegExp]> = [
    ['daemon:\n  source: carrier-pigeon\n', /daemon\.source: expected auto, ebpf, netlink, poll/],
    ['daemon:\n  sauce: auto\n', /daemon: unknown key 'sauce'/],
    ['daemon:\n  ebpf: yes-please\n', /daemon\.ebpf: expected a mapping/],
    ['daemon:\n  ebpf: { network: maybe }\n', /daemon\.ebpf\.network: expected true or false/],
    ['daemon:\n  ebpf: { sockets: true }\n', /daemon\.ebpf: unknown key 'sockets'/],
    ['daemon:\n  ebpf: { user: no-such-user-xyz }\n', /daemon\.ebpf\.user: unknown user 'no-such-user-xyz'/],
    ['daemon:\n  ebpf: { ring_buffer: 5000 }\n', /daemon\.ebpf: the eBPF ring buffer size must be a power of 2/],
    ['daemon:\n  ebpf: { ring_buffer: lots }\n', /daemon\.ebpf\.ring_buffer: expected a size/],
    ['daemon:\n  ebpf: { path_prefix: "' + 'x'.repeat(300) + '" }\n', /daemon\.ebpf: the path prefix must be 1 to 255 bytes/],
    ['daemon:\n  ebpf: { cgroup: /no/such/dir }\n', /daemon\.ebpf: the cgroup '\/no\/such\/dir' is not a directory/],
    ['daemon:\n  http: { listen: "0.0.0.0:80", token: "0123456789abcdef" }\n', /daemon\.http\.listen: 0\.0\.0\.0:80 is not a loopback address: listening there needs daemon\.http\.tls/],
    ['daemon:\n  http: { listen: "127.0.0.1:9465", token: short }\n', /daemon\.http\.token: expected at least 16 characters/],
    ['daemon:\n  hold_ms: 0\n', /daemon\.hold_ms: expected a number ≥ 1/],
    ['daemon:\n  reader_priority: 100\n', /daemon\.reader_priority: expected an integer ≥ 0 and ≤ 99/],
    ['daemon:\n  reader_priority: 2.5\n', /daemon\.reader_priority: expected an integer ≥ 0 and ≤ 99/],
    ['daemon: [1, 2]\n', /daemon: expected a mapping/],
    ['daemon:\n  rcvbuf: [\n', /YAML/],
    ['daemon:\n  socket_group: no-such-group-xyz\n', /daemon\.socket_group: unknown group 'no-such-group-xyz'/],
    ['daemon:\n  flush_interval_ms: 2147483648\n', /daemon\.flush_interval_ms: at most 2147483647 ms/],
    ['daemon:\n  poll_interval_ms: 9e15\n', /daemon\.poll_interval_ms: at most 2147483647 ms/],
    ['daemon:\n  hold_ms: 3000000000\n', /daemon\.hold_ms: at most 2147483647 ms/],
    ['daemon:\n  retention: { interval: 30d }\n', /daemon\.retention\.interval: at most 2147483647 ms/],
    [`daemon:\n  retention: { max_age: ${'9'.repeat(400)}d }\n`, /daemon\.retention\.max_age: expected a duration/],
    [`daemon:\n  socket: /tmp/${'s'.repeat(120)}.sock\n`, /daemon\.socket: the socket path is 130 bytes; a unix socket path can have at most 107/],
    ['daemon:\n  socket: /proc/procwatch/api.sock\n', /daemon\.socket: '\/proc\/procwatch\/api.sock' is under \/proc, a kernel file system/],
    ['daemon:\n  database: /sys/events.db\n', /daemon\.database: '\/sys\/events.db' is under \/sys/],
    ['daemon:\n  database: /tmp/x.db\n  socket: /tmp/x.db\n', /daemon\.socket: the socket path '\/tmp\/x.db' is the database/],
    ['daemon:\n  database: /tmp/x.db\n  socket: /tmp/../tmp/x.db-wal\n', /daemon\.socket: .* is the database's -wal file/],
  ];
  for (const [text, message] of cases) {
    await assert.rejects(parse(text), (err: Error) => {
      assert.ok(err instanceof InputError, `${text}: ${err.message}`);
      assert.match(err.message, /^config test\.yaml: /);
      assert.match(err.message, message);
      assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
      return true;
    }, text);
  }
});

test('the config the package installs is valid and holds the defaults, but for the procwatch socket group', async () => {
  const file = join(ROOT, 'packaging/procwatch.yaml');
  const text = readFileSync(file, 'utf8');
  // The package's postinst adds the group; this machine need not have it.
  assert.match(text, /^ {2}socket_group: procwatch /m);
  assert.deepEqual(await parseDaemonConfig(text.replace(/^ {2}socket_group: procwatch .*\n/m, ''), file), DAEMON_DEFAULTS);
  const unit = readFileSync(join(ROOT, 'packaging/procwatch.service'), 'utf8');
  assert.match(unit, /^RestartPreventExitStatus=2 4$/m, 'exit 2 and 4 are not fixed by restarting');
  assert.match(unit, /^CapabilityBoundingSet=.*CAP_NET_ADMIN.*CAP_BPF.*CAP_PERFMON/m);
  assert.match(unit, /^StateDirectoryMode=0750$/m);
  assert.match(unit, /if \[ -e \/etc\/procwatch\/procwatch.yaml \]; then exec .* daemon --config \/etc\/procwatch\/procwatch.yaml; else exec .* daemon; fi/);
});

test('paths given on the command line are checked like the file\'s', () => {
  const ok = { ...DAEMON_DEFAULTS };
  assert.equal(daemonPathsProblem(ok), null);
  assert.deepEqual(daemonPathsProblem({ ...ok, socket: ok.database }), { key: 'socket', message: `the socket path '${ok.database}' is the database (${ok.database})` });
  assert.equal(daemonPathsProblem({ ...ok, socket: `/run/${'x'.repeat(101)}.s` })?.key, 'socket', '107 bytes is the most: 108 is refused');
  assert.equal(daemonPathsProblem({ ...ok, socket: `/run/${'x'.repeat(100)}.s` }), null, '107 bytes fit');
  assert.equal(daemonPathsProblem({ ...ok, database: '/proc/1/events.db' })?.key, 'database');
});

test('systemd accepts the unit (systemd-analyze verify)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) {
    console.error('daemon config test: SKIPPED systemd-analyze verify: systemd-analyze is not installed (apt-get install systemd)');
    t.skip('systemd-analyze is not installed');
    return;
  }
  const unit = join(ROOT, 'packaging/procwatch.service');
  // --man=no: the unit names its man page, which only the package installs.
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8', timeout: 30_000 });
  // verify reports problems of the unit file as "FILE:LINE: ..." (some only as warnings, exit 0).
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('procwatch.service'));
  assert.deepEqual(problems, []);
  assert.equal(r.status, 0, r.stderr);
});
