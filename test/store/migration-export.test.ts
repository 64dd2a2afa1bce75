/**
 * Schema 8 (issue 15: the store as the export outbox) from a version-7 file with events and
 * alerts: every row stays, the database gets its export id, and the outbox then turns the
 * stored events and alerts into records (the API's stored-event fields plus host and store),
 * notices ids that retention deleted, and keeps its cursors across a reopen.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AlertStore } from '../../src/alerts/store.js';
import type { Alert } from '../../src/alerts/types.js';
import { Outbox } from '../../src/export/outbox.js';
import { UserDb } from '../../src/procfs/index.js';
import { EventStore, applyRetention, migrate, queryEvents, SCHEMA_VERSION } from '../../src/store/index.js';
import { exec, exit, fork } from '../table/events.js';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-migrate8-'));
  dirs.push(dir);
  return join(dir, 'events.db');
}
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const wall = (ns: number): number => 1_700_000_000_000 + ns / 1e6;
const subjects = { prefix: 'procwatch', hostToken: 'web1_example' };

function alert(over: Partial<Alert> = {}): Alert {
  return {
    id: 0, source: 'check', name: 'sshd-running', severity: 'critical', message: 'sshd: 0 processes', time: new Date(1_700_000_000_000).toISOString(),
    state: 'firing', resolvedTime: null, key: null, process: null, eventKind: null, eventSeq: null, mode: 'monitor', actions: ['log'],
    suppressed: 0, tags: [], bootId: 'b1', origin: 'checks.sshd-running', ...over,
  };
}

function version7(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  migrate(db, 7);
  db.prepare("INSERT INTO boots (boot_id) VALUES ('b1')").run();
  db.prepare("INSERT INTO runs (boot_id, started, source) VALUES ('b1', 1, 'netlink')").run();
  const ins = db.prepare('INSERT INTO events (boot, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (1, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  ins.run(1, 1000, 1e9, 'fork', 10, 10, '10:5', 'observed', '{"cpu":0,"parentPid":1,"parentTid":1,"thread":false}');
  ins.run(2, 1001, 1.001e9, 'exec', 10, 10, '10:5', 'observed', '{"cpu":0,"details":{"comm":"sh","exe":"/bin/sh","argv":["sh","-c","\\"uids\\":[0,0"],"uids":[1000,0,0,0]}}');
  db.prepare("INSERT INTO alerts (boot, time, source, name, severity, state, key, message, data) VALUES (1, 1000, 'rule', 'r1', 'warning', 'firing', '10:5', 'm1', '{}')").run();
  db.close();
}

test('migration 7 → 8 keeps events and alerts, gives the database an export id, and records alert changes only once export is set up', () => {
  const path = tempDb();
  version7(path);
  const store = new EventStore({ path, bootId: 'b1', source: 'test' });
  assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(SCHEMA_VERSION, 8);
  assert.equal(queryEvents(store.db, { limit: 10 }).length, 2);
  const storeId = store.db.prepare("SELECT value FROM export_state WHERE name = 'store_id'").pluck().get() as string;
  assert.match(storeId, /^[0-9a-f]{16}$/);
  const alerts = new AlertStore(store.db, store.boot, 1000);
  const before = alert();
  alerts.insert(before);
  assert.equal(store.db.prepare('SELECT count(*) FROM alert_changes').pluck().get(), 0, 'no export configured: the triggers record nothing');
  const outbox = new Outbox(store.db, subjects, 'web1.example', new UserDb(), () => {});
  assert.equal(outbox.storeId, storeId);
  // Setting up: the cursor before the oldest event; every stored alert as it stands.
  assert.equal(outbox.cursor('events'), 0);
  assert.deepEqual(store.db.prepare('SELECT alert, state FROM alert_changes ORDER BY id').raw().all(), [[1, 'firing'], [2, 'firing']]);
  const after = alert({ name: 'cron-running' });
  alerts.insert(after);
  after.state = 'resolved';
  after.resolvedTime = new Date(1_700_000_060_000).toISOString();
  alerts.resolve(after);
  assert.deepEqual(store.db.prepare('SELECT alert, state FROM alert_changes ORDER BY id').raw().all(), [[1, 'firing'], [2, 'firing'], [3, 'firing'], [3, 'resolved']]);
  const records = outbox.nextAlerts(0, 100);
  assert.deepEqual(records.map((m) => [m.subject, m.msgId, m.upTo]), [1, 2, 3, 4].map((i) => ['procwatch.web1_example.alerts', `web1_example:${storeId}:a${i}`, i]));
  const firing = JSON.parse(records[2]!.body) as Record<string, unknown>;
  const resolved = JSON.parse(records[3]!.body) as Record<string, unknown>;
  assert.deepEqual([firing.change, firing.state, firing.resolvedTime, firing.name], ['firing', 'firing', null, 'cron-running'], 'the firing record says what happened then');
  assert.deepEqual([resolved.change, resolved.state, resolved.resolvedTime, resolved.host, resolved.store], ['resolved', 'resolved', after.resolvedTime, 'web1.example', storeId]);
  outbox.ack('alerts', 4);
  assert.equal(store.db.prepare('SELECT count(*) FROM alert_changes').pluck().get(), 0, 'acknowledged changes leave the outbox');
  store.close();
});

test('outbox: event records are the API\'s stored events plus type, host, store (and the exec\'s user); holes become lost records; cursors survive a reopen', () => {
  const path = tempDb();
  const store = new EventStore({ path, bootId: 'b1', source: 'test' });
  const events = [fork(20, 1, 1e9), exec(20, 2e9, { uids: [0, 0, 0, 0], argv: ['/bin/echo', 'a "quoted" \u001b[2J word'] }), exit(20, 3e9)];
  for (let i = 0; i < 10; i++) events.push(exec(100 + i, 4e9 + i, { uids: [0, 0, 0, 0] }));
  store.enqueue(events, () => undefined, wall);
  store.flush();
  const outbox = new Outbox(store.db, subjects, 'web1.example', new UserDb(), () => {});
  const messages = outbox.nextEvents(0, 3, 1 << 20);
  assert.deepEqual(messages.map((m) => m.subject), ['procwatch.web1_example.events.fork', 'procwatch.web1_example.events.exec', 'procwatch.web1_example.events.exit']);
  const api = queryEvents(store.db, { limit: 3, afterId: 0 });
  messages.forEach((m, i) => {
    const r = JSON.parse(m.body) as Record<string, unknown>;
    const { type, host, store: id, user, ...rest } = r;
    assert.deepEqual([type, host, id], ['event', 'web1.example', outbox.storeId]);
    assert.deepEqual(rest, api[i], 'the same fields and values as /v1/events');
    assert.equal(user, m.subject.endsWith('.exec') ? 'root' : undefined);
  });
  // Retention deletes ids 4-8 before they were exported: counted, and a lost record stands in their place.
  outbox.ack('events', 3);
  store.db.prepare('DELETE FROM events WHERE id BETWEEN 4 AND 8').run();
  const next = outbox.nextEvents(outbox.cursor('events'), 100, 1 << 20);
  assert.equal(next[0]!.type, 'lost');
  assert.deepEqual([next[0]!.upTo, next[0]!.lostCount, next[0]!.subject, next[0]!.msgId], [8, 5, 'procwatch.web1_example.events.lost', `web1_example:${outbox.storeId}:lost4-8`]);
  const lost = JSON.parse(next[0]!.body) as Record<string, unknown>;
  assert.deepEqual([lost.type, lost.kind, lost.firstId, lost.lastId, lost.count], ['lost', 'lost', 4, 8, 5]);
  assert.deepEqual(next.slice(1).map((m) => m.upTo), [9, 10, 11, 12, 13]);
  outbox.ack('events', 10);
  // The lag's age is the oldest unexported event's, as of the call: bracketed by the clock around it.
  const oldest = store.db.prepare('SELECT time FROM events WHERE id = 11').pluck().get() as number;
  const calledAt = Date.now();
  const lag = outbox.lag();
  const returnedAt = Date.now();
  assert.equal(lag.events, 3);
  assert.ok(lag.seconds >= (calledAt - oldest) / 1000 && lag.seconds <= (returnedAt - oldest) / 1000, `lag ${lag.seconds} s`);
  store.close();
  const again = new EventStore({ path, bootId: 'b1', source: 'test' });
  const reopened = new Outbox(again.db, subjects, 'web1.example', new UserDb(), () => {});
  assert.equal(reopened.cursor('events'), 10);
  assert.deepEqual(reopened.nextEvents(10, 100, 1 << 20).map((m) => m.upTo), [11, 12, 13]);
  again.close();
});

test('retention counts the events it deletes before they were exported', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  const events = [];
  for (let i = 0; i < 100; i++) events.push(exec(100 + i, i * 1e9, { startTicks: i }));
  store.enqueue(events, () => undefined, wall);
  store.flush();
  const now = wall(100e9) + 3_600_000;
  const r = applyRetention(store.db, { maxAgeMs: 1000, maxBytes: null, exportedUpTo: 30 }, now);
  assert.equal(r.eventsDeleted, 100);
  assert.equal(r.unexportedDeleted, 70, 'ids 31-100 had not been exported');
  assert.equal(applyRetention(store.db, { maxAgeMs: 1000, maxBytes: null }, now).unexportedDeleted, 0, 'no exporter: nothing to count');
  store.close();
});

test('a cursor ahead of the newest id (a restored or emptied database) starts again from the oldest under a new store id', () => {
  const store = new EventStore({ path: tempDb(), bootId: 'b1', source: 'test' });
  store.enqueue([exec(5, 1e9), exec(6, 2e9)], () => undefined, wall);
  store.flush();
  const lines: string[] = [];
  const first = new Outbox(store.db, subjects, 'h', new UserDb(), (l) => lines.push(l));
  first.ack('events', 2);
  const oldId = first.storeId;
  store.db.prepare('DELETE FROM events').run();
  store.enqueue([exec(7, 3e9)], () => undefined, wall);
  store.flush(); // SQLite hands out id 1 again
  const messages = first.nextEvents(first.cursor('events'), 10, 1 << 20);
  assert.deepEqual(messages, [], 'nothing this time: the cursor is reset');
  assert.equal(first.cursor('events'), 0);
  assert.notEqual(first.storeId, oldId);
  assert.match(lines.join('\n'), /ahead of the newest stored event/);
  assert.deepEqual(first.nextEvents(0, 10, 1 << 20).map((m) => m.msgId), [`${subjects.hostToken}:${first.storeId}:e1`]);
  store.close();
});
