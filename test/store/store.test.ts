import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { EventStore, StoreError, applyRetention, getProcess, latestEvents, migrate, queryEvents, queryHistory, queryLineage, SCHEMA_VERSION } from '../../src/store/index.js';
import type { LostEvent } from '../../src/events/types.js';
import { ProcessTable } from '../../src/table/index.js';
import { exec, exit, fork } from '../table/events.js';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-store-'));
  dirs.push(dir);
  return join(dir, 'events.db');
}
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const wall = (ns: number): number => 1_700_000_000_000 + ns / 1e6;

function sampleTable(): { table: ProcessTable; events: ReturnType<typeof exec>[] } {
  const table = new ProcessTable({ startTicksOf: (pid) => pid * 10 });
  const events = [
    exec(1, 1e6, { startTicks: 10, comm: 'init', argv: ['/sbin/init'], exe: '/sbin/init', ppid: 0 }),
    fork(2, 1, 2e6),
    exec(2, 3e6, { startTicks: 20, comm: 'sshd', argv: ['/usr/sbin/sshd', '-D'], exe: '/usr/sbin/sshd', ppid: 1, uids: [0, 0, 0, 0] }),
    fork(3, 2, 4e6),
    exec(3, 5e6, { startTicks: 30, comm: 'bash', argv: ['-bash'], exe: '/usr/bin/bash', ppid: 2, uids: [1000, 1000, 1000, 1000] }),
    exit(3, 9e6, 7),
    exit(2, 10e6, 0),
  ];
  table.apply(events);
  return { table, events };
}

test('round trip: events and process instances come back with their fields', () => {
  const path = tempDb();
  const store = new EventStore({ path, bootId: 'b1', source: 'test' });
  const { table, events } = sampleTable();
  store.enqueue(events, (k) => table.get(k), wall);
  assert.equal(store.flush(), events.length);
  const stored = queryEvents(store.db, { limit: 100 });
  assert.deepEqual(stored.map((e) => e.kind), ['exec', 'fork', 'exec', 'fork', 'exec', 'exit', 'exit']);
  const bashExit = stored.find((e) => e.kind === 'exit' && e.pid === 3)!;
  assert.deepEqual(bashExit.status, { code: 7, signal: null, coreDumped: false });
  assert.equal(bashExit.key, '3:30');
  const [bash] = queryHistory(store.db, { name: 'bash', limit: 10 });
  assert.deepEqual(bash?.argv, ['-bash']);
  assert.equal(bash?.euid, 1000);
  assert.equal(bash?.exitCode, 7);
  assert.equal(bash?.parentKey, '2:20');
  assert.equal(queryHistory(store.db, { exe: '/usr/*/sshd', limit: 10 }).length, 1, 'exe globs');
  assert.equal(queryHistory(store.db, { euid: 1000, limit: 10 }).length, 1);
  store.close();
  const again = new EventStore({ path, bootId: 'b1', source: 'test' });
  assert.equal(again.previousRunCrashed, false);
  assert.equal(queryEvents(again.db, { limit: 100 }).length, events.length, 'a clean close keeps everything');
  again.close();
});

test('lineage: ancestors and descendants of a process that exited', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const { table, events } = sampleTable();
  store.enqueue(events, (k) => table.get(k), wall);
  store.flush();
  const l = queryLineage(store.db, 'b1', '2:20', 100)!;
  assert.equal(l.process.comm, 'sshd');
  assert.notEqual(l.process.exitTime, null);
  assert.deepEqual(l.ancestors.map((p) => p.key), ['1:10']);
  assert.deepEqual(l.descendants.map((p) => [p.key, p.depth]), [['3:30', 1]]);
  assert.equal(queryLineage(store.db, 'b1', '99:1', 100), null);
  store.close();
});

test('retention by age deletes old events and exited processes, keeps the rest', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const { table, events } = sampleTable();
  store.enqueue(events, (k) => table.get(k), wall);
  store.flush();
  const now = wall(6e6) + 1e6 * 1000; // all events 1000 s old, relative to "now"
  const r = applyRetention(store.db, { maxAgeMs: 500_000, maxBytes: null }, now);
  assert.equal(r.eventsDeleted, events.length);
  assert.equal(r.processesDeleted, 2, 'the two exited processes');
  assert.equal(queryHistory(store.db, { limit: 10 }).length, 1, 'init is alive and stays');
  store.close();
});

