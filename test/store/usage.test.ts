/**
 * Exit accounting kept with the process instance (issue 12): the table attaches an `acct` to
 * the instance it names (never to a later one with the same pid), the store writes it on the
 * process row (also for an instance the table no longer holds), and `history` sorts and
 * filters by it. A database of schema 3 gains the columns with every row kept.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AcctEvent, ProcEvent, ProcessUsage } from '../../src/events/types.js';
import { EventStore, migrate, queryHistory, SCHEMA_VERSION } from '../../src/store/index.js';
import { ProcessTable } from '../../src/table/index.js';
import { exec, exit, fork } from '../table/events.js';

const dirs: string[] = [];
function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-usage-'));
  dirs.push(dir);
  return join(dir, 'events.db');
}
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const T0 = 1_760_000_000_000;
const wall = (ns: number): number => T0 + ns / 1e6;

function usage(cpuSeconds: number, over: Partial<ProcessUsage> = {}): ProcessUsage {
  return {
    // The store keeps nanoseconds: figures as the kernel gives them have no finer part.
    cpuSeconds, userSeconds: Math.round(cpuSeconds * 0.75e9) / 1e9, systemSeconds: Math.round(cpuSeconds * 0.25e9) / 1e9, cpuResolution: 'ns', maxRssBytes: 1 << 20, minorFaults: 10,
    majorFaults: 0, voluntarySwitches: 2, involuntarySwitches: 1, readBytes: 0, writeBytes: 4096, readChars: 100, writeChars: 200, ...over,
  };
}
let seq = 10_000;
const acct = (pid: number, startTicks: number, t: number, u: ProcessUsage): AcctEvent =>
  ({ seq: ++seq, ktimeNs: t, pid, tid: pid, cpu: 0, provenance: 'observed', kind: 'acct', startTicks, usage: u });

/** pid's life: fork by 1, exec, exit, then its acct; start ticks = pid * 10. */
function life(pid: number, t: number, u: ProcessUsage | null, comm = 'job'): ProcEvent[] {
  const events = [fork(pid, 1, t), exec(pid, t + 1, { startTicks: pid * 10, comm, argv: [comm], exe: `/usr/bin/${comm}`, ppid: 1 }), exit(pid, t + 2)];
  if (u !== null) events.push(acct(pid, pid * 10, t + 3, u));
  return events;
}

test('table: an acct attaches to the instance it names, also after the pid was reused', () => {
  const starts: Record<number, number> = { 50: 500 };
  const table = new ProcessTable({ startTicksOf: (pid) => starts[pid] ?? null });
  table.apply(life(50, 1_000, null));
  // pid 50 is reused before the first instance's totals arrive (its parent reaped it late).
  starts[50] = 777;
  table.apply([fork(50, 1, 2_000), exec(50, 2_001, { startTicks: 777, comm: 'other' })]);
  const late = acct(50, 500, 2_500, usage(1.5));
  table.apply([late]);
  assert.equal(late.key, '50:500');
  assert.deepEqual(table.get('50:500')?.usage, usage(1.5));
  assert.equal(table.get('50:777')?.usage, null, 'the live instance with the same pid has no totals');
  const stranger = acct(99, 4242, 3_000, usage(2));
  table.apply([stranger]);
  assert.equal(stranger.key, '99:4242', 'the key is known from the record itself');
  assert.equal(table.counters().acctUnmatched, 1);
});

/** Each batch goes through the table and into the store, as the daemon delivers them. */
function storeWith(batches: ProcEvent[][], maxExited?: number): { store: EventStore; table: ProcessTable } {
  const table = new ProcessTable({ startTicksOf: (pid) => pid * 10, maxExited });
  const store = new EventStore({ path: tempPath(), bootId: 'boot-u', source: 'test' });
  for (const events of batches) {
    table.apply(events);
    store.enqueue(events, (key) => table.get(key), wall);
  }
  store.flush();
  return { store, table };
}

