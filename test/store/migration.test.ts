/**
 * Schema 3 (integer boots, rowid processes) from a version-2 file with data: every row, every
 * field and every event id survives, across several boots, and the store goes on from there.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cgroupFields } from '../../src/procfs/cgroup.js';
import { EventStore, getProcess, latestByPid, migrate, queryEvents, queryHistory, queryLineage, SCHEMA_VERSION } from '../../src/store/index.js';
import { exec } from '../table/events.js';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-migrate-'));
  dirs.push(dir);
  return join(dir, 'events.db');
}
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A process row of schema 2, every column given. */
interface V2Process {
  boot_id: string; key: string; pid: number; start_ticks: number | null; ppid: number | null; parent_key: string | null;
  start_time: number | null; exec_time: number | null; exit_time: number | null; comm: string | null; exe: string | null;
  argv: string | null; cwd: string | null; uid: number | null; euid: number | null; suid: number | null; fsuid: number | null;
  gid: number | null; egid: number | null; sgid: number | null; fsgid: number | null; label: string | null; cgroup: string | null;
  exit_code: number | null; exit_signal: number | null; core_dumped: number | null; origin: string; exit_origin: string | null;
}

const BOOT_A = '11111111-1111-4111-8111-111111111111';
const BOOT_B = '22222222-2222-4222-8222-222222222222';
const BOOT_C = '33333333-3333-4333-8333-333333333333'; // processes only: a file copied without its runs

function proc(over: Partial<V2Process> & Pick<V2Process, 'boot_id' | 'key' | 'pid'>): V2Process {
  return {
    start_ticks: null, ppid: null, parent_key: null, start_time: null, exec_time: null, exit_time: null, comm: null, exe: null, argv: null,
    cwd: null, uid: null, euid: null, suid: null, fsuid: null, gid: null, egid: null, sgid: null, fsgid: null, label: null, cgroup: null,
    exit_code: null, exit_signal: null, core_dumped: null, origin: 'observed', exit_origin: null, ...over,
  };
}

const PROCESSES: V2Process[] = [
  proc({ boot_id: BOOT_A, key: '1:10', pid: 1, start_ticks: 10, ppid: 0, start_time: 1000, exec_time: 1000.5, comm: 'systemd', exe: '/usr/lib/systemd/systemd',
    argv: '["/sbin/init","splash"]', cwd: '/', uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0, label: 'system_u:system_r:init_t:s0', cgroup: '/init.scope', origin: 'seeded' }),
  proc({ boot_id: BOOT_A, key: '200:50', pid: 200, start_ticks: 50, ppid: 1, parent_key: '1:10', start_time: 2000, exec_time: 2001, exit_time: 9000,
    comm: 'sshd', exe: '/usr/sbin/sshd', argv: '["sshd: dev [priv]"]', cwd: '/', uid: 0, euid: 0, suid: 0, fsuid: 0, gid: 0, egid: 0, sgid: 0, fsgid: 0,
    cgroup: '/system.slice/ssh.service', exit_code: 0, exit_signal: null, core_dumped: 0, exit_origin: 'observed' }),
  proc({ boot_id: BOOT_A, key: '300:60', pid: 300, start_ticks: 60, ppid: 200, parent_key: '200:50', start_time: 3000, exec_time: 3000.25, exit_time: 8000,
    comm: 'bash', exe: '/usr/bin/bash', argv: '["-bash"]', cwd: '/home/dev', uid: 1001, euid: 1001, suid: 1001, fsuid: 1001, gid: 1001, egid: 1001, sgid: 1001, fsgid: 1001,
    exit_code: null, exit_signal: 9, core_dumped: 1, exit_origin: 'observed' }),
  proc({ boot_id: BOOT_A, key: '301:?4', pid: 301, ppid: 300, parent_key: '300:60', comm: 'bash', exit_time: 7000, exit_origin: 'inferred', origin: 'inferred' }),
  // The same key in another boot: keys are unique per boot only.
  proc({ boot_id: BOOT_B, key: '1:10', pid: 1, start_ticks: 10, ppid: 0, start_time: 50_000, comm: 'systemd', exe: '/usr/lib/systemd/systemd', argv: '["/sbin/init"]', origin: 'seeded' }),
  proc({ boot_id: BOOT_C, key: '7:70', pid: 7, start_ticks: 70, start_time: 500, comm: 'old', euid: 5, origin: 'seeded' }),
];

