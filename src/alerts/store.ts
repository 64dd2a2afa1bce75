/**
 * Alert records in the store's `alerts` table (schema 4). Alerts are few (rules are rate
 * limited), so each is written at once in its own statement, off the event path (the rule
 * engine's slices); the oldest beyond `maxStored` go at each retention pass.
 */

import Database from 'better-sqlite3';
import { InputError } from '../errors.js';
import type { Alert } from './types.js';

export interface AlertQuery {
  sinceMs?: number;
  untilMs?: number;
  afterId?: number;
  name?: string;
  source?: 'rule' | 'check';
  limit: number;
}

/** The store's database read-only (for `rules test`, while the daemon may be writing it). */
export function openReadOnly(path: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('query_only = ON');
    db.prepare('SELECT count(*) FROM events WHERE id < 0').get();
  } catch (err) {
    throw new InputError(`cannot read the database ${path}: ${(err as Error).message}`);
  }
  return db;
}

const COLUMNS = 'a.id, (SELECT boot_id FROM boots WHERE boots.boot = a.boot), a.time, a.source, a.name, a.severity, a.state, a.resolved_time, a.key, a.message, a.data';

function alertFromRow(r: unknown[]): Alert {
  const data = JSON.parse(r[10] as string) as Partial<Alert>;
  return {
    id: r[0] as number, bootId: r[1] as string, time: new Date(r[2] as number).toISOString(), source: r[3] as Alert['source'],
    name: r[4] as string, severity: r[5] as Alert['severity'], state: r[6] as Alert['state'],
    resolvedTime: r[7] === null ? null : new Date(r[7] as number).toISOString(), key: r[8] as string | null, message: r[9] as string,
    process: data.process ?? null, eventKind: data.eventKind ?? null, eventSeq: data.eventSeq ?? null, mode: data.mode ?? 'monitor',
    actions: data.actions ?? [], suppressed: data.suppressed ?? 0, tags: data.tags ?? [], origin: data.origin ?? '',
  };
}

export function queryAlerts(db: Database.Database, q: AlertQuery): Alert[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.afterId !== undefined) { where.push('id > ?'); args.push(q.afterId); }
  if (q.sinceMs !== undefined) { where.push('time >= ?'); args.push(q.sinceMs); }
  if (q.untilMs !== undefined) { where.push('time <= ?'); args.push(q.untilMs); }
  if (q.name !== undefined) { where.push('name = ?'); args.push(q.name); }
  if (q.source !== undefined) { where.push('source = ?'); args.push(q.source); }
  const sql = `SELECT ${COLUMNS} FROM alerts a ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${q.afterId === undefined ? 'DESC' : 'ASC'} LIMIT ?`;
  const rows = (db.prepare(sql).raw().all(...args, q.limit) as unknown[][]).map(alertFromRow);
  // Without afterId: the newest `limit`, shown oldest first.
  return q.afterId === undefined ? rows.reverse() : rows;
}

export class AlertStore {
  private readonly insertAlert: Database.Statement;
  private readonly resolveAlert: Database.Statement;
  failures = 0;

  constructor(readonly db: Database.Database, private readonly boot: number, private readonly maxStored: number) {
    this.insertAlert = db.prepare('INSERT INTO alerts (boot, time, source, name, severity, state, resolved_time, key, message, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.resolveAlert = db.prepare("UPDATE alerts SET state = 'resolved', resolved_time = ? WHERE id = ?");
  }

  /** Stores the alert and sets its id; a store that cannot write is counted (the alert still goes to its actions). */
  insert(alert: Alert): void {
    const { process, eventKind, eventSeq, mode, actions, suppressed, tags, origin } = alert;
    try {
      const info = this.insertAlert.run(this.boot, Date.parse(alert.time), alert.source, alert.name, alert.severity, alert.state,
        alert.resolvedTime === null ? null : Date.parse(alert.resolvedTime), alert.key, alert.message,
        JSON.stringify({ process, eventKind, eventSeq, mode, actions, suppressed, tags, origin }));
      alert.id = Number(info.lastInsertRowid);
    } catch {
      this.failures++;
    }
  }

  resolve(alert: Alert): void {
    if (alert.id === 0 || alert.resolvedTime === null) return;
    try {
      this.resolveAlert.run(Date.parse(alert.resolvedTime), alert.id);
    } catch {
      this.failures++;
    }
  }

  /** Deletes the oldest alerts beyond maxStored; returns how many. */
  prune(): number {
    const newest = this.db.prepare('SELECT max(id) AS id FROM alerts').get() as { id: number | null };
    if (newest.id === null || newest.id <= this.maxStored) return 0;
    return this.db.prepare('DELETE FROM alerts WHERE id <= ?').run(newest.id - this.maxStored).changes;
  }
}