test('retention by size brings the file under the limit, oldest events first', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const table = new ProcessTable({ startTicksOf: () => null });
  for (let round = 0; round < 20; round++) {
    const batch = [];
    for (let i = 0; i < 2000; i++) batch.push(exec(1000 + i, round * 1e9 + i, { startTicks: round * 10000 + i, argv: ['/bin/true', 'x'.repeat(100)] }));
    table.apply(batch);
    store.enqueue(batch, () => undefined, wall);
    store.flush();
  }
  const pageSize = store.db.pragma('page_size', { simple: true }) as number;
  const pageBytes = (): number => (store.db.pragma('page_count', { simple: true }) as number) * pageSize;
  const before = pageBytes();
  const limit = Math.floor(before / 3);
  const r = applyRetention(store.db, { maxAgeMs: null, maxBytes: limit });
  assert.ok(r.eventsDeleted > 0);
  const left = queryEvents(store.db, { limit: 100_000 });
  assert.ok(left.length < 40_000 && left.length > 0);
  assert.equal(left[0]!.id, 40_000 - left.length + 1, 'the newest events are the ones kept');
  const used = ((store.db.pragma('page_count', { simple: true }) as number) - (store.db.pragma('freelist_count', { simple: true }) as number)) * pageSize;
  assert.ok(used <= limit, `used ${used} ≤ limit ${limit}`);
  store.close();
});

test('back-pressure: a full queue drops, counts, and records a lost row', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test', maxQueue: 10 });
  const batch = [];
  for (let i = 0; i < 25; i++) batch.push(exec(100 + i, i, { startTicks: i }));
  store.enqueue(batch, () => undefined, wall);
  assert.equal(store.counters().queued, 10);
  assert.equal(store.counters().dropped, 15);
  store.flush();
  const lost = queryEvents(store.db, { kinds: ['lost'], limit: 10 });
  assert.equal(lost.length, 1);
  assert.equal(lost[0]!.count, 15);
  assert.match(String(lost[0]!.reason), /store queue overflow/);
  store.close();
});

test('schema: a new file gets the current version; a newer one is refused; garbage is refused clearly', () => {
  const path = tempDb();
  new EventStore({ path, bootId: 'b', source: 'test' }).close();
  const db = new Database(path);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
  db.close();
  assert.throws(() => new EventStore({ path, bootId: 'b', source: 'test' }), (e: Error) => e instanceof StoreError && /newer than this procwatch/.test(e.message));
  const junk = tempDb();
  writeFileSync(junk, 'this is not a database, just text that is long enough to look like a header'.repeat(100));
  assert.throws(() => new EventStore({ path: junk, bootId: 'b', source: 'test' }), (e: Error) => e instanceof StoreError && /cannot open database .*not a database/.test(e.message));
});

const names = (db: Database.Database, type: string): string[] =>
  (db.prepare('SELECT name FROM sqlite_master WHERE type = ? ORDER BY name').all(type) as Array<{ name: string }>).map((r) => r.name);
const columns = (db: Database.Database, table: string): string[] =>
  (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as Array<{ name: string }>).map((r) => r.name);

/** The tables and indexes of the current schema (3, plus 4's syscall profiles), as a new file and every migration must leave them. */
const V3_TABLES = ['boots', 'events', 'processes', 'runs'];
const V3_INDEXES = ['events_key', 'events_time', 'processes_comm', 'processes_euid', 'processes_exe', 'processes_exit', 'processes_key',
  'processes_parent', 'processes_start'];
/** Schema 4 (issue 11) adds the alerts table and its two indexes; schema 5 (issue 12) the resource samples and the CPU index; schema 6 (issue 18) the syscall profiles; schema 7 (issue 14) a column only; schema 8 (issue 15) the export outbox's two tables. */
const CURRENT_TABLES = ['alert_changes', 'alerts', ...V3_TABLES, 'export_state', 'resource_samples', 'syscall_profiles'].sort();
const CURRENT_INDEXES = ['alerts_name', 'alerts_time', ...V3_INDEXES, 'processes_cpu', 'resource_samples_key', 'resource_samples_time', 'syscall_profiles_time'].sort();
const userIndexes = (db: Database.Database): string[] => names(db, 'index').filter((n) => !n.startsWith('sqlite_autoindex_'));

