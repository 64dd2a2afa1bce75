/** The daemon section of the config file (README "Daemon configuration"): every key, and one clear line per mistake. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAEMON_DEFAULTS, parseDaemonConfig } from '../../src/config/daemon.js';
import { InputError } from '../../src/errors.js';

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
  retention: { max_age: 12h, max_size: 512MiB }
  rcvbuf: 4MiB
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
  assert.equal(c.rcvbufBytes, 4 * 1024 ** 2);
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
    ['daemon:\n  http: { listen: "0.0.0.0:80", token: "0123456789abcdef" }\n', /daemon\.http\.listen: expected a loopback address/],
    ['daemon:\n  http: { listen: "127.0.0.1:9465", token: short }\n', /daemon\.http\.token: expected at least 16 characters/],
    ['daemon:\n  hold_ms: 0\n', /daemon\.hold_ms: expected a number ≥ 1/],
    ['daemon: [1, 2]\n', /daemon: expected a mapping/],
    ['daemon:\n  rcvbuf: [\n', /YAML/],
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
