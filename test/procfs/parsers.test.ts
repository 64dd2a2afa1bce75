/** The pure /proc parsers, on text in the kernel's own formats. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isKernelThread, isListening, labelDomain, parseCmdline, parseIdFile, parseLabel, parseNetSockets, parseStat, parseStatus, type SocketEntry,
} from '../../src/procfs/index.js';

/** A real stat line's 50 fields after the name, with utime 250, stime 40, 3 threads, start 123456. */
const AFTER_NAME = 'S 1 1234 1234 34816 1234 4194560 1796 0 0 0 250 40 0 0 20 0 3 0 123456 23482368 2048 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n';

test('parseStat: reads the fields by position after the name', () => {
  const s = parseStat(`1234 (cron) ${AFTER_NAME}`);
  assert.ok(s !== null);
  assert.equal(s.pid, 1234);
  assert.equal(s.comm, 'cron');
  assert.equal(s.state, 'S');
  assert.equal(s.ppid, 1);
  assert.equal(s.pgrp, 1234);
  assert.equal(s.session, 1234);
  assert.equal(s.ttyNr, 34816);
  assert.equal(s.flags, 4194560);
  assert.equal(s.utime, 250);
  assert.equal(s.stime, 40);
  assert.equal(s.numThreads, 3);
  assert.equal(s.startTicks, 123456);
  assert.equal(s.vsizeBytes, 23482368);
  assert.equal(s.rssPages, 2048);
});

test('parseStat: a name holding ") (" is cut at the LAST ")"', () => {
  const s = parseStat(`77 (a) b (c) ${AFTER_NAME}`);
  assert.equal(s?.comm, 'a) b (c');
  assert.equal(s?.state, 'S', 'state must come after the real end of the name, not after "a)"');
  assert.equal(s?.ppid, 1);
  assert.equal(s?.startTicks, 123456);
});

test('parseStat: names with spaces and a name that is only ")"', () => {
  assert.equal(parseStat(`710 (tmux: server) ${AFTER_NAME}`)?.comm, 'tmux: server');
  const paren = parseStat(`8 ()) ${AFTER_NAME}`);
  assert.equal(paren?.comm, ')');
  assert.equal(paren?.startTicks, 123456);
});

test('parseStat: a zombie keeps its stat with state Z', () => {
  const z = parseStat(`800 (sh) Z 400 400 400 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 9999000 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0 9\n`);
  assert.equal(z?.state, 'Z');
  assert.equal(z?.ppid, 400);
  assert.equal(z?.startTicks, 9999000);
});

test('parseStat: malformed or short text is null, never a half-filled record', () => {
  for (const bad of [
    '',
    'garbage',
    '12 (x',                        // no closing paren
    '12 (x) S 1 2 3\n',             // truncated after a few fields
    `abc (x) ${AFTER_NAME}`,        // pid is not a number
    `) 12 (x ${AFTER_NAME}`,        // ')' before '('
  ]) {
    assert.equal(parseStat(bad), null, `expected null for ${JSON.stringify(bad.slice(0, 30))}`);
  }
});

const STATUS = [
  'Name:\tsu', 'Umask:\t0022', 'State:\tS (sleeping)', 'Tgid:\t102', 'Ngid:\t0', 'Pid:\t102', 'PPid:\t701', 'TracerPid:\t0',
  'Uid:\t1000\t0\t0\t0', 'Gid:\t1000\t108\t108\t108', 'FDSize:\t64', 'Groups:\t4 24 27 1000 ', 'VmRSS:\t    8192 kB', '',
].join('\n');

test('parseStatus: real, effective, saved, fs ids in order; supplementary groups', () => {
  const s = parseStatus(STATUS);
  assert.ok(s !== null);
  assert.equal(s.name, 'su');
  assert.equal(s.tgid, 102);
  assert.equal(s.ppid, 701);
  assert.deepEqual(s.uids, [1000, 0, 0, 0]);
  assert.deepEqual(s.gids, [1000, 108, 108, 108]);
  assert.deepEqual(s.groups, [4, 24, 27, 1000]);
});

test('parseStatus: an empty Groups line (as the kernel prints it) is no groups', () => {
  assert.deepEqual(parseStatus(STATUS.replace('Groups:\t4 24 27 1000 ', 'Groups:\t '))?.groups, []);
  assert.deepEqual(parseStatus(STATUS.replace('Groups:\t4 24 27 1000 \n', ''))?.groups, []);
});