test('migration from version 0 (an empty file) creates every table, through versions 1 and 2 to 3', () => {
  assert.equal(SCHEMA_VERSION, 8);
  const path = tempDb();
  const db = new Database(path);
  migrate(db, 1);
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  assert.deepEqual(names(db, 'table'), ['events', 'processes', 'runs']);
  assert.ok(!names(db, 'index').includes('processes_exit'), 'version 1 had no exit-time index');
  migrate(db, 2);
  assert.equal(db.pragma('user_version', { simple: true }), 2);
  assert.ok(names(db, 'index').includes('processes_exit'));
  migrate(db, 3);
  assert.equal(db.pragma('user_version', { simple: true }), 3);
  assert.deepEqual(names(db, 'table'), V3_TABLES);
  assert.deepEqual(userIndexes(db), V3_INDEXES);
  migrate(db);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.deepEqual(names(db, 'table'), CURRENT_TABLES);
  assert.deepEqual(userIndexes(db), CURRENT_INDEXES);
  db.close();
  const store = new EventStore({ path, bootId: 'b', source: 'test' });
  assert.deepEqual(names(store.db, 'table'), CURRENT_TABLES);
  store.close();
});

test('migration 0 → 3 in one step: a new file gets schema 3, 8 KiB pages, and is readable by the sqlite3 CLI', () => {
  const path = tempDb();
  const store = new EventStore({ path, bootId: 'b', source: 'test' });
  const { table, events } = sampleTable();
  store.enqueue(events, (k) => table.get(k), wall);
  store.flush();
  assert.deepEqual(names(store.db, 'table'), CURRENT_TABLES);
  assert.deepEqual(userIndexes(store.db), CURRENT_INDEXES);
  assert.equal(store.db.pragma('page_size', { simple: true }), 8192);
  store.close();
  const cli = spawnSync('sqlite3', [path, "SELECT b.boot_id, p.key, p.comm FROM processes p JOIN boots b USING (boot) WHERE p.comm = 'bash'"], { encoding: 'utf8' });
  assert.equal(cli.error, undefined, 'the sqlite3 CLI runs (CI installs it; so does the daemon CLI test)');
  assert.equal(cli.stdout, 'b|3:30|bash\n', cli.stderr);
});

test('migration 1 → 3 keeps the rows of a version-1 file and adds the index, the saved/fs ids and runs.last_event', () => {
  const path = tempDb();
  const v1 = new Database(path);
  migrate(v1, 1);
  v1.prepare("INSERT INTO processes (boot_id, key, pid, start_time, comm, uid, euid, origin) VALUES ('b', '42:7', 42, 1000, 'old', 5, 6, 'seeded')").run();
  v1.prepare("INSERT INTO runs (boot_id, started, source) VALUES ('b', 500, 'netlink')").run(); // it crashed: no stopped
  v1.prepare("INSERT INTO events (boot_id, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES ('b', 1, 1, 1500, 0, 'sid', 42, 42, '42:7', 'observed', '{}')").run();
  v1.close();
  const store = new EventStore({ path, bootId: 'b' });
  assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.deepEqual(userIndexes(store.db), CURRENT_INDEXES);
  for (const c of ['suid', 'fsuid', 'sgid', 'fsgid']) assert.ok(columns(store.db, 'processes').includes(c), c);
  assert.ok(columns(store.db, 'runs').includes('last_event'));
  const old = getProcess(store.db, 'b', '42:7')!;
  assert.equal(old.comm, 'old');
  assert.equal(old.euid, 6);
  assert.equal(old.suid, null, 'not recorded by version 1: unknown');
  assert.equal(store.previousRunCrashed, true);
  assert.equal(store.previousRun?.watchEndedMs, 1500, 'a crashed run of a version-1 file ended at its last event');
  const [event] = queryEvents(store.db, { limit: 10 });
  assert.deepEqual([event?.id, event?.bootId, event?.kind, event?.key], [1, 'b', 'sid', '42:7']);
  store.beginRun('test');
  store.close();
});

