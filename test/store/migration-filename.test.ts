/**
 * Schema 6 (issue 14, item 16; it was 4 on its branch, after issues 11 and 12's 4 and 5 on
 * main) from a version-3 file with data, through 4 and 5: `processes.filename` is added
 * and filled from each process's last stored exec event; `runs` keeps every row and gains a
 * comment on every column; the store goes on and stores the filename of new execs.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EventStore, getProcess, migrate, queryHistory, SCHEMA_VERSION } from '../../src/store/index.js';
import { ProcessTable } from '../../src/table/index.js';
import { exec } from '../table/events.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-migrate4-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const BOOT = '44444444-4444-4444-8444-444444444444';

function writeVersion3(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  migrate(db, 3);
  db.prepare('INSERT INTO boots (boot, boot_id) VALUES (1, ?)').run(BOOT);
  const proc = db.prepare("INSERT INTO processes (boot, key, pid, start_ticks, start_time, exec_time, comm, exe, origin) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)");
  proc.run('10:100', 10, 100, 1000, 1001, 'true', '/usr/bin/true', 'observed'); // exec'd twice: the last exec counts
  proc.run('11:110', 11, 110, 1100, 1101, 'sh', '/usr/bin/dash', 'observed'); // netlink: no filename in its event
  proc.run('12:120', 12, 120, 1200, null, 'cron', '/usr/sbin/cron', 'seeded'); // no exec stored
  const event = db.prepare("INSERT INTO events (boot, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (1, 1, ?, ?, 0, ?, ?, ?, ?, 'observed', ?)");
  event.run(1, 1000, 'exec', 10, 10, '10:100', JSON.stringify({ cpu: 0, details: { comm: 'env', exe: '/usr/bin/env', filename: '/usr/bin/env' } }));
  event.run(2, 1001, 'exec', 10, 10, '10:100', JSON.stringify({ cpu: 0, details: { comm: 'true', exe: '/usr/bin/true', filename: '/bin/true' } }));
  event.run(3, 1002, 'exit', 10, 10, '10:100', JSON.stringify({ cpu: 0, status: { code: 0, signal: null, coreDumped: false } }));
  event.run(4, 1101, 'exec', 11, 11, '11:110', JSON.stringify({ cpu: 0, details: { comm: 'sh', exe: '/usr/bin/dash', filename: null } }));
  db.prepare("INSERT INTO runs (boot_id, started, stopped, source, last_event) VALUES (?, 900, 2000, 'ebpf', 1101), (?, 2100, NULL, 'netlink', NULL)").run(BOOT, BOOT);
  assert.equal(db.pragma('user_version', { simple: true }), 3);
  db.close();
}

test('migration 3 → current: filename from the last stored exec, runs kept with a comment on every column', () => {
  const path = join(dir, 'v3.db');
  writeVersion3(path);
  const store = new EventStore({ path, bootId: BOOT });
  const db = store.db;
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  assert.equal(getProcess(db, BOOT, '10:100')?.filename, '/bin/true');
  assert.equal(getProcess(db, BOOT, '10:100')?.exe, '/usr/bin/true', 'exe stays the resolved image');
  assert.equal(getProcess(db, BOOT, '11:110')?.filename, null);
  assert.equal(getProcess(db, BOOT, '12:120')?.filename, null);
  // The query the README gives: what was run as /bin/true, which exe= does not find.
  assert.deepEqual(db.prepare("SELECT key FROM processes WHERE filename = '/bin/true'").raw().all().flat(), ['10:100']);
  assert.deepEqual(db.prepare("SELECT key FROM processes WHERE exe = '/bin/true'").raw().all().flat(), []);
  // runs: every row, and every column commented in .schema.
  assert.deepEqual(db.prepare('SELECT run, boot_id, started, stopped, source, last_event FROM runs ORDER BY run').raw().all(),
    [[1, BOOT, 900, 2000, 'ebpf', 1101], [2, BOOT, 2100, null, 'netlink', null]]);
  const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'runs'").get() as { sql: string }).sql;
  for (const column of ['run', 'boot_id', 'started', 'stopped', 'source', 'last_event']) {
    assert.match(sql, new RegExp(`\\n\\s*${column}\\s+[A-Z]+[^\\n]*--`), `runs.${column} has a comment`);
  }
  assert.match((db.prepare("SELECT sql FROM sqlite_master WHERE name = 'processes'").get() as { sql: string }).sql, /filename TEXT \/\* the path given to execve/);
  assert.equal(store.previousRunCrashed, true, 'the crashed last run is still seen');

  // The store goes on and records what execve was given.
  store.beginRun('test');
  const table = new ProcessTable({ startTicksOf: () => null });
  const events = [exec(20, 5, { startTicks: 200, exe: '/usr/bin/true', filename: '/bin/true' })];
  table.apply(events);
  store.enqueue(events, (k) => table.get(k), (ns) => 3000 + ns);
  store.flush();
  assert.equal(getProcess(db, BOOT, '20:200')?.filename, '/bin/true');
  assert.deepEqual(queryHistory(db, { pid: 20, limit: 5 }).map((p) => p.filename), ['/bin/true']);
  store.close();
});
