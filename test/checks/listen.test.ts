/**
 * Listen checks on the fake tree's socket tables (no connection is made). Listening there:
 * tcp 0.0.0.0:22 (sshd, inode 1001) and [::]:22 (sshd, 1002); 0.0.0.0:25 (Postfix master, 2001);
 * 127.0.0.1:631 and [::1]:631 (cupsd); [::1]:9090 only on tcp6 (python3 /usr/bin/foo); udp
 * 0.0.0.0:68 and 127.0.0.53:53; tcp6 [::ffff:127.0.0.1]:5432 (IPv4-mapped). Not listening:
 * 127.0.0.1:8080 in TIME_WAIT, a connected udp socket.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListenCheck, parseListenSpec, type CheckResult } from '../../src/checks/index.js';
import { canonicalAddress } from '../../src/procfs/index.js';
import { InputError } from '../../src/errors.js';
import { PROC_ROOT, runOnFixture } from '../fixtures/paths.js';

async function listen(spec: string, procRoot = PROC_ROOT): Promise<CheckResult> {
  const [result] = await runOnFixture([new ListenCheck(parseListenSpec(spec))], { procRoot });
  assert.ok(result !== undefined);
  return result;
}

test('a port listening on tcp and tcp6 is ok, with both sockets in the result', async () => {
  const r = await listen('22/tcp');
  assert.equal(r.status, 'ok');
  assert.equal(r.id, 'listen 22/tcp');
  assert.deepEqual(r.data.sockets, [
    { protocol: 'tcp', address: '0.0.0.0', port: 22, inode: 1001, uid: 0 },
    { protocol: 'tcp6', address: '::', port: 22, inode: 1002, uid: 0 },
  ]);
  assert.deepEqual(r.perf, [{ label: 'tcp_22_listeners', value: 2, unit: '', warn: '', crit: '1:', min: 0, max: null }]);
  assert.equal((await listen('25')).status, 'ok', 'tcp is the default');
});

test('a port listening only on tcp6 counts for tcp', async () => {
  const r = await listen('9090/tcp');
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.data.sockets, [{ protocol: 'tcp6', address: '::1', port: 9090, inode: 9001, uid: 65534 }]);
  assert.equal((await listen('[::1]:9090')).status, 'ok');
});

test('nothing listening is critical: "nothing listens on tcp port N"', async () => {
  const r = await listen('8080/tcp');
  assert.equal(r.status, 'critical', 'a TIME_WAIT socket on 8080 is not a listener');
  assert.equal(r.summary, 'tcp/8080:closed');
  assert.deepEqual(r.details, ['nothing listens on tcp port 8080']);
  assert.equal(r.perf[0]?.value, 0);
  assert.deepEqual((await listen('22/udp')).details, ['nothing listens on udp port 22']);
});

test('an address narrows the match; a wildcard listener serves every address', async () => {
  assert.equal((await listen('127.0.0.1:631')).status, 'ok');
  assert.equal((await listen('10.0.2.15:22')).status, 'ok', '0.0.0.0:22 accepts on 10.0.2.15');
  const r = await listen('127.0.0.1:9090');
  assert.equal(r.status, 'critical', '9090 listens on ::1 only');
  assert.deepEqual(r.details, ['nothing listens on tcp port 9090 on 127.0.0.1']);
});

test('udp: a bound socket listens, a connected one does not', async () => {
  assert.equal((await listen('53/udp')).status, 'ok');
  assert.equal((await listen('68/udp')).status, 'ok');
  const connected = await listen('42418/udp');
  assert.equal(connected.status, 'critical');
  assert.equal(connected.summary, 'udp/42418:closed');
});

test('owner selectors: the socket inode is mapped to the process holding it', async () => {
  const sshd = await listen('22/tcp@name=sshd');
  assert.equal(sshd.status, 'ok');
  assert.deepEqual(sshd.processes.map((p) => [p.pid, p.name]), [[100, 'sshd']], 'one holder for both sockets; the session\'s connection is not a listener');
  assert.equal((await listen('25/tcp@exe=/usr/lib/postfix/sbin/master')).status, 'ok');
  assert.equal((await listen('25/tcp@name=master,user=root')).status, 'ok');
  assert.equal((await listen('9090/tcp@name=foo')).status, 'ok', 'an interpreter owner is named after its script');
  assert.equal((await listen('631@domain=/usr/sbin/cupsd')).status, 'ok');
});

test('owner selectors: the wrong owner is critical and says who holds the port', async () => {
  const r = await listen('22/tcp@user=nobody');
  assert.equal(r.status, 'critical');
  assert.equal(r.summary, 'tcp/22:wrong-owner');
  assert.deepEqual(r.details, ['tcp port 22 is listening, but not held by a process matching user=nobody (held by sshd[100])']);
  const other = await listen('25/tcp@exe=/opt/acme/bin/master');
  assert.equal(other.status, 'critical', 'the other "master" does not hold port 25');
  assert.deepEqual(other.details, ['tcp port 25 is listening, but not held by a process matching exe=/opt/acme/bin/master (held by master[200])']);
  const nobody = await listen('68/udp@name=dhclient');
  assert.deepEqual(nobody.details, ['udp port 68 is listening, but not held by a process matching name=dhclient (held by no readable process)']);
});

test('bad listen specs are one-line InputErrors', () => {
  for (const [spec, pattern] of [
    ['0', /^bad port '0' in listen check '0' \(expected 1-65535\)$/],
    ['70000/tcp', /^bad port '70000'/],
    ['22/sctp', /^bad protocol 'sctp'/],
    ['22@', /^empty owner after '@'/],
    ['22@uid=0', /^unknown selector 'uid'/],
    ['x:22', /^bad address 'x' in listen check 'x:22' \(expected an IP address such as 127\.0\.0\.1 or \[::1\]\)$/],
    ['localhost:22', /^bad address 'localhost'/],
    ['[::g]:22', /^bad address '\[::g\]:22' in listen check/],
    ['[1.2.3]:22', /^bad address '1\.2\.3' in listen check/],
    ['22@args~(', /^bad regular expression for 'args'/],
    ['22@name=foo[', /^bad glob 'foo\['/],
    ['22@args~"a,b', /^unterminated quote/],
  ] as const) {
    assert.throws(() => parseListenSpec(spec), (err: unknown) => err instanceof InputError && pattern.test(err.message) && !err.message.includes('\n'), spec);
  }
});

test('addresses compare in one spelling: an IPv4-mapped socket serves its IPv4 address', async () => {
  assert.equal(canonicalAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalAddress('::FFFF:7F00:1'), '127.0.0.1');
  assert.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalAddress('10.0.2.15'), '10.0.2.15');
  assert.equal(canonicalAddress('example.org'), null);
  for (const spec of ['127.0.0.1:5432', '[::ffff:127.0.0.1]:5432', '[::ffff:7f00:1]:5432', '5432']) {
    const r = await listen(spec);
    assert.equal(r.status, 'ok', spec);
    assert.deepEqual(r.data.sockets, [{ protocol: 'tcp6', address: '::ffff:7f00:1', port: 5432, inode: 5001, uid: 0 }], spec);
  }
  assert.equal((await listen('10.0.2.15:5432')).status, 'critical', 'bound to loopback only');
  assert.equal((await listen('[0:0::1]:631')).status, 'ok', 'IPv6 written longhand');
});

test('wildcards: 0.0.0.0 serves IPv4 only; :: serves IPv6, and IPv4 unless net.ipv6.bindv6only is set', async (t) => {
  // Port 25 listens on 0.0.0.0 only; 22 on both 0.0.0.0 and ::.
  assert.equal((await listen('[::1]:25')).status, 'critical', 'an IPv4 wildcard does not accept IPv6 connections');
  assert.equal((await listen('[::1]:22')).status, 'ok');
  assert.equal((await listen('0.0.0.0:25')).status, 'ok', 'the wildcard itself');
  assert.equal((await listen('0.0.0.0:631')).status, 'critical', 'loopback-only is not every address');
  assert.equal((await listen('[::]:22')).status, 'ok');
  assert.equal((await listen('[::]:25')).status, 'critical');

  // A tree where port 8443 listens on :: only.
  const root = mkdtempSync(join(tmpdir(), 'pw-v6only-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net'));
  mkdirSync(join(root, 'sys/net/ipv6'), { recursive: true });
  writeFileSync(join(root, 'uptime'), '100.00 100.00\n');
  writeFileSync(join(root, 'net/tcp'), readFileSync(join(PROC_ROOT, 'net/tcp'), 'utf8').split('\n')[0] + '\n');
  const tcp6 = readFileSync(join(PROC_ROOT, 'net/tcp6'), 'utf8').split('\n');
  writeFileSync(join(root, 'net/tcp6'), `${tcp6[0]}\n${tcp6[1]!.replace(':0016 ', ':20FB ')}\n`);
  writeFileSync(join(root, 'sys/net/ipv6/bindv6only'), '0\n');
  assert.equal((await listen('127.0.0.1:8443', root)).status, 'ok', 'dual-stack by default');
  writeFileSync(join(root, 'sys/net/ipv6/bindv6only'), '1\n');
  assert.equal((await listen('127.0.0.1:8443', root)).status, 'critical', 'bindv6only=1: :: is IPv6 only');
  assert.equal((await listen('[::1]:8443', root)).status, 'ok');
});

test('owner selectors are split like a spec\'s: a quoted value keeps its commas', async () => {
  const r = await listen('22/tcp@args~"^sshd: [^,]+ startups$",name=sshd');
  assert.equal(r.status, 'ok');
  assert.deepEqual(parseListenSpec('22@args~"a,b",user=root').owner, [{ key: 'args', op: '~', value: 'a,b' }, { key: 'user', op: '=', value: 'root' }]);
});
