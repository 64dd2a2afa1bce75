/**
 * The read side on a store with history: `history` answers exactly what one plain filter over
 * every row would (whichever index path it takes), lineage walks its limit in (depth, start)
 * order, and no query reads the whole processes table.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { EventStore, latestByPid, latestEvents, queryHistory, queryLineage, type HistoryQuery } from '../../src/store/index.js';
import { newRecord, type ProcessRecord } from '../../src/table/record.js';
import { globToRegExp, hasGlob } from '../../src/util/glob.js';
import { rng } from '../helpers/rng.js';

const dirs: string[] = [];
function tempStore(bootId = 'boot-1'): EventStore {
  const dir = mkdtempSync(join(tmpdir(), 'pw-queries-'));
  dirs.push(dir);
  return new EventStore({ path: join(dir, 'events.db'), bootId, source: 'test' });
}
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const T0 = 1_760_000_000_000;
const DAY = 86_400_000;
const wall = (ns: number): number => T0 + ns / 1e6;
const nsAt = (ms: number): number => (ms - T0) * 1e6;

const EXES = ['/usr/bin/bash', '/usr/bin/python3.11', '/usr/bin/gzip', '/usr/bin/git', '/usr/lib/gcc/x86_64-linux-gnu/12/cc1', '/usr/sbin/cron', '/usr/bin/true'];

let provisional = 0;

/** A process with a wall-clock start and exit (null: unknown start / still running). */
function record(pid: number, ticks: number | null, startMs: number | null, exitMs: number | null, exe: string | null, euid: number | null): ProcessRecord {
  const r = newRecord(pid, ticks, ticks === null ? `${pid}:?${++provisional}` : `${pid}:${ticks}`, 'observed');
  r.startNs = startMs === null ? null : nsAt(startMs);
  r.exitNs = exitMs === null ? null : nsAt(exitMs);
  r.exit = exitMs === null ? null : { code: 0, signal: null, coreDumped: false };
  r.exitOrigin = exitMs === null ? null : 'observed';
  r.exe = exe;
  r.comm = exe === null ? null : exe.slice(exe.lastIndexOf('/') + 1).slice(0, 15);
  r.uids = euid === null ? null : [euid, euid, euid, euid];
  r.argv = exe === null ? null : [exe, `--n=${pid}`];
  return r;
}

/** 30 days of processes: short and long lives, some still running, some with no known start. */
function history(store: EventStore, count: number): ProcessRecord[] {
  const rand = rng(4);
  const records: ProcessRecord[] = [];
  for (let i = 0; i < count; i++) {
    const start = rand() < 0.03 ? null : T0 + rand() * 30 * DAY;
    const life = rand() < 0.1 ? rand() * 20 * DAY : rand() * 60_000;
    const exit = rand() < 0.15 ? null : (start ?? T0 + rand() * 30 * DAY) + life;
    const r = record(100 + Math.floor(rand() * 400), start === null ? null : 1000 + i, start, exit, rand() < 0.02 ? null : EXES[Math.floor(rand() * EXES.length)]!,
      rand() < 0.02 ? null : [0, 33, 1000, 6][Math.floor(rand() * 4)]!);
    records.push(r);
    store.enqueueRecord(r, wall);
  }
  store.flush();
  return records;
}

/** What `history` means, row by row. */
function expected(records: ProcessRecord[], q: HistoryQuery): ProcessRecord[] {
  const matches = (pattern: string | undefined, value: string | null): boolean =>
    pattern === undefined || (value !== null && (hasGlob(pattern) ? globToRegExp(pattern).test(value) : value === pattern));
  return records.filter((r) => {
    const start = r.startNs === null ? null : wall(r.startNs);
    const exit = r.exitNs === null ? null : wall(r.exitNs);
    return (q.sinceMs === undefined || (exit ?? Infinity) >= q.sinceMs) && (q.untilMs === undefined || (start ?? 0) <= q.untilMs)
      && matches(q.exe, r.exe) && matches(q.name, r.comm) && (q.euid === undefined || r.uids?.[1] === q.euid) && (q.pid === undefined || r.pid === q.pid);
  }).sort((a, b) => (b.startNs ?? -Infinity) - (a.startNs ?? -Infinity));
}

/** Same answer as the row-by-row filter: the same start times in order, and the same processes when nothing was cut. */
function assertSameHistory(store: EventStore, records: ProcessRecord[], q: HistoryQuery): void {
  const got = queryHistory(store.db, q);
  const want = expected(records, q).slice(0, q.limit);
  const label = JSON.stringify(q);
  assert.deepEqual(got.map((p) => p.startTime), want.map((r) => (r.startNs === null ? null : new Date(wall(r.startNs)).toISOString())), label);
  const keys = (list: Array<{ key: string }>): string[] => list.map((p) => p.key).sort();
  if (want.length < q.limit || new Set(want.map((r) => r.startNs)).size === want.length) assert.deepEqual(keys(got), keys(want), label);
}

