/**
 * The store as the exporter's outbox (schema 8): what comes after the last acknowledged id,
 * as messages ready to publish, and the cursors that say how far the server has confirmed.
 * Event ids are the store's row ids: one writer appends them in order, one by one, and only
 * retention deletes (the oldest; never the newest, so ids are never reused). A hole in the
 * ids after the cursor is therefore always events deleted before they were exported: it
 * becomes a `lost` record at its place in the sequence, never a silent gap.
 */

import type Database from 'better-sqlite3';
import { queryAlerts } from '../alerts/store.js';
import type { UserDb } from '../procfs/index.js';
import {
  alertMsgId, alertRecord, alertSubject, eventMsgId, eventRecord, eventSubject, gapMsgId, gapRecord, recordHead, type EventRow, type Subjects,
} from './records.js';

export interface OutboxMessage {
  subject: string;
  msgId: string;
  body: string;
  /** The cursor once the server has acknowledged this message (and every one before it). */
  upTo: number;
  type: 'event' | 'alert' | 'lost';
  /** Events a `lost` record stands for. */
  lostCount: number;
}

export type OutboxStream = 'events' | 'alerts';

const EVENTS_CURSOR = 'nats.events';
/** The real and effective uids at the start of `"uids":[...]`. */
const UIDS = /^\d+,(\d+)[,\]]/;
const ALERTS_CURSOR = 'nats.alerts';

export class Outbox {
  /** This database's export identity (schema 8's `store_id`). */
  storeId: string;
  private head: string;
  private readonly bootIds = new Map<number, string>();
  private readonly readEvents: Database.Statement;
  private readonly readChanges: Database.Statement;
  private readonly setCursor: Database.Statement;
  private readonly dropChanges: Database.Statement;
  /** Subject and `"kind":"…"` text per event kind, and a boot id's JSON text per boot: made once. */
  private readonly kinds = new Map<string, { subject: string; kindJson: string }>();
  /** `HOST:STORE:e`, the start of every event's message id. */
  private eventIdPrefix = '';
  /** What the cursors hold now (the store has the same; read once, then kept here). */
  private cursors = { events: 0, alerts: 0 };

  constructor(private readonly db: Database.Database, private readonly subjects: Subjects, private readonly host: string, private readonly users: UserDb,
    private readonly log: (line: string) => void) {
    this.readEvents = db.prepare('SELECT id, boot, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data FROM events WHERE id > ? ORDER BY id LIMIT ?').raw();
    this.readChanges = db.prepare('SELECT id, alert, state FROM alert_changes WHERE id > ? ORDER BY id LIMIT ?').raw();
    this.setCursor = db.prepare('UPDATE export_state SET value = ? WHERE name = ?');
    this.dropChanges = db.prepare('DELETE FROM alert_changes WHERE id <= ?');
    this.storeId = this.readStoreId();
    this.head = recordHead('event', host, this.storeId);
    this.setUp();
  }

  private readStoreId(): string {
    return String((this.db.prepare("SELECT value FROM export_state WHERE name = 'store_id'").get() as { value: string }).value);
  }

