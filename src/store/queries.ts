/**
 * Read-side queries over the store: event history, "what ran" history, lineage, stats.
 * Filters arrive validated (api/ and cli/ check user input); every query is bounded by a limit.
 */

import type Database from 'better-sqlite3';
import type { ProcessFields } from '../events/types.js';
import { hasGlob } from '../util/glob.js';

export interface StoredEvent {
  id: number;
  bootId: string;
  run: number;
  seq: number;
  time: string;
  ktimeNs: number;
  kind: string;
  pid: number;
  tid: number;
  key: string | null;
  provenance: string;
  [field: string]: unknown;
}

export interface StoredProcess extends ProcessFields {
  bootId: string;
  /** Wall time of the exec that gave it its current image; null when not observed. */
  execTime: string | null;
  /** Saved and filesystem user and group ids (the kernel's four ids: real, effective, saved, fs). */
  suid: number | null;
  fsuid: number | null;
  sgid: number | null;
  fsgid: number | null;
}

export interface EventQuery {
  sinceMs?: number;
  untilMs?: number;
  kinds?: string[];
  pid?: number;
  key?: string;
  bootId?: string;
  /** Only events with id greater than this (for following). */
  afterId?: number;
  limit: number;
}

/** The newest events of a query, and whether older ones were left out. */
export interface EventPage {
  events: StoredEvent[];
  truncated: boolean;
}

export interface HistoryQuery {
  sinceMs?: number;
  untilMs?: number;
  exe?: string;
  /** comm, glob allowed */
  name?: string;
  euid?: number;
  pid?: number;
  limit: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

interface EventRow { id: number; boot_id: string; run: number; seq: number; time: number; ktime_ns: number; kind: string; pid: number; tid: number; key: string | null; provenance: string; data: string }

function eventFromRow(r: EventRow): StoredEvent {
  return {
    id: r.id, bootId: r.boot_id, run: r.run, seq: r.seq, time: new Date(r.time).toISOString(), ktimeNs: r.ktime_ns, kind: r.kind,
    pid: r.pid, tid: r.tid, key: r.key, provenance: r.provenance, ...(JSON.parse(r.data) as Record<string, unknown>),
  };
}

type ProcessRow = Record<string, unknown> & { boot_id: string; key: string; pid: number; argv: string | null; core_dumped: number | null };

export function processFromRow(r: ProcessRow): StoredProcess {
  const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  const s = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    bootId: r.boot_id, key: r.key, pid: r.pid, startTicks: n(r.start_ticks), ppid: n(r.ppid), parentKey: s(r.parent_key),
    startTime: iso(n(r.start_time)), execTime: iso(n(r.exec_time)), exitTime: iso(n(r.exit_time)), comm: s(r.comm), exe: s(r.exe),
    argv: r.argv === null ? null : (JSON.parse(r.argv) as string[]), cwd: s(r.cwd), uid: n(r.uid), euid: n(r.euid), suid: n(r.suid),
    fsuid: n(r.fsuid), gid: n(r.gid), egid: n(r.egid), sgid: n(r.sgid), fsgid: n(r.fsgid), label: s(r.label), cgroup: s(r.cgroup), exitCode: n(r.exit_code), exitSignal: n(r.exit_signal),
    coreDumped: r.core_dumped === null ? null : r.core_dumped === 1, origin: String(r.origin), exitOrigin: s(r.exit_origin),
  };
}


function eventFilter(q: EventQuery): { where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.afterId !== undefined) { where.push('id > ?'); args.push(q.afterId); }
  if (q.sinceMs !== undefined) { where.push('time >= ?'); args.push(q.sinceMs); }
  if (q.untilMs !== undefined) { where.push('time <= ?'); args.push(q.untilMs); }
  if (q.kinds !== undefined && q.kinds.length > 0) { where.push(`kind IN (${q.kinds.map(() => '?').join(',')})`); args.push(...q.kinds); }
  if (q.pid !== undefined) { where.push('pid = ?'); args.push(q.pid); }
  if (q.key !== undefined) { where.push('key = ?'); args.push(q.key); }
  if (q.bootId !== undefined) { where.push('boot_id = ?'); args.push(q.bootId); }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

/** The oldest `limit` matching events, in storage order: pages of a follower (with afterId). */
export function queryEvents(db: Database.Database, q: EventQuery): StoredEvent[] {
  const { where, args } = eventFilter(q);
  return (db.prepare(`SELECT * FROM events ${where} ORDER BY id LIMIT ?`).all(...args, q.limit) as EventRow[]).map(eventFromRow);
}

/** The newest `limit` matching events, returned oldest first; `truncated` when older ones matched too. */
export function latestEvents(db: Database.Database, q: EventQuery): EventPage {
  const { where, args } = eventFilter(q);
  const rows = db.prepare(`SELECT * FROM events ${where} ORDER BY id DESC LIMIT ?`).all(...args, q.limit + 1) as EventRow[];
  const truncated = rows.length > q.limit;
  return { events: rows.slice(0, q.limit).reverse().map(eventFromRow), truncated };
}

