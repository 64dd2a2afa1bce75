/**
 * The churn ring's columns: cursors across its growth and once it wraps, the window's counts,
 * and `complete` when a cursor is older than what is kept.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChurnLog } from '../../src/resources/churn.js';

test('the ring grows past its first size and keeps order; a cursor counts only what came after it', () => {
  const log = new ChurnLog(10_000);
  for (let i = 0; i < 3000; i++) {
    log.start();
    log.end(`${i}:1`);
    log.accounted(`${i}:1`, i, `job${i}`, i / 1000);
  }
  assert.equal(log.cursor, 9000);
  const all = log.since(0);
  assert.deepEqual([all.started, all.ended, all.endedUnaccounted, all.complete], [3000, 3000, 0, true]);
  assert.equal(Math.round(all.endedCpuSeconds * 1000), (2999 * 3000) / 2);
  assert.deepEqual(all.top.map((t) => [t.key, t.pid, t.comm, t.cpuSeconds]), [2999, 2998, 2997, 2996, 2995].map((i) => [`${i}:1`, i, `job${i}`, i / 1000]));
  // After the 2,000th process's three entries: the last 1,000 processes.
  const later = log.since(6000);
  assert.deepEqual([later.started, later.ended, later.complete, later.cursor], [1000, 1000, true, 9000]);
  assert.equal(log.since(9000).started, 0, 'nothing after the latest cursor');
});

test('once full, the oldest entries go: a cursor older than the ring is not complete', () => {
  const log = new ChurnLog(5);
  log.start(); // 1
  log.end('7:1'); // 2
  log.accounted('8:1', 8, 'old', 4); // 3
  log.end('9:1'); // 4
  log.accounted('9:1', 9, 'sh', null); // 5: no CPU known
  log.start(); // 6: the first entry goes
  log.accounted('7:1', 7, 'make', 1.5); // 7: the second goes
  const all = log.since(0);
  assert.deepEqual([all.started, all.ended, all.endedCpuSeconds, all.complete], [1, 1, 5.5, true], 'entries 3 to 7');
  assert.equal(all.endedUnaccounted, 1, '9:1 ended; its accounting had no CPU');
  assert.deepEqual(all.top.map((t) => t.comm), ['old', 'make']);
  const fromOne = log.since(1);
  assert.equal(fromOne.complete, false, 'entry 2 is gone: the window starts later than asked');
  assert.deepEqual([fromOne.started, fromOne.ended], [1, 1]);
  const fromTwo = log.since(2);
  assert.equal(fromTwo.complete, true, 'entry 3 onwards are all kept');
  const fromFive = log.since(5);
  assert.deepEqual([fromFive.started, fromFive.ended, fromFive.endedCpuSeconds, fromFive.top.length], [1, 0, 1.5, 1]);
});