  /**
   * Creates the cursors on the first start with export configured: every event still stored
   * and every stored alert will be sent. A cursor ahead of the newest id (a database restored
   * from a backup) would skip what comes: start again from the oldest, under a new store id,
   * so the new records cannot be taken for duplicates of the old ones.
   */
  private setUp(): void {
    const get = this.db.prepare('SELECT value FROM export_state WHERE name = ?').pluck();
    const bounds = this.db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM events').get() as { lo: number | null; hi: number | null };
    const start = bounds.lo === null ? 0 : bounds.lo - 1;
    this.db.transaction(() => {
      const events = get.get(EVENTS_CURSOR) as number | undefined;
      if (events === undefined) this.db.prepare('INSERT INTO export_state (name, value) VALUES (?, ?)').run(EVENTS_CURSOR, start);
      else if (bounds.hi !== null && events > bounds.hi) {
        this.log(`procwatch export: the export cursor (${events}) is ahead of the newest stored event (${bounds.hi}): the database was restored or replaced; exporting it again from the oldest event under a new store id`);
        this.db.prepare("UPDATE export_state SET value = lower(hex(randomblob(8))) WHERE name = 'store_id'").run();
        this.setCursor.run(start, EVENTS_CURSOR);
      }
      if (get.get(ALERTS_CURSOR) === undefined) {
        // Every stored alert, as it stands now, then the triggers record each change.
        const last = this.db.prepare('SELECT max(id) FROM alert_changes').pluck().get() as number | null;
        this.db.prepare('INSERT INTO export_state (name, value) VALUES (?, ?)').run(ALERTS_CURSOR, last ?? 0);
        this.db.prepare('INSERT INTO alert_changes (alert, state) SELECT id, state FROM alerts ORDER BY id').run();
      }
    })();
    this.storeId = this.readStoreId();
    this.head = recordHead('event', this.host, this.storeId);
    this.eventIdPrefix = eventMsgId(this.subjects.hostToken, this.storeId, 0).slice(0, -1);
    this.cursors = { events: Number(get.get(EVENTS_CURSOR)), alerts: Number(get.get(ALERTS_CURSOR)) };
  }

  cursor(stream: OutboxStream): number {
    return this.cursors[stream];
  }

  /** The server acknowledged everything up to `upTo`: remembered in the store (one small transaction). */
  ack(stream: OutboxStream, upTo: number): void {
    if (upTo <= this.cursors[stream]) return;
    this.db.transaction(() => {
      this.setCursor.run(upTo, stream === 'events' ? EVENTS_CURSOR : ALERTS_CURSOR);
      if (stream === 'alerts') this.dropChanges.run(upTo);
    })();
    this.cursors[stream] = upTo;
  }

  /** The boot id as JSON text (quoted). */
  private bootIdJson(boot: number): string {
    let id = this.bootIds.get(boot);
    if (id === undefined) {
      id = JSON.stringify((this.db.prepare('SELECT boot_id FROM boots WHERE boot = ?').pluck().get(boot) as string | undefined) ?? 'unknown-boot');
      this.bootIds.set(boot, id);
    }
    return id;
  }

  /**
   * The effective user's name of an exec, from its details. The stored text is compact JSON
   * (JSON.stringify), in which a string can never hold an unescaped `"`: so `,"uids":[` is the
   * key itself, whatever argv and paths say, and the number after its first comma is the
   * effective uid. Parsing the whole text for it cost more than building the record.
   */
  private execUser(data: string): string | null {
    const at = data.indexOf(',"uids":[', data.indexOf('"details":{'));
    if (at >= 0) {
      const m = UIDS.exec(data.slice(at + 9, at + 60));
      if (m !== null) return this.users.userName(Number(m[1]));
    } else if (data.includes(',"uids":null')) return null;
    try {
      const uid = (JSON.parse(data) as { details?: { uids?: number[] | null } }).details?.uids?.[1];
      return typeof uid === 'number' ? this.users.userName(uid) : null;
    } catch {
      return null;
    }
  }

