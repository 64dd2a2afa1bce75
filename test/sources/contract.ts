/**
 * The contract every event source passes (hono's shared router suite, for sources):
 * a real process started while the source runs is seen starting and ending, with the right
 * pid and arguments; sequence numbers increase; stop is idempotent and final.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ProcEvent } from '../../src/events/types.js';
import type { EventSource } from '../../src/sources/index.js';

export interface ContractOptions {
  name: string;
  /** Returns the source, or a reason it cannot run here (the suite then skips loudly). */
  create: () => EventSource | string;
  /** How long the test process lives: long enough for a polling source to notice. */
  lifetimeSeconds: number;
  /** Kinds that mean "started" and "ended" for this source. */
  startKinds: ProcEvent['kind'][];
  endKinds: ProcEvent['kind'][];
}

const waitFor = async (check: () => boolean, ms: number): Promise<boolean> => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
};

export function runSourceContract(options: ContractOptions): void {
  test(`${options.name} source: contract`, async (t) => {
    const made = options.create();
    if (typeof made === 'string') {
      t.skip(`SKIPPED: ${options.name} source cannot run here: ${made}`);
      return;
    }
    const source = made;
    const events: ProcEvent[] = [];
    let batches = 0;
    await source.start((batch) => {
      batches++;
      events.push(...batch);
    });
    try {
      const marker = `pwcontract${process.pid}`;
      const child = spawn('/bin/sh', ['-c', `sleep ${options.lifetimeSeconds}; exit 0`, marker], { stdio: 'ignore' });
      const pid = child.pid!;
      const exited = new Promise((r) => child.on('exit', r));
      const started = (e: ProcEvent) => e.pid === pid && options.startKinds.includes(e.kind);
      assert.ok(await waitFor(() => events.some(started), options.lifetimeSeconds * 1000 + 2000), `${options.name}: start of pid ${pid} not seen`);
      const start = events.find(started)!;
      if (start.kind === 'exec' || start.kind === 'inferred_start') {
        assert.deepEqual(start.details.argv, ['/bin/sh', '-c', `sleep ${options.lifetimeSeconds}; exit 0`, marker]);
        assert.equal(start.details.ppid, process.pid);
      }
      await exited;
      const ended = (e: ProcEvent) => e.pid === pid && e.tid === pid && options.endKinds.includes(e.kind);
      assert.ok(await waitFor(() => events.some(ended), 3000), `${options.name}: end of pid ${pid} not seen`);
      const end = events.find(ended)!;
      if (end.kind === 'exit') assert.deepEqual(end.status, { code: 0, signal: null, coreDumped: false });
      assert.ok(events.indexOf(start) < events.indexOf(end), 'start is delivered before end');
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq, 'sequence numbers increase');
      const counters = source.counters();
      assert.ok(counters.events >= events.length && counters.batches >= 1, 'counters count what was delivered');
      for (const name of ['events', 'batches', 'lost', 'malformed']) assert.equal(typeof counters[name], 'number');
    } finally {
      await source.stop();
      await source.stop(); // idempotent
    }
    const after = batches;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(batches, after, 'no batches after stop');
  });
}