function queries(rand: () => number): HistoryQuery[] {
  const list: HistoryQuery[] = [];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  for (let i = 0; i < 250; i++) {
    const q: HistoryQuery = { limit: pick([1, 7, 50, 1000]) };
    if (rand() < 0.6) q.sinceMs = T0 + 30 * DAY - rand() * pick([0.02, 1, 31]) * DAY;
    if (rand() < 0.3) q.untilMs = (q.sinceMs ?? T0) + rand() * 10 * DAY;
    const f = rand();
    if (f < 0.25) q.exe = pick(['/usr/bin/bash', '*python3*', '/usr/bin/g*', '*', '/nowhere', '/usr/bin/[bg]*']);
    else if (f < 0.45) q.name = pick(['cc1', 'c*', 'g?t', 'true', 'nothing*']);
    else if (f < 0.6) q.euid = pick([0, 33, 6, 4242]);
    else if (f < 0.7) q.pid = 100 + Math.floor(rand() * 400);
    list.push(q);
  }
  return list;
}

test('history: the same answer as a row-by-row filter, for ranges, running and unknown-start processes, users, pids and globs', () => {
  const store = tempStore();
  const records = history(store, 3000);
  for (const q of queries(rng(7))) assertSameHistory(store, records, q);
  // The cases the two-step read exists for, by name.
  const end = T0 + 30 * DAY;
  assert.ok(expected(records, { sinceMs: end - DAY, limit: 10_000 }).some((r) => r.startNs !== null && wall(r.startNs) < end - DAY), 'some ran before the range and into it');
  assertSameHistory(store, records, { sinceMs: end - 3_600_000, limit: 10_000 });
  assertSameHistory(store, records, { untilMs: T0 + DAY, limit: 10_000 });
  assertSameHistory(store, records, { limit: 10_000 });
  store.close();
});

test('history: a glob matches the same with more distinct values than are matched one by one', () => {
  const store = tempStore();
  const records: ProcessRecord[] = [];
  for (let i = 0; i < 5_200; i++) {
    const r = record(1000 + i, i + 1, T0 + i * 1000, T0 + i * 1000 + 500, `/opt/app-${i}/bin/${i % 3 === 0 ? 'python3' : 'worker'}`, 0);
    records.push(r);
    store.enqueueRecord(r, wall);
  }
  store.flush();
  for (const exe of ['*python3*', '/opt/app-1*', '*/bin/worker', '/opt/app-[0-2]/*']) {
    for (const limit of [5, 10_000]) assertSameHistory(store, records, { exe, limit });
    assertSameHistory(store, records, { exe, sinceMs: T0 + 4_000_000, limit: 100 });
  }
  store.close();
});

/** A tree: the root, `fanout` children each, `depth` levels below it; starts shuffled within a level. */
function tree(store: EventStore, fanout: number, depth: number): { root: ProcessRecord; all: Array<{ r: ProcessRecord; depth: number }> } {
  const rand = rng(11);
  let pid = 2;
  const root = record(1, 1, T0, null, '/sbin/init', 0);
  store.enqueueRecord(root, wall);
  const all: Array<{ r: ProcessRecord; depth: number }> = [];
  let level = [root];
  for (let d = 1; d <= depth; d++) {
    const next: ProcessRecord[] = [];
    for (const parent of level) {
      for (let i = 0; i < fanout; i++) {
        const r = record(pid, pid, T0 + d * 60_000 + rand() * 50_000, null, '/usr/bin/bash', 0);
        pid++;
        r.parentKey = parent.key;
        r.ppid = parent.pid;
        store.enqueueRecord(r, wall);
        next.push(r);
        all.push({ r, depth: d });
      }
    }
    level = next;
  }
  store.flush();
  return { root, all };
}

test('lineage: descendants come in (depth, start) order and stop at the limit; ancestors nearest first', () => {
  const store = tempStore();
  const { root, all } = tree(store, 4, 4); // 340 descendants
  const order = [...all].sort((a, b) => a.depth - b.depth || a.r.startNs! - b.r.startNs!).map((x) => [x.r.key, x.depth]);
  for (const limit of [1, 5, 4, 20, 339, 340, 1000]) {
    const l = queryLineage(store.db, 'boot-1', root.key, limit)!;
    assert.deepEqual(l.descendants.map((p) => [p.key, p.depth]), order.slice(0, limit), `limit ${limit}`);
    assert.equal(l.truncated, limit < all.length, `limit ${limit}`);
  }
  const deepest = all.at(-1)!.r;
  const up = queryLineage(store.db, 'boot-1', deepest.key, 10)!;
  assert.equal(up.ancestors.length, 4);
  assert.equal(up.ancestors.at(-1)!.key, root.key);
  assert.equal(up.ancestors[0]!.key, deepest.parentKey);
  assert.equal(queryLineage(store.db, 'another-boot', root.key, 10), null, 'keys belong to a boot');
  store.close();
});

