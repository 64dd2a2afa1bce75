import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReorderBuffer } from '../../src/table/index.js';
import { exit, fork } from './events.js';

test('events are released in kernel-time order once the hold time has passed', () => {
  const buffer = new ReorderBuffer(100);
  buffer.push([exit(5, 1050), fork(5, 1, 1000)]);
  assert.deepEqual(buffer.release(1080), [], 'nothing is due before ktime + hold');
  const out = buffer.release(1200);
  assert.deepEqual(out.map((e) => e.kind), ['fork', 'exit']);
});

test('an event older than what was already released is released and counted as late', () => {
  const buffer = new ReorderBuffer(10);
  buffer.push([fork(5, 1, 1000)]);
  buffer.release(2000);
  buffer.push([fork(6, 1, 900)]);
  assert.equal(buffer.release(2000).length, 1);
  assert.equal(buffer.counters().late, 1);
});

test('memory stays bounded: past maxHeld the oldest events go early and are counted', () => {
  const buffer = new ReorderBuffer(1e12, 100);
  const batch = [];
  for (let i = 0; i < 250; i++) batch.push(fork(i, 1, i));
  buffer.push(batch);
  const out = buffer.release(0);
  assert.equal(out.length, 150);
  assert.equal(buffer.counters().held, 100);
  assert.equal(buffer.counters().forced, 150);
  assert.equal(buffer.drain().length, 100);
});