test('retention deletes exited processes through the exit-time index, in budgeted steps', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const plan = (store.db.prepare('EXPLAIN QUERY PLAN SELECT id FROM processes WHERE exit_time < ? LIMIT 10').all(1) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  assert.match(plan, /processes_exit/, plan);
  const table = new ProcessTable({ startTicksOf: () => null });
  const batch = [];
  for (let i = 0; i < 12_000; i++) batch.push(exec(1000 + i, i * 1000, { startTicks: i }), exit(1000 + i, i * 1000 + 500));
  table.apply(batch);
  store.enqueue(batch, (k) => table.get(k), wall);
  store.flush();
  const now = wall(12_000 * 1000) + 3_600_000;
  let steps = 0;
  let events = 0;
  let processes = 0;
  for (let r = { done: false, eventsDeleted: 0, processesDeleted: 0 }; !r.done; steps++) {
    r = applyRetention(store.db, { maxAgeMs: 60_000, maxBytes: null }, now, 5_000);
    assert.ok(r.eventsDeleted + r.processesDeleted <= 5_000, 'a step stays within its budget');
    events += r.eventsDeleted;
    processes += r.processesDeleted;
  }
  assert.equal(events, 24_000);
  assert.equal(processes, 12_000);
  assert.ok(steps >= 8, `${steps} steps`);
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM processes').get() as { n: number }).n, 0);
  store.close();
});

test('events: the newest N, oldest first, and whether older ones matched', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const batch = [];
  for (let i = 1; i <= 30; i++) batch.push(exec(100 + i, i * 1e6, { startTicks: i }));
  store.enqueue(batch, () => undefined, wall);
  store.flush();
  const page = latestEvents(store.db, { limit: 10 });
  assert.deepEqual(page.events.map((e) => e.pid), [121, 122, 123, 124, 125, 126, 127, 128, 129, 130]);
  assert.equal(page.truncated, true);
  assert.equal(latestEvents(store.db, { limit: 30 }).truncated, false, 'exactly the limit is not truncated');
  assert.deepEqual(queryEvents(store.db, { afterId: 28, limit: 10 }).map((e) => e.pid), [129, 130], 'followers page forward by id');
  store.close();
});

test('saved and filesystem ids are stored', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const table = new ProcessTable({ startTicksOf: () => null });
  const events = [exec(7, 1e6, { startTicks: 70, comm: 'setuid', uids: [1000, 0, 1002, 1003], gids: [100, 101, 102, 103] })];
  table.apply(events);
  store.enqueue(events, (k) => table.get(k), wall);
  store.flush();
  const [p] = queryHistory(store.db, { pid: 7, limit: 1 });
  assert.deepEqual([p?.uid, p?.euid, p?.suid, p?.fsuid, p?.gid, p?.egid, p?.sgid, p?.fsgid], [1000, 0, 1002, 1003, 100, 101, 102, 103]);
  store.close();
});

test('files are private: database, -wal and -shm 0600, an existing world-readable file is tightened, 0640 for a group', () => {
  const mode = (p: string): number => statSync(p).mode & 0o777;
  const path = tempDb();
  const store = new EventStore({ path, bootId: 'b', source: 'test' });
  store.enqueue([exec(5, 1, { startTicks: 5 })], () => undefined, wall);
  store.flush();
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    assert.ok(existsSync(f), f);
    assert.equal(mode(f), 0o600, f);
  }
  store.close();
  chmodSync(path, 0o644);
  new EventStore({ path, bootId: 'b' }).close();
  assert.equal(mode(path), 0o600, 'tightened on open');
  const shared = tempDb();
  new EventStore({ path: shared, bootId: 'b', group: process.getgid!() }).close();
  assert.equal(mode(shared), 0o640);
  assert.equal(statSync(shared).gid, process.getgid!());
});

test('processes of an earlier boot still marked alive are closed as inferred when that boot stopped watching', () => {
  const path = tempDb();
  const before = new EventStore({ path, bootId: 'old-boot', source: 'test' });
  const { table, events } = sampleTable(); // init (1:10) never exits
  before.enqueue(events, (k) => table.get(k), wall);
  before.flush();
  before.close();
  const stoppedAt = (new Database(path).prepare('SELECT stopped FROM runs').get() as { stopped: number }).stopped;
  const after = new EventStore({ path, bootId: 'new-boot', source: 'test' });
  assert.equal(after.previousRun?.bootId, 'old-boot');
  assert.equal(after.closeOtherBoots(), 1);
  const init = getProcess(after.db, 'old-boot', '1:10')!;
  assert.equal(init.exitTime, new Date(stoppedAt).toISOString());
  assert.equal(init.exitOrigin, 'inferred');
  const [gone] = queryEvents(after.db, { kinds: ['inferred_exit'], limit: 10 });
  assert.equal(gone?.bootId, 'old-boot');
  assert.equal(gone?.key, '1:10');
  assert.equal(gone?.provenance, 'inferred');
  assert.deepEqual(queryHistory(after.db, { sinceMs: Date.now() + 3_600_000, limit: 10 }), [], 'it no longer matches every later time range');
  assert.equal(after.closeOtherBoots(), 0, 'once');
  after.close();
});

