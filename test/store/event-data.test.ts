/**
 * The `data` column is the text JSON.stringify gives an event without its column fields, to the
 * byte: the key-by-key writer in the store gives the same text for every kind of event, with
 * absent and undefined members, nested objects, and strings that need escaping.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventData } from '../../src/store/store.js';
import type { ProcEvent } from '../../src/events/types.js';

const base = { seq: 7, ktimeNs: 123_456_789, pid: 42, tid: 43, cpu: 1, provenance: 'observed' as const };
const awkward = 'quote " backslash \\ newline \n tab \t nul \u0000 del \u007f bmp é astral 😀 lone \ud800 sep \u2028';

const EVENTS: ProcEvent[] = [
  { ...base, kind: 'fork', parentPid: 1, parentTid: 1, thread: false, startTicks: 99, startBootNs: 990_000, key: '42:99' },
  { ...base, kind: 'fork', parentPid: 1, parentTid: 1, thread: true },
  {
    ...base, kind: 'exec', key: '42:99', details: {
      comm: awkward, exe: '/tmp/x"y', argv: ['a', awkward, ''], argvTruncated: true, cwd: null, ppid: 1, uids: [0, 1, 2, 3],
      gids: [4, 5, 6, 7], startTicks: 99, label: null, cgroup: '0::/', cgroupId: 12, filename: undefined, startBootNs: null,
    },
  },
  { ...base, kind: 'exit', status: { code: null, signal: 9, coreDumped: true }, rawCode: 137, parentPid: null, comm: undefined, key: null },
  { ...base, kind: 'uid', ruid: 0, euid: 1000 },
  { ...base, kind: 'sid' },
  { ...base, kind: 'comm', comm: awkward },
  { ...base, kind: 'lost', count: null, reason: awkward, scope: 'syscalls' },
  { ...base, kind: 'acct', startTicks: 99, usage: { utimeNs: 1, stimeNs: 2, maxRssKiB: 3, minorFaults: 4, majorFaults: 5, readBytes: 6, writeBytes: 7, voluntarySwitches: 8, involuntarySwitches: 9 } } as unknown as ProcEvent,
  { ...base, kind: 'open', path: awkward, pathTruncated: false, dirFd: null, flags: 577, flagNames: ['O_WRONLY', 'O_CREAT'], mode: 0o644, result: -13, error: 'EACCES', uid: 0, cgroupId: 1 } as unknown as ProcEvent,
];

test('the data column is JSON.stringify of the event without its columns, for every kind', () => {
  for (const e of EVENTS) {
    const { seq: _s, ktimeNs: _k, pid: _p, tid: _t, provenance: _v, key: _key, kind: _kind, ...rest } = e;
    assert.equal(eventData(e), JSON.stringify(rest), e.kind);
    assert.deepEqual(JSON.parse(eventData(e)), JSON.parse(JSON.stringify(rest)), e.kind);
  }
  // An event with nothing but its columns and cpu, and one whose only other member is undefined.
  assert.equal(eventData({ ...base, kind: 'sid' }), '{"cpu":1}');
  const { cpu: _c, ...noCpu } = base;
  assert.equal(eventData({ ...noCpu, kind: 'sid' } as unknown as ProcEvent), '{}');
  assert.equal(eventData({ ...noCpu, kind: 'sid', extra: undefined } as unknown as ProcEvent), '{}');
});