/** Events of schema 2 with ids that are not 1..n (retention deleted some): they must keep them. */
const EVENTS = [
  { id: 5, boot_id: BOOT_A, run: 1, seq: 1, time: 2000, ktime_ns: 2e9, kind: 'fork', pid: 200, tid: 200, key: '200:50', provenance: 'observed', data: '{"cpu":1,"parentPid":1,"parentTid":1,"thread":false}' },
  { id: 6, boot_id: BOOT_A, run: 1, seq: 2, time: 2001, ktime_ns: 2.001e9, kind: 'exec', pid: 200, tid: 200, key: '200:50', provenance: 'observed', data: '{"cpu":1,"details":{"comm":"sshd","exe":"/usr/sbin/sshd","argv":["sshd: dev [priv]"]}}' },
  { id: 9, boot_id: BOOT_A, run: 1, seq: 3, time: 8500, ktime_ns: 8.5e9, kind: 'lost', pid: 0, tid: 0, key: null, provenance: 'observed', data: '{"cpu":-1,"count":3,"reason":"netlink ENOBUFS"}' },
  { id: 40, boot_id: BOOT_A, run: 2, seq: 0, time: 9000, ktime_ns: 0, kind: 'inferred_exit', pid: 200, tid: 200, key: '200:50', provenance: 'inferred', data: '{"cpu":-1,"startTicks":50}' },
  { id: 41, boot_id: BOOT_B, run: 3, seq: 1, time: 50_001, ktime_ns: 1e6, kind: 'sid', pid: 1, tid: 1, key: '1:10', provenance: 'observed', data: '{"cpu":0}' },
];

const RUNS = [
  { boot_id: BOOT_A, started: 900, stopped: 5000, source: 'netlink', last_event: 2001 },
  { boot_id: BOOT_A, started: 5100, stopped: null, source: 'netlink', last_event: 9000 }, // crashed
  { boot_id: BOOT_B, started: 49_000, stopped: null, source: 'ebpf', last_event: 50_001 },
];

