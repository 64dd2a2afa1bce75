import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { EventStore, StoreError, applyRetention, queryEvents, queryHistory, queryLineage, SCHEMA_VERSION } from '../../src/store/index.js';
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
  const pageBytes = (): number => (store.db.pragma('page_count', { simple: true }) as number) * 4096;
  const before = pageBytes();
  const limit = Math.floor(before / 3);
  const r = applyRetention(store.db, { maxAgeMs: null, maxBytes: limit });
  assert.ok(r.eventsDeleted > 0);
  const left = queryEvents(store.db, { limit: 100_000 });
  assert.ok(left.length < 40_000 && left.length > 0);
  assert.equal(left[0]!.id, 40_000 - left.length + 1, 'the newest events are the ones kept');
  const used = ((store.db.pragma('page_count', { simple: true }) as number) - (store.db.pragma('freelist_count', { simple: true }) as number)) * 4096;
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

test('migration from version 0 (an empty file) creates every table', () => {
  const path = tempDb();
  new Database(path).close();
  const store = new EventStore({ path, bootId: 'b', source: 'test' });
  const tables = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
  assert.deepEqual(tables, ['events', 'processes', 'runs']);
  store.close();
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