test('parseStatus: missing or malformed Uid/Gid is null (ids are never guessed)', () => {
  assert.equal(parseStatus(STATUS.replace(/^Gid:.*\n/m, '')), null);
  assert.equal(parseStatus(STATUS.replace(/^Uid:.*$/m, 'Uid:\t1000\t0\t0')), null);
  assert.equal(parseStatus(STATUS.replace(/^Uid:.*$/m, 'Uid:\t1000\tx\t0\t0')), null);
  assert.equal(parseStatus(''), null);
});

test('parseCmdline: NUL-separated arguments, with or without the trailing NUL', () => {
  assert.deepEqual(parseCmdline(Buffer.from('python3\0/usr/bin/foo\0--port\x009090\0')), ['python3', '/usr/bin/foo', '--port', '9090']);
  // A process that rewrote its argv (sshd, postgres) often leaves one string without a NUL.
  assert.deepEqual(parseCmdline(Buffer.from('sshd: alice@pts/0')), ['sshd: alice@pts/0']);
  // An empty argument in the middle is kept.
  assert.deepEqual(parseCmdline(Buffer.from('printf\0\0x\0')), ['printf', '', 'x']);
  assert.deepEqual(parseCmdline(Buffer.from('a b\0')), ['a b'], 'a space inside an argument is not a separator');
});

test('parseCmdline: kernel threads and zombies have an empty cmdline: no arguments', () => {
  assert.deepEqual(parseCmdline(Buffer.alloc(0)), []);
});

test('parseLabel: strips the NUL SELinux appends and AppArmor\'s newline; empty is null', () => {
  assert.equal(parseLabel('system_u:system_r:init_t:s0\0'), 'system_u:system_r:init_t:s0');
  assert.equal(parseLabel('/usr/sbin/cupsd (enforce)\n'), '/usr/sbin/cupsd (enforce)');
  assert.equal(parseLabel('unconfined\n'), 'unconfined');
  assert.equal(parseLabel(''), null);
  assert.equal(parseLabel('\0'), null);
  assert.equal(parseLabel('\n'), null);
});

test('labelDomain: the SELinux type, MLS ranges included; AppArmor profile without its mode', () => {
  assert.equal(labelDomain('system_u:system_r:init_t:s0'), 'init_t');
  assert.equal(labelDomain('system_u:system_r:sshd_t:s0-s0:c0.c1023'), 'sshd_t');
  assert.equal(labelDomain('unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023'), 'unconfined_t');
  assert.equal(labelDomain('/usr/sbin/cupsd (enforce)'), '/usr/sbin/cupsd');
  assert.equal(labelDomain('/usr/bin/man (complain)'), '/usr/bin/man');
  assert.equal(labelDomain('unconfined'), 'unconfined');
});

const TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0',
  '   1: 0F02000A:0016 0202000A:C350 01 00000000:00000000 02:0009C1F2 00000000  1000        0 1010 4 0000000000000000 20 4 1 10 -1',
  '   2: 0100007F:1F90 0100007F:D431 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000',
  '',
].join('\n');

test('parseNetSockets tcp: little-endian IPv4 words, hex ports, state, uid, inode', () => {
  const s = parseNetSockets(TCP, 'tcp');
  assert.equal(s.length, 3);
  assert.deepEqual(s[0], {
    protocol: 'tcp', localAddress: '127.0.0.1', localPort: 22, remoteAddress: '0.0.0.0', remotePort: 0, state: 0x0a, uid: 0, inode: 1001,
  });
  assert.equal(s[1]?.localAddress, '10.0.2.15');
  assert.equal(s[1]?.remoteAddress, '10.0.2.2');
  assert.equal(s[1]?.remotePort, 50000);
  assert.equal(s[1]?.uid, 1000);
  assert.equal(s[2]?.localPort, 8080);
  assert.equal(s[2]?.state, 0x06);
});