function writeVersion2(path: string): void {
  const db = new Database(path);
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  migrate(db, 2);
  const columns = Object.keys(PROCESSES[0]!);
  const insert = db.prepare(`INSERT INTO processes (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
  for (const p of PROCESSES) insert.run(p);
  const event = db.prepare('INSERT INTO events (id, boot_id, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (@id, @boot_id, @run, @seq, @time, @ktime_ns, @kind, @pid, @tid, @key, @provenance, @data)');
  for (const e of EVENTS) event.run(e);
  const run = db.prepare('INSERT INTO runs (boot_id, started, stopped, source, last_event) VALUES (@boot_id, @started, @stopped, @source, @last_event)');
  for (const r of RUNS) run.run(r);
  assert.equal(db.pragma('user_version', { simple: true }), 2);
  db.close();
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

test('migration 2 → 3 keeps every process, event (with its id) and run, in every boot', () => {
  const path = tempDb();
  writeVersion2(path);
  const store = new EventStore({ path, bootId: BOOT_B });
  const db = store.db;
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'and on to the current schema');
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  assert.deepEqual((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name),
    ['alert_changes', 'alerts', 'boots', 'events', 'export_state', 'processes', 'resource_samples', 'runs', 'syscall_profiles'], 'the version-2 tables are gone');
  // Boots: those of the runs first, in run order, then the others.
  assert.deepEqual(db.prepare('SELECT boot_id FROM boots ORDER BY boot').raw().all().flat(), [BOOT_A, BOOT_B, BOOT_C]);

  // Every process, every field, as the queries return it.
  assert.equal((db.prepare('SELECT count(*) AS n FROM processes').get() as { n: number }).n, PROCESSES.length);
  for (const p of PROCESSES) {
    const got = getProcess(db, p.boot_id, p.key);
    assert.deepEqual(got, {
      bootId: p.boot_id, key: p.key, pid: p.pid, startTicks: p.start_ticks, ppid: p.ppid, parentKey: p.parent_key, startTime: iso(p.start_time),
      execTime: iso(p.exec_time), exitTime: iso(p.exit_time), comm: p.comm, exe: p.exe, argv: p.argv === null ? null : JSON.parse(p.argv) as string[],
      cwd: p.cwd, uid: p.uid, euid: p.euid, suid: p.suid, fsuid: p.fsuid, gid: p.gid, egid: p.egid, sgid: p.sgid, fsgid: p.fsgid, label: p.label,
      cgroup: p.cgroup, exitCode: p.exit_code, exitSignal: p.exit_signal, coreDumped: p.core_dumped === null ? null : p.core_dumped === 1,
      origin: p.origin, exitOrigin: p.exit_origin, usage: null, filename: null, // schema 6: none of these exec events carries one
      // Schema 4: rows stored before it have no unit/container columns; the reader derives them from the cgroup.
      ...cgroupFields(p.cgroup),
    }, `${p.boot_id} ${p.key}`);
  }
  assert.equal(getProcess(db, BOOT_B, '1:10')?.startTime, iso(50_000), 'the same key in two boots stays two processes');

  // Every event, with its id and its kind-specific fields (and, apart from those, the process
  // it belongs to as stored, which the query joins).
  const events = queryEvents(db, { limit: 100 }).map(({ process: _process, lifetimeNs: _lifetime, ...e }) => e);
  assert.ok(queryEvents(db, { key: '1:10', bootId: BOOT_B, limit: 10, withProcess: true })[0]?.process, 'an event carries its stored process when asked');
  assert.equal(queryEvents(db, { key: '1:10', bootId: BOOT_B, limit: 10 })[0]?.process, undefined, 'and only then');
  assert.deepEqual(events, EVENTS.map((e) => ({
    id: e.id, bootId: e.boot_id, run: e.run, seq: e.seq, time: iso(e.time), ktimeNs: e.ktime_ns, kind: e.kind, pid: e.pid, tid: e.tid,
    key: e.key, provenance: e.provenance, ...(JSON.parse(e.data) as Record<string, unknown>),
  })));
  assert.deepEqual(queryEvents(db, { key: '1:10', bootId: BOOT_B, limit: 10 }).map((e) => e.id), [41]);
  assert.deepEqual(queryEvents(db, { bootId: BOOT_A, limit: 10 }).map((e) => e.id), [5, 6, 9, 40]);

  // Lineage, history and pid lookups work on the migrated rows.
  const lineage = queryLineage(db, BOOT_A, '200:50', 100)!;
  assert.deepEqual(lineage.ancestors.map((p) => p.key), ['1:10']);
  assert.equal(lineage.ancestors[0]!.bootId, BOOT_A);
  assert.deepEqual(lineage.descendants.map((p) => [p.key, p.depth]), [['300:60', 1], ['301:?4', 2]]);
  assert.deepEqual(queryHistory(db, { name: 'bash', limit: 10 }).map((p) => p.key), ['300:60', '301:?4'], 'an unknown start comes last');
  assert.deepEqual(queryHistory(db, { euid: 5, limit: 10 }).map((p) => p.bootId), [BOOT_C]);
  assert.equal(latestByPid(db, BOOT_A, 300)?.key, '300:60');

  // The runs table is as it was: the crashed run is noticed.
  assert.equal(store.previousRunCrashed, true);
  assert.deepEqual(store.previousRun, { run: 3, bootId: BOOT_B, startedMs: 49_000, stoppedMs: null, watchEndedMs: 50_001 });

  // The store goes on: new events after the old ids, this boot's number reused.
  store.beginRun('test');
  store.enqueue([exec(77, 1e6, { startTicks: 77 })], () => undefined, (ns) => 60_000 + ns / 1e6);
  store.flush();
  const [newest] = queryEvents(db, { afterId: 41, limit: 10 });
  assert.equal(newest?.id, 42);
  assert.equal(newest?.bootId, BOOT_B);
  assert.equal((db.prepare('SELECT count(*) AS n FROM boots').get() as { n: number }).n, 3);
  store.close();
});

test('migration 2 → 3 gives the copied tables\' old pages back: the file does not stay twice its size', () => {
  const path = tempDb();
  const db = new Database(path);
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  migrate(db, 2);
  const insert = db.prepare("INSERT INTO events (boot_id, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (?, 1, ?, ?, 0, 'exec', ?, ?, ?, 'observed', ?)");
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) insert.run(BOOT_A, i, i, 1000 + (i % 30_000), 1000 + (i % 30_000), `${1000 + i}:${i}`, JSON.stringify({ cpu: 0, details: { argv: ['/bin/true', `arg-${i}`] } }));
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const before = statSync(path).size;
  const store = new EventStore({ path, bootId: BOOT_A });
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const pages = store.db.pragma('page_count', { simple: true }) as number;
  const free = store.db.pragma('freelist_count', { simple: true }) as number;
  assert.equal(free, 0, 'no free pages left behind');
  assert.ok(statSync(path).size < before * 1.3, `${statSync(path).size} bytes after, ${before} before (${pages} pages)`);
  assert.equal(queryEvents(store.db, { limit: 100_000 }).length, 20_000);
  store.db.close();
});