export function queryHistory(db: Database.Database, q: HistoryQuery): StoredProcess[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.sinceMs !== undefined) { where.push('coalesce(exit_time, 9e15) >= ?'); args.push(q.sinceMs); }
  if (q.untilMs !== undefined) { where.push('coalesce(start_time, 0) <= ?'); args.push(q.untilMs); }
  if (q.exe !== undefined) { where.push(hasGlob(q.exe) ? /* SQLite GLOB: case-sensitive, * ? [..] like our specs */ 'exe GLOB ?' : 'exe = ?'); args.push(q.exe); }
  if (q.name !== undefined) { where.push(hasGlob(q.name) ? 'comm GLOB ?' : 'comm = ?'); args.push(q.name); }
  if (q.euid !== undefined) { where.push('euid = ?'); args.push(q.euid); }
  if (q.pid !== undefined) { where.push('pid = ?'); args.push(q.pid); }
  const sql = `SELECT * FROM processes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start_time DESC LIMIT ?`;
  return (db.prepare(sql).all(...args, q.limit) as ProcessRow[]).map(processFromRow);
}

export function getProcess(db: Database.Database, bootId: string, key: string): StoredProcess | null {
  const row = db.prepare('SELECT * FROM processes WHERE boot_id = ? AND key = ?').get(bootId, key) as ProcessRow | undefined;
  return row === undefined ? null : processFromRow(row);
}

/** The most recent instance with this pid in this boot (for `lineage PID`). */
export function latestByPid(db: Database.Database, bootId: string, pid: number): StoredProcess | null {
  const row = db.prepare('SELECT * FROM processes WHERE boot_id = ? AND pid = ? ORDER BY start_time DESC LIMIT 1').get(bootId, pid) as ProcessRow | undefined;
  return row === undefined ? null : processFromRow(row);
}

export interface Lineage {
  process: StoredProcess;
  /** Nearest first. */
  ancestors: StoredProcess[];
  /** Breadth-first, with depth. */
  descendants: Array<StoredProcess & { depth: number }>;
  truncated: boolean;
}

export function queryLineage(db: Database.Database, bootId: string, key: string, maxDescendants: number): Lineage | null {
  const process = getProcess(db, bootId, key);
  if (process === null) return null;
  const ancestors = (db.prepare(`
    WITH RECURSIVE up(k, d) AS (
      SELECT parent_key, 1 FROM processes WHERE boot_id = @boot AND key = @key
      UNION ALL SELECT p.parent_key, up.d + 1 FROM processes p JOIN up ON p.boot_id = @boot AND p.key = up.k WHERE up.d < 1000
    )
    SELECT p.* FROM up JOIN processes p ON p.boot_id = @boot AND p.key = up.k ORDER BY up.d`).all({ boot: bootId, key }) as ProcessRow[]).map(processFromRow);
  const rows = db.prepare(`
    WITH RECURSIVE down(k, d) AS (
      SELECT key, 1 FROM processes WHERE boot_id = @boot AND parent_key = @key
      UNION ALL SELECT p.key, down.d + 1 FROM processes p JOIN down ON p.boot_id = @boot AND p.parent_key = down.k WHERE down.d < 1000
    )
    SELECT p.*, down.d AS depth FROM down JOIN processes p ON p.boot_id = @boot AND p.key = down.k ORDER BY down.d, p.start_time LIMIT @limit`).all({ boot: bootId, key, limit: maxDescendants + 1 }) as Array<ProcessRow & { depth: number }>;
  const truncated = rows.length > maxDescendants;
  const descendants = rows.slice(0, maxDescendants).map((r) => ({ ...processFromRow(r), depth: r.depth }));
  return { process, ancestors, descendants, truncated };
}

export interface StoreStats {
  events: number;
  processes: number;
  oldestEvent: string | null;
  newestEvent: string | null;
  byKindLastMinute: Record<string, number>;
}

export function queryStats(db: Database.Database): StoreStats {
  const counts = db.prepare('SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM processes) AS processes, (SELECT min(time) FROM events) AS oldest, (SELECT max(time) FROM events) AS newest').get() as { events: number; processes: number; oldest: number | null; newest: number | null };
  const byKind: Record<string, number> = {};
  for (const row of db.prepare('SELECT kind, count(*) AS n FROM events WHERE time >= ? GROUP BY kind').all(Date.now() - 60_000) as Array<{ kind: string; n: number }>) byKind[row.kind] = row.n;
  return { events: counts.events, processes: counts.processes, oldestEvent: iso(counts.oldest), newestEvent: iso(counts.newest), byKindLastMinute: byKind };
}