test('parseNetSockets tcp6: ::, ::1 and a link-local address, as inet_ntop writes them', () => {
  const text = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0',
    '   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7002 1 0000000000000000 100 0 0 10 0',
    '   2: 000080FE00000000FF27000AA6188CFE:0016 000080FE000000000000000001000000:E6D2 01 00000000:00000000 00:00000000 00000000     0        0 7003 1 0000000000000000 100 0 0 10 0',
    '',
  ].join('\n');
  const s = parseNetSockets(text, 'tcp6');
  assert.deepEqual(s.map((e) => [e.localAddress, e.localPort, e.inode]), [['::', 22, 1002], ['::1', 631, 7002], ['fe80::a00:27ff:fe8c:18a6', 22, 7003]]);
  assert.equal(s[2]?.remoteAddress, 'fe80::1');
  assert.equal(s[2]?.remotePort, 59090);
  assert.ok(s.every((e) => e.protocol === 'tcp6'));
});

test('parseNetSockets udp: bound and connected sockets', () => {
  const text = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  437: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   991        0 8002 2 0000000000000000 0',
    '  600: 0F02000A:A5B2 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 8003 2 0000000000000000 0',
    '',
  ].join('\n');
  const s = parseNetSockets(text, 'udp');
  assert.deepEqual(s.map((e) => `${e.localAddress}:${e.localPort}>${e.remoteAddress}:${e.remotePort}/${e.uid}`), [
    '127.0.0.53:53>0.0.0.0:0/991',
    '10.0.2.15:42418>8.8.8.8:53/1000',
  ]);
});

test('parseNetSockets: header only, blank and malformed lines give no entries', () => {
  assert.deepEqual(parseNetSockets(TCP.split('\n')[0]!, 'tcp'), []);
  assert.deepEqual(parseNetSockets('', 'tcp'), []);
  const junk = `${TCP.split('\n')[0]}\n   0: 7F:0016 00000000:0000 0A 0:0 0:0 0 0 0 5\n   1: nonsense\n`;
  assert.deepEqual(parseNetSockets(junk, 'tcp'), [], 'an address of the wrong width is skipped');
});

test('isListening: TCP only in LISTEN; UDP only bound and unconnected', () => {
  const base: SocketEntry = { protocol: 'tcp', localAddress: '0.0.0.0', localPort: 22, remoteAddress: '0.0.0.0', remotePort: 0, state: 0x0a, uid: 0, inode: 1 };
  assert.equal(isListening(base), true);
  assert.equal(isListening({ ...base, protocol: 'tcp6' }), true);
  assert.equal(isListening({ ...base, state: 0x01 }), false, 'ESTABLISHED');
  assert.equal(isListening({ ...base, state: 0x06 }), false, 'TIME_WAIT');
  assert.equal(isListening({ ...base, protocol: 'udp', state: 0x07 }), true);
  assert.equal(isListening({ ...base, protocol: 'udp6', state: 0x07 }), true);
  assert.equal(isListening({ ...base, protocol: 'udp', state: 0x01, remotePort: 53 }), false, 'a connected UDP socket');
  assert.equal(isListening({ ...base, protocol: 'udp', state: 0x0a }), false, 'state 0A means nothing for UDP');
});

test('parseIdFile: names and ids both ways; the first name of a shared id wins', () => {
  const ids = parseIdFile('root:x:0:0:root:/root:/bin/bash\n# comment\n\ntoor:x:0:0::/root:/bin/sh\nbad line\nalice:x:1000:1000::/home/alice:/bin/bash\n');
  assert.equal(ids.byName.get('alice'), 1000);
  assert.equal(ids.byName.get('toor'), 0);
  assert.equal(ids.byId.get(0), 'root');
  assert.equal(ids.byId.size, 2);
});

test('isKernelThread: the PF_KTHREAD bit of stat\'s flags, whatever the pid or parent', () => {
  const line = (pid: number, ppid: number, flags: number): string => `${pid} (x) ${AFTER_NAME.replace('S 1 1234 1234 34816 1234 4194560', `S ${ppid} 1234 1234 34816 1234 ${flags}`)}`;
  assert.equal(isKernelThread(parseStat(line(2, 0, 0x208040))!), true, 'kthreadd');
  assert.equal(isKernelThread(parseStat(line(77, 2, 0x04208060))!), true, 'a kworker');
  assert.equal(isKernelThread(parseStat(line(2, 1, 0x400100))!), false, 'pid 2 of a container');
  assert.equal(isKernelThread(parseStat(line(3, 2, 0x400100))!), false, 'a child of that pid 2');
  assert.equal(isKernelThread(parseStat(line(9, 1, 0x80600100))!), true, 'bit 31 set as well');
  assert.equal(parseStat(line(9, 1, NaN)), null, 'unreadable flags: a malformed line');
});