test('store: the totals are written on the process row, also for an instance the table dropped', () => {
  // max_exited 1: by the time the acct of 101 arrives, the table no longer holds 101.
  const { store, table } = storeWith([life(101, 1_000, null), life(102, 2_000, usage(0.2)), [acct(101, 1010, 3_000, usage(3, { cpuResolution: 'tick', maxRssBytes: null }))]], 1);
  assert.equal(table.get('101:1010'), undefined, 'the table dropped 101');
  const rows = queryHistory(store.db, { limit: 10 });
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  assert.deepEqual(byPid.get(101)?.usage, usage(3, { cpuResolution: 'tick', maxRssBytes: null }));
  assert.deepEqual(byPid.get(102)?.usage, usage(0.2));
  const stored = store.db.prepare("SELECT kind, data FROM events WHERE kind = 'acct' ORDER BY id").all() as Array<{ kind: string; data: string }>;
  assert.equal(stored.length, 2, 'acct events are stored like every other event');
  assert.equal((JSON.parse(stored[0]!.data) as { usage: ProcessUsage }).usage.cpuSeconds, 0.2);
  store.close();
});

test('history: --sort cpu is largest first with the unaccounted last; minimums filter', () => {
  const events = [
    ...life(201, 1_000, usage(0.004)), ...life(202, 2_000, usage(7.5, { maxRssBytes: 900 << 20 })), ...life(203, 3_000, usage(0.8, { readBytes: 5 << 20 })),
    ...life(204, 4_000, null), // exited, totals never known
    fork(205, 1, 5_000), exec(205, 5_001, { startTicks: 2050, comm: 'still' }), // running
  ];
  const { store } = storeWith([events]);
  const pids = (q: Parameters<typeof queryHistory>[1]): number[] => queryHistory(store.db, q).map((p) => p.pid);
  assert.deepEqual(pids({ limit: 10, sort: 'cpu' }), [202, 203, 201, 205, 204]);
  assert.deepEqual(pids({ limit: 2, sort: 'cpu' }), [202, 203]);
  assert.deepEqual(pids({ limit: 10, sort: 'rss' }).slice(0, 1), [202]);
  assert.deepEqual(pids({ limit: 10, sort: 'read' }).slice(0, 1), [203]);
  assert.deepEqual(pids({ limit: 10, minCpuSeconds: 0.5 }), [203, 202], 'newest first by default');
  assert.deepEqual(pids({ limit: 10, sort: 'cpu', minCpuSeconds: 0.5 }), [202, 203]);
  assert.deepEqual(pids({ limit: 10, minRssBytes: 100 << 20 }), [202]);
  assert.deepEqual(pids({ limit: 10, minReadBytes: 1 << 20 }), [203]);
  assert.deepEqual(pids({ limit: 10, sort: 'cpu', name: 'still' }), [205]);
  // The time range applies too: 202 and 203 lived at wall T0 + ~0.002 ms..., all in range.
  assert.deepEqual(pids({ limit: 10, sort: 'cpu', untilMs: wall(1_500) }), [201]);
  store.close();
});

test('migration: a schema 3 database gains the accounting columns and the samples table, rows kept', () => {
  const path = tempPath();
  const db = new Database(path);
  migrate(db, 3);
  db.prepare("INSERT INTO boots (boot_id) VALUES ('b')").run();
  db.prepare("INSERT INTO processes (boot, key, pid, start_time, comm, origin) VALUES (1, '7:70', 7, 1, 'old', 'observed')").run();
  migrate(db);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const row = db.prepare("SELECT comm, cpu_ns, acct_time FROM processes WHERE key = '7:70'").get();
  assert.deepEqual(row, { comm: 'old', cpu_ns: null, acct_time: null });
  assert.equal((db.prepare('SELECT count(*) AS n FROM resource_samples').get() as { n: number }).n, 0);
  db.close();
});