test('lineage: a parent loop (corrupt links) ends at the depth bound instead of running forever', () => {
  const store = tempStore();
  const a = record(10, 10, T0, null, '/a', 0);
  const b = record(11, 11, T0 + 1, null, '/b', 0);
  a.parentKey = b.key;
  b.parentKey = a.key;
  store.enqueueRecord(a, wall);
  store.enqueueRecord(b, wall);
  store.flush();
  const l = queryLineage(store.db, 'boot-1', a.key, 50)!;
  assert.equal(l.descendants.length, 50);
  assert.equal(l.truncated, true);
  assert.ok(l.ancestors.length <= 1000, `${l.ancestors.length} ancestors`);
  store.close();
});

test('lineage: a limit of a few rows does not walk a huge subtree', () => {
  const store = tempStore();
  const { root } = tree(store, 10_000, 1);
  // CPU time this process spent per query, not wall time: other work on a busy machine does not
  // count against it, and a walk of 10,000 rows costs ~100 times a walk of 6.
  const cpuPerQuery = (limit: number, times: number): number => {
    queryLineage(store.db, 'boot-1', root.key, limit); // prepared and cached once
    const before = process.cpuUsage();
    for (let i = 0; i < times; i++) queryLineage(store.db, 'boot-1', root.key, limit);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / times;
  };
  const all = cpuPerQuery(10_000, 5);
  const few = cpuPerQuery(5, 200);
  assert.ok(few * 10 < all, `limit 5: ${few.toFixed(0)} µs of CPU per query; limit 10,000: ${all.toFixed(0)} µs`);
  store.close();
});

/** Every statement a call prepares and runs, with its arguments (to ask SQLite for its plan). */
function statementsOf(db: Database.Database, call: () => unknown): Array<{ sql: string; args: unknown[] }> {
  const seen: Array<{ sql: string; args: unknown[] }> = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: unknown }).prepare = (sql: string) => {
    const stmt = prepare(sql) as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['all', 'get', 'iterate', 'run']) {
      const original = stmt[method]!.bind(stmt);
      stmt[method] = (...args: unknown[]) => { seen.push({ sql, args }); return original(...args); };
    }
    return stmt;
  };
  try {
    call();
  } finally {
    (db as { prepare: unknown }).prepare = prepare;
  }
  return seen;
}

test('plans: history, lineage and pid lookups search indexes; none reads the whole processes table', () => {
  const store = tempStore();
  const records = history(store, 2000);
  const { root } = tree(store, 3, 3);
  const end = T0 + 30 * DAY;
  const calls: Array<[string, () => unknown]> = [
    ['exe', () => queryHistory(store.db, { exe: '/usr/bin/bash', limit: 100 })],
    ['exe glob', () => queryHistory(store.db, { exe: '*python3*', limit: 100 })],
    ['exe glob with a prefix', () => queryHistory(store.db, { exe: '/usr/bin/g*', limit: 1000 })],
    ['user since', () => queryHistory(store.db, { euid: 33, sinceMs: end - DAY, limit: 1000 })],
    ['rare user since', () => queryHistory(store.db, { euid: 4242, sinceMs: end - DAY, limit: 1000 })],
    ['name', () => queryHistory(store.db, { name: 'cc1', limit: 1000 })],
    ['name glob until', () => queryHistory(store.db, { name: 'c*', untilMs: end - 10 * DAY, limit: 1000 })],
    ['since only', () => queryHistory(store.db, { sinceMs: end - 3_600_000, limit: 1000 })],
    ['pid since', () => queryHistory(store.db, { pid: records[0]!.pid, sinceMs: end - 20 * DAY, limit: 1000 })],
    ['latest by pid', () => latestByPid(store.db, 'boot-1', records[0]!.pid)],
    ['lineage', () => queryLineage(store.db, 'boot-1', root.key, 1000)],
  ];
  for (const [label, call] of calls) {
    const statements = statementsOf(store.db, call);
    assert.ok(statements.length > 0, label);
    for (const { sql, args } of statements) {
      const plan = (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail);
      assert.ok(!plan.some((line) => /^SCAN (t|p|processes)\b/.test(line)), `${label}: ${plan.join('; ')}`);
    }
  }
  // Events by time: the newest first, stopping at the limit, or an index range.
  const events = statementsOf(store.db, () => latestEvents(store.db, { sinceMs: end - 29 * DAY, untilMs: end - 28 * DAY, limit: 10 }));
  const plan = events.flatMap(({ sql, args }) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail));
  assert.ok(plan.some((line) => /events_time/.test(line)), plan.join('; '));
  store.close();
});
