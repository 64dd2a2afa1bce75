/** Event lines as `watch` and `events` print them, and the JSON form, on hand-made events and records. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcEvent, SocketFields } from '../../src/events/types.js';
import { UserDb } from '../../src/procfs/index.js';
import { captureText, eventJson, eventLine } from '../../src/report/index.js';
import { eventObjectLine } from '../../src/report/processes.js';
import { newRecord, type ProcessRecord } from '../../src/table/record.js';
import { ETC_ROOT } from '../fixtures/paths.js';

const users = new UserDb(ETC_ROOT);
const base = { seq: 1, ktimeNs: 5e9, pid: 4242, tid: 4242, cpu: 0, provenance: 'observed' as const, key: '4242:100' };
const WALL = Date.UTC(2026, 10, 23, 12, 0, 0);

function record(over: Partial<ProcessRecord> = {}): ProcessRecord {
  return { ...newRecord(4242, 100, '4242:100', 'observed'), ppid: 1, comm: 'curl', argv: ['curl', 'http://x/'], uids: [0, 0, 0, 0], gids: [0, 0, 0, 0], ...over };
}

const line = (event: ProcEvent, r: ProcessRecord | undefined = record()): string => eventLine({ event, record: r, wallMs: WALL }, users);

const socket = (over: Partial<SocketFields> = {}): SocketFields => ({
  family: 'ipv4', protocol: 'tcp', localAddress: '127.0.0.1', localPort: 40000, remoteAddress: '127.0.0.1', remotePort: 22,
  fd: 3, result: 0, error: null, uid: 0, cgroupId: 1, ...over,
});

test('connect and accept: peer, protocol, and an outcome that tells "in progress" from "failed"', () => {
  assert.equal(captureText({ ...base, kind: 'connect', ...socket() }), 'connect to 127.0.0.1:22 tcp');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ result: -115, error: 'EINPROGRESS' }) }), 'connect to 127.0.0.1:22 tcp (in progress)');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ result: -111, error: 'ECONNREFUSED' }) }), 'connect to 127.0.0.1:22 tcp failed: ECONNREFUSED');
  assert.equal(captureText({ ...base, kind: 'accept', ...socket({ family: 'ipv6', remoteAddress: '::1', remotePort: 5555 }) }), 'accepted from [::1]:5555 tcp');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ protocol: null }) }), 'connect to 127.0.0.1:22 unknown protocol');
  assert.match(line({ ...base, kind: 'connect', ...socket() }), /connect\s+4242\s+1 root\s+connect to 127\.0\.0\.1:22 tcp: curl http:\/\/x\/$/);
});

test('open: path, flag names, and the fd or the error', () => {
  const open = { ...base, kind: 'open' as const, path: '/etc/shadow', pathTruncated: false, dirFd: null, flags: 0, flagNames: ['O_RDONLY'], mode: 0, result: 3, error: null, uid: 0, cgroupId: 1 };
  assert.equal(captureText(open), 'open /etc/shadow O_RDONLY fd 3');
  assert.equal(captureText({ ...open, result: -13, error: 'EACCES' }), 'open /etc/shadow O_RDONLY failed: EACCES');
  // `procwatch events` renders the API's objects with the same words.
  assert.match(eventObjectLine({ ...open, time: '2026-11-23T12:00:00.000Z' }), /^2026-11-23T12:00:00\.000Z open\s+4242 4242:100\s+open \/etc\/shadow O_RDONLY fd 3$/);
});

test('a fork whose child already exec\'d names no command: at the fork it still ran its parent\'s image', () => {
  const fork: ProcEvent = { ...base, kind: 'fork', parentPid: 1, parentTid: 1, thread: false };
  assert.match(line(fork, record({ inheritedImage: false })), /fork\s+4242\s+1 root\s+forked by 1$/);
  assert.match(line(fork, record({ inheritedImage: true, argv: ['bash'], comm: 'bash' })), /forked by 1\)$/);
  assert.match(line(fork, record({ inheritedImage: true, argv: ['bash'], comm: 'bash' })), /root\s+bash \(forked by 1\)$/);
});

test('exits: code or signal (and core), lifetime; the JSON form carries the process and lifetimeNs', () => {
  const r = record({ startNs: 1e9, exitNs: 3.5e9 });
  const exit: ProcEvent = { ...base, kind: 'exit', status: { code: null, signal: 11, coreDumped: true }, rawCode: 0x8b, parentPid: 1 };
  assert.match(line(exit, r), /exit\s+4242\s+1 root\s+curl killed by signal 11 \(core dumped\), lived 2\.50s$/);
  const json = eventJson({ event: exit, record: r, wallMs: WALL }, users);
  assert.equal(json.time, '2026-11-23T12:00:00.000Z');
  assert.equal(json.lifetimeNs, 2.5e9);
  assert.deepEqual((json.process as { user: string }).user, 'root');
});

test('a lost event says how many and why, with or without a count', () => {
  assert.match(line({ ...base, kind: 'lost', count: 12, reason: 'eBPF ring buffer full' }, undefined), /!! LOST 12 event\(s\): eBPF ring buffer full; table resynced from \/proc$/);
  assert.match(line({ ...base, kind: 'lost', count: null, reason: 'ENOBUFS' }, undefined), /!! LOST an unknown number of event\(s\)/);
});

test('a new thread is shown as a thread of its own process, not of the parent its fork event names', () => {
  // cn_proc: a thread's fork event carries the process's own parent (1 here), the thread's tgid as pid.
  const t: ProcEvent = { ...base, tid: 4250, kind: 'fork', parentPid: 1, parentTid: 1, thread: true };
  assert.match(line(t), /fork\s+4242\s+1 root\s+thread 4250 of 4242$/);
});

test('an exec found by a /proc scan says so', () => {
  const details = { comm: 'x', exe: null, argv: ['x', '-y'], argvTruncated: false, cwd: null, ppid: 1, uids: null, gids: null, startTicks: 100, label: null, cgroup: null };
  assert.match(line({ ...base, kind: 'exec', provenance: 'inferred', details }), /exec\s+4242\s+1 root\s+x -y \(new image, found by \/proc scan\)$/);
  assert.match(line({ ...base, kind: 'exec', details }), /root\s+x -y$/);
});
