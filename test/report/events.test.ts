/** Event lines as `watch` and `events` print them, and the JSON form, on hand-made events and records. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcEvent, SocketFields } from '../../src/events/types.js';
import { UserDb } from '../../src/procfs/index.js';
import { captureText, eventJson, eventLine, eventLineHeader } from '../../src/report/index.js';
import { apiEventLine } from '../../src/report/index.js';
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

test('connect and accept: peer, protocol, and what the connect returned: connected, refused, in progress, or the error', () => {
  assert.equal(captureText({ ...base, kind: 'connect', ...socket() }), 'connect to 127.0.0.1:22 tcp: connected');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ result: -115, error: 'EINPROGRESS' }) }), 'connect to 127.0.0.1:22 tcp: in progress');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ result: -111, error: 'ECONNREFUSED' }) }), 'connect to 127.0.0.1:22 tcp: refused');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ result: -110, error: 'ETIMEDOUT' }) }), 'connect to 127.0.0.1:22 tcp: timed out');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ result: -101, error: 'ENETUNREACH' }) }), 'connect to 127.0.0.1:22 tcp: unreachable (ENETUNREACH)');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ result: -13, error: 'EACCES' }) }), 'connect to 127.0.0.1:22 tcp: failed: EACCES');
  assert.equal(captureText({ ...base, kind: 'accept', ...socket({ family: 'ipv6', remoteAddress: '::1', remotePort: 5555 }) }), 'accepted from [::1]:5555 tcp');
  assert.equal(captureText({ ...base, kind: 'connect', ...socket({ protocol: null }) }), 'connect to 127.0.0.1:22 unknown protocol: connected');
  assert.match(line({ ...base, kind: 'connect', ...socket() }), /connect\s+4242\s+1 root\s+connect to 127\.0\.0\.1:22 tcp: connected: curl http:\/\/x\/$/);
});

test('open: path, flag names, and the fd or the error', () => {
  const open = { ...base, kind: 'open' as const, path: '/etc/shadow', pathTruncated: false, dirFd: null, flags: 0, flagNames: ['O_RDONLY'], mode: 0, result: 3, error: null, uid: 0, cgroupId: 1 };
  assert.equal(captureText(open), 'open /etc/shadow O_RDONLY fd 3');
  assert.equal(captureText({ ...open, result: -13, error: 'EACCES' }), 'open /etc/shadow O_RDONLY failed: EACCES');
  // `procwatch events` renders the API's objects with the same words.
  assert.match(apiEventLine({ ...open, time: "2026-11-23T12:00:00.000Z" }, users, { time: { utc: true }, style: { color: false, width: null }, dated: true }), /^2026-11-23 12:00:00\.000Z open\s+4242\s+-\s+-\s+open \/etc\/shadow O_RDONLY fd 3: \(unknown\)$/);
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
  assert.match(line(exit, r), /exit\s+4242\s+1 root\s+curl killed by SIGSEGV \(core dumped\), lived 2\.50s$/);
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

/** `events` renders what the API sends: the event, and its process as the store last recorded it. */
const EVENTS_UTC = { time: { utc: true }, style: { color: false, width: null }, dated: true };
const stored = (e: Record<string, unknown>, process: Record<string, unknown> | null = { comm: 'curl', argv: ['curl', 'http://x/'], ppid: 1, uid: 0, execTime: null }): string =>
  apiEventLine({ time: '2026-11-23T12:00:00.000Z', seq: 5, pid: 4242, tid: 4242, key: '4242:100', ...e, ...(process === null ? {} : { process }) }, users, EVENTS_UTC);

test('events: the same columns and words as watch, with the date; names, lifetimes and signal names from the stored process', () => {
  assert.match(eventLineHeader(EVENTS_UTC), /^TIME\s+EVENT\s+PID\s+PPID USER\s+WHAT$/);
  assert.equal(stored({ kind: 'exit', status: { code: 0, signal: null, coreDumped: false }, parentPid: 1, lifetimeNs: 2.5e9 }),
    '2026-11-23 12:00:00.000Z exit              4242       1 root      curl exit code 0, lived 2.50s');
  assert.match(stored({ kind: 'exit', status: { code: null, signal: 11, coreDumped: true }, parentPid: 1 }), /root {6}curl killed by SIGSEGV \(core dumped\)$/);
  assert.match(stored({ kind: 'inferred_exit', startTicks: 100, lifetimeNs: 60e9 }), /inferred_exit +4242 +1 root +curl gone \(found by \/proc scan\), lived 1m00s$/);
  assert.match(stored({ kind: 'fork', parentPid: 8775, parentTid: 8775, thread: false }), /fork +4242 +8775 root +curl http:\/\/x\/ \(forked by 8775\)$/);
  // It exec'd later: the stored command is the later image, so the fork names none.
  assert.match(stored({ kind: 'fork', parentPid: 8775, parentTid: 8775, thread: false }, { comm: 'curl', argv: ['curl'], ppid: 8775, uid: 0, execTime: '2026-11-23T12:00:00.001Z' }), /root +forked by 8775$/);
  assert.match(stored({ kind: 'lost', count: null, reason: 'ENOBUFS' }, null), /!! LOST an unknown number of event\(s\): ENOBUFS; table resynced from \/proc$/);
  assert.match(stored({ kind: 'lost', seq: 0, count: 3, reason: 'not watched from A to B' }, null), /!! LOST 3 event\(s\): not watched from A to B$/);
  const details = { comm: 'sh', exe: '/bin/sh', argv: ['sh', '-c', 'sleep 1', ''], argvTruncated: false, cwd: '/', ppid: 77, uids: [600, 600, 600, 600], gids: null, startTicks: 100, label: null, cgroup: null };
  assert.match(stored({ kind: 'exec', details }), /exec +4242 +77 bob +sh -c 'sleep 1' ''$/);
  assert.match(stored({ kind: 'inferred_start', details }), /sh -c 'sleep 1' '' \(running, found by \/proc scan\)$/);
});

test('times: local by default, UTC marked Z with --utc', () => {
  const local = stored({ kind: 'sid' }).slice(0, 23);
  const t = new Date('2026-11-23T12:00:00.000Z');
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const expected = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.000`;
  assert.equal(apiEventLine({ time: t.toISOString(), kind: 'sid', pid: 1, tid: 1 }, users, { ...EVENTS_UTC, time: { utc: false } }).slice(0, 23), expected);
  assert.equal(local, '2026-11-23 12:00:00.000Z'.slice(0, 23));
});