test('a crashed run ended at its last stored event; a run that stored nothing, at its start', () => {
  const path = tempDb();
  const first = new EventStore({ path, bootId: 'b', source: 'test' });
  const t0 = Date.now();
  const soon = (ns: number): number => t0 + ns / 1e6;
  first.enqueue([exec(5, 2e9, { startTicks: 5 })], () => undefined, soon);
  first.flush();
  first.db.close(); // no close(): as after kill -9
  const second = new EventStore({ path, bootId: 'b', source: 'test' });
  assert.equal(second.previousRunCrashed, true);
  assert.equal(second.previousRun?.watchEndedMs, soon(2e9));
  second.db.close();
  const third = new EventStore({ path, bootId: 'b' });
  const started = (third.db.prepare('SELECT started FROM runs ORDER BY run DESC LIMIT 1').get() as { started: number }).started;
  assert.equal(third.previousRun?.watchEndedMs, started, 'nothing stored: it stopped watching no earlier than it started');
  third.db.close();
});

test('a store overflow reports its lost row to onLost, for followers and counters', () => {
  const seen: LostEvent[] = [];
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test', maxQueue: 5, onLost: (e) => seen.push(e) });
  const batch = [];
  for (let i = 0; i < 8; i++) batch.push(exec(100 + i, 1e6 * (i + 1), { startTicks: i }));
  store.enqueue(batch, () => undefined, wall);
  store.flush();
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.count, 3);
  assert.equal(seen[0]!.ktimeNs, 8e6, 'placed at the last dropped event');
  const [row] = queryEvents(store.db, { kinds: ['lost'], limit: 1 });
  assert.equal(row?.time, new Date(wall(8e6)).toISOString());
  store.close();
});