  /**
   * Messages for the events after `after`, in id order: at most `max` events and about
   * `maxBytes` of bodies, with a `lost` record wherever ids are missing.
   */
  nextEvents(after: number, max: number, maxBytes: number): OutboxMessage[] {
    const rows = this.readEvents.all(after, max) as unknown[][];
    if (rows.length === 0) {
      this.checkNotAhead(after);
      return [];
    }
    const out: OutboxMessage[] = [];
    let expected = after + 1;
    let bytes = 0;
    for (const r of rows) {
      const id = r[0] as number;
      if (id > expected) out.push(this.gap('events', expected, id - 1, id - expected));
      const kind = r[6] as string;
      let k = this.kinds.get(kind);
      if (k === undefined) {
        k = { subject: eventSubject(this.subjects, kind), kindJson: JSON.stringify(kind) };
        this.kinds.set(kind, k);
      }
      const row: EventRow = {
        id, bootIdJson: this.bootIdJson(r[1] as number), run: r[2] as number, seq: r[3] as number, timeMs: r[4] as number, ktimeNs: r[5] as number,
        kindJson: k.kindJson, pid: r[7] as number, tid: r[8] as number, key: r[9] as string | null, provenance: r[10] as string, data: r[11] as string,
      };
      const user = kind === 'exec' || kind === 'inferred_start' ? this.execUser(row.data) : null;
      const body = eventRecord(this.head, row, user);
      out.push({ subject: k.subject, msgId: this.eventIdPrefix + id, body, upTo: id, type: 'event', lostCount: 0 });
      expected = id + 1;
      bytes += body.length;
      if (bytes >= maxBytes) break;
    }
    return out;
  }

  /**
   * Retention that deleted every event lets SQLite hand out ids from 1 again: a cursor ahead
   * of the newest id would then skip what comes. Start again under a new store id.
   */
  private checkNotAhead(after: number): void {
    const newest = this.db.prepare('SELECT max(id) FROM events').pluck().get() as number | null;
    if (newest !== null && newest < after) this.setUp();
  }

  private gap(stream: OutboxStream, first: number, last: number, count: number): OutboxMessage {
    const what = stream === 'events' ? 'event(s)' : 'alert record(s)';
    const reason = `${count} ${what} (ids ${first}-${last}) were deleted from the local store before they could be exported (local retention while the link was down or slow)`;
    const subject = stream === 'events' ? eventSubject(this.subjects, 'lost') : alertSubject(this.subjects);
    return {
      subject, msgId: gapMsgId(this.subjects.hostToken, this.storeId, stream, first, last), upTo: last, type: 'lost', lostCount: count,
      body: gapRecord(this.host, this.storeId, stream, first, last, count, reason),
    };
  }

  /** Alert records after `after` (new alerts and state changes, in order), at most `max`. */
  nextAlerts(after: number, max: number): OutboxMessage[] {
    const out: OutboxMessage[] = [];
    for (const [changeId, alertId, state] of this.readChanges.all(after, max) as Array<[number, number, 'firing' | 'resolved']>) {
      const alert = queryAlerts(this.db, { afterId: alertId - 1, limit: 1 })[0];
      if (alert === undefined || alert.id !== alertId) {
        out.push(this.gap('alerts', changeId, changeId, 1)); // the alert itself was pruned first
        continue;
      }
      // The record says what happened at this change, whatever happened after it.
      const shown = state === 'firing' ? { ...alert, state, resolvedTime: null } : alert;
      out.push({
        subject: alertSubject(this.subjects), msgId: alertMsgId(this.subjects.hostToken, this.storeId, changeId), upTo: changeId, type: 'alert', lostCount: 0,
        body: alertRecord(this.host, this.storeId, changeId, state, shown),
      });
    }
    return out;
  }

  /** How far behind the events are: ids after the cursor, and the age of the oldest of them. */
  lag(upTo: number = this.cursors.events): { events: number; seconds: number } {
    const next = this.db.prepare('SELECT id, time FROM events WHERE id > ? ORDER BY id LIMIT 1').get(upTo) as { id: number; time: number } | undefined;
    if (next === undefined) return { events: 0, seconds: 0 };
    const newest = this.db.prepare('SELECT max(id) FROM events').pluck().get() as number;
    return { events: newest - upTo, seconds: Math.max(0, (Date.now() - next.time) / 1000) };
  }

  /** Alert records not yet acknowledged. */
  alertsBehind(): number {
    return this.db.prepare('SELECT count(*) FROM alert_changes WHERE id > ?').pluck().get(this.cursors.alerts) as number;
  }
}