test('damaged pages behind a valid header: refused at open with one line, first problem and how many more', () => {
  const path = tempDb();
  const store = new EventStore({ path, bootId: 'b', source: 'test' });
  const table = new ProcessTable({ startTicksOf: () => null });
  const batch = [];
  for (let i = 0; i < 20_000; i++) batch.push(exec(1000 + (i % 30_000), i, { startTicks: i, argv: ['/bin/true', `arg-${i}`] }));
  table.apply(batch);
  store.enqueue(batch, (k) => table.get(k), wall);
  store.flush();
  store.close();
  const probe = new Database(path, { readonly: true });
  const pageSize = probe.pragma('page_size', { simple: true }) as number;
  probe.close();
  const pages = statSync(path).size / pageSize;
  assert.ok(pages > 100, `${pages} pages`);
  const header = Buffer.alloc(100);
  const fd = openSync(path, 'r+');
  readSync(fd, header, 0, 100, 0);
  for (let page = Math.floor(pages / 2); page < Math.floor(pages / 2) + 20; page++) writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, page * pageSize);
  closeSync(fd);
  assert.match(header.toString('latin1', 0, 16), /^SQLite format 3/, 'the header is intact');
  const runsBefore = (new Database(path, { readonly: true }).prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
  assert.throws(() => new EventStore({ path, bootId: 'b' }), (e: Error) => {
    assert.ok(e instanceof StoreError, e.message);
    assert.match(e.message, /^database .*events\.db failed its integrity check: .+ \(and \d+( or more)? more problems?\); move it aside or restore a backup$/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
  const runsAfter = (new Database(path, { readonly: true }).prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
  assert.equal(runsAfter, runsBefore, 'no run was recorded for a start that was refused');
});

test('close() closes the file even when the last flush fails, and leaves the run unmarked', () => {
  const path = tempDb();
  const store = new EventStore({ path, bootId: 'b1', source: 'test' });
  store.db.exec("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
  store.enqueue([exec(5, 1, { startTicks: 5 })], () => undefined, wall);
  assert.throws(() => store.close(), /disk says no/);
  assert.equal(store.db.open, false);
  const again = new EventStore({ path, bootId: 'b1' });
  assert.equal(again.previousRunCrashed, true, 'events were not written: the next start treats it as a crash');
  again.db.close();
});

test('kill -9 during writes: integrity holds and every acknowledged event is there', async () => {
  const path = tempDb();
  // A child writes batches and reports each committed total; we kill it mid-stream.
  const script = `
    const { EventStore } = await import(${JSON.stringify(new URL('../../src/store/index.js', import.meta.url).href)});
    const store = new EventStore({ path: ${JSON.stringify(path)}, bootId: 'b', source: 'test' });
    let total = 0;
    for (let round = 0; ; round++) {
      const batch = [];
      for (let i = 0; i < 500; i++) batch.push({ seq: ++total, ktimeNs: total, pid: 1, tid: 1, cpu: 0, provenance: 'observed', kind: 'sid' });
      store.enqueue(batch, () => undefined, (ns) => ns);
      store.flush();
      process.stdout.write(total + '\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acknowledged = 0;
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = chunk.toString().trim().split('\n');
      acknowledged = Number(lines[lines.length - 1]);
      if (acknowledged >= 20_000 && child.exitCode === null) { child.kill('SIGKILL'); resolve(); }
    });
  });
  await new Promise((r) => child.on('exit', r));
  const store = new EventStore({ path, bootId: 'b', source: 'test' });
  assert.equal(store.previousRunCrashed, true, 'the run without a clean stop is noticed');
  assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
  const count = (store.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  assert.ok(count >= acknowledged, `stored ${count} ≥ acknowledged ${acknowledged}`);
  store.close();
});

test('a failed write puts the batch back: nothing is lost, and the next flush writes it', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const batch = [exec(5, 1, { startTicks: 5 }), exec(6, 2, { startTicks: 6 })];
  store.enqueue(batch, () => undefined, wall);
  store.db.exec('CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, \'disk says no\'); END');
  assert.throws(() => store.flush(), /disk says no/);
  assert.equal(store.counters().queued, 2, 'the batch is queued again');
  store.db.exec('DROP TRIGGER refuse');
  assert.equal(store.flush(), 2);
  assert.equal(queryEvents(store.db, { limit: 10 }).length, 2);
  store.close();
});

test('a process row written again follows every change (an exit alone, a new image), its indexes too; origin stays', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const table = new ProcessTable({ startTicksOf: (pid) => pid * 10 });
  const write = (events: ReturnType<typeof exec>[]): void => {
    table.apply(events);
    store.enqueue(events, (k) => table.get(k), wall);
    store.flush();
  };
  write([exec(1, 1e6, { startTicks: 10, comm: 'init', exe: '/sbin/init', ppid: 0 }), fork(5, 1, 2e6)]);
  const forked = getProcess(store.db, 'b1', '5:50')!;
  assert.equal(forked.exe, '/sbin/init', 'a fork child runs its parent\'s image');
  write([exec(5, 3e6, { startTicks: 50, comm: 'worker', exe: '/usr/bin/worker', argv: ['worker', '-x'], ppid: 1, uids: [0, 33, 33, 33] })]);
  const execd = getProcess(store.db, 'b1', '5:50')!;
  assert.deepEqual([execd.comm, execd.exe, execd.argv, execd.euid, execd.origin], ['worker', '/usr/bin/worker', ['worker', '-x'], 33, forked.origin]);
  assert.deepEqual(queryHistory(store.db, { exe: '/usr/bin/worker', limit: 10 }).map((p) => p.key), ['5:50'], 'the exe index has the new image');
  assert.deepEqual(queryHistory(store.db, { exe: '/sbin/init', limit: 10 }).map((p) => p.key), ['1:10'], 'and not the old one');
  assert.deepEqual(queryHistory(store.db, { euid: 33, limit: 10 }).map((p) => p.key), ['5:50']);
  write([exit(5, 9e6, 3)]);
  const ended = getProcess(store.db, 'b1', '5:50')!;
  assert.deepEqual([ended.exitCode, ended.exitTime, ended.exitOrigin, ended.exe, ended.argv], [3, new Date(wall(9e6)).toISOString(), 'observed', '/usr/bin/worker', ['worker', '-x']]);
  assert.deepEqual(queryHistory(store.db, { sinceMs: wall(9e6) + 1, limit: 10 }).map((p) => p.key), ['1:10'], 'the exit-time index has the exit');
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM processes').get() as { n: number }).n, 2, 'one row per process');
  store.close();
});
