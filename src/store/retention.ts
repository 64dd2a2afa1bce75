/**
 * Retention, applied while the daemon runs: events and exited processes older than the
 * age limit go, then the oldest events go until the file is under the size limit.
 * Deletes run in chunks, and a call can be given a budget of rows: the daemon runs one
 * budget at a time and yields to the event loop in between, so a large cleanup (a first
 * start on a big file, a lowered limit) never stalls the event path or the API for long.
 */

import type Database from 'better-sqlite3';

export interface RetentionPolicy {
  maxAgeMs: number | null;
  maxBytes: number | null;
  /**
   * The newest event id an exporter has (acknowledged by its server, or in hand): events above
   * it that retention deletes were never exported and are counted (`unexportedDeleted`). Null
   * or absent: no export, nothing to count.
   */
  exportedUpTo?: number | null;
}

export interface RetentionResult {
  eventsDeleted: number;
  /** Of those, events not yet exported (see RetentionPolicy.exportedUpTo). */
  unexportedDeleted: number;
  processesDeleted: number;
  /** False when the budget ran out first: call again (after yielding) to go on. */
  done: boolean;
}

/** Rows per delete: small enough to stay near the size limit and to be quick, large enough to matter. */
const CHUNK = 5_000;
const SIZE_CHUNK = 2_000;

function fileBytes(db: Database.Database): number {
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * (db.pragma('page_size', { simple: true }) as number);
}

/**
 * Deletes what the policy says must go, at most `budgetRows` rows (events and processes
 * together; default: no limit).
 */
export function applyRetention(db: Database.Database, policy: RetentionPolicy, nowMs: number = Date.now(), budgetRows = Infinity): RetentionResult {
  let eventsDeleted = 0;
  let unexportedDeleted = 0;
  let processesDeleted = 0;
  const exportedUpTo = policy.exportedUpTo ?? null;
  // What the next chunk will delete, counted before it goes (the same subquery as the delete's).
  const countUnexported = exportedUpTo === null ? null
    : db.prepare('SELECT count(*) FROM (SELECT id FROM events WHERE time < ? ORDER BY id LIMIT ?) WHERE id > ?').pluck();
  const countUnexportedOldest = exportedUpTo === null ? null
    : db.prepare('SELECT count(*) FROM (SELECT id FROM events ORDER BY id LIMIT ?) WHERE id > ?').pluck();
  /** The next chunk's size: what is left of the budget, at most `size`; 0 when spent. */
  const chunk = (size: number): number => Math.max(0, Math.min(size, budgetRows - eventsDeleted - processesDeleted));
  // Exited processes go by their exit time (indexed since schema 2); chunked like events.
  const deleteExited = db.prepare(`DELETE FROM processes WHERE id IN
    (SELECT id FROM processes WHERE exit_time < ? LIMIT ?)`);
  // Syscall profiles (schema 4) go with their time: a running process's is renewed as it runs.
  const deleteProfiles = db.prepare(`DELETE FROM syscall_profiles WHERE (key, boot) IN
    (SELECT key, boot FROM syscall_profiles WHERE time < ? LIMIT ?)`);
  /** Deletes processes that exited before `cutoff`; false when the budget ran out first. */
  const exitedBefore = (cutoff: number): boolean => {
    for (const stmt of [deleteExited, deleteProfiles]) {
      for (;;) {
        const size = chunk(CHUNK);
        if (size === 0) return false;
        const n = stmt.run(cutoff, size).changes;
        processesDeleted += n;
        if (n < size) break;
      }
    }
    return true;
  };
  let done = true;
  if (policy.maxAgeMs !== null) {
    const cutoff = nowMs - policy.maxAgeMs;
    const del = db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? ORDER BY id LIMIT ?)');
    for (;;) {
      const size = chunk(CHUNK);
      if (size === 0) return finish(db, eventsDeleted, unexportedDeleted, processesDeleted, false);
      if (countUnexported !== null) unexportedDeleted += countUnexported.get(cutoff, size, exportedUpTo) as number;
      const n = del.run(cutoff, size).changes;
      eventsDeleted += n;
      if (n < size) break;
    }
    done = exitedBefore(cutoff);
  }
  if (done && policy.maxBytes !== null) {
    const del = db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)');
    while (fileBytes(db) > policy.maxBytes) {
      const size = chunk(SIZE_CHUNK);
      if (size === 0) { done = false; break; }
      if (countUnexportedOldest !== null) unexportedDeleted += countUnexportedOldest.get(size, exportedUpTo) as number;
      const n = del.run(size).changes;
      eventsDeleted += n;
      if (n === 0) break;
    }
    // Processes that ended before the oldest event left go too, once, after the loop.
    if (done) {
      const oldest = db.prepare('SELECT min(time) AS t FROM events').get() as { t: number | null };
      if (oldest.t !== null) done = exitedBefore(oldest.t);
    }
  }
  return finish(db, eventsDeleted, unexportedDeleted, processesDeleted, done);
}

function finish(db: Database.Database, eventsDeleted: number, unexportedDeleted: number, processesDeleted: number, done: boolean): RetentionResult {
  // Freed pages are reused meanwhile; the file shrinks once a whole pass is over.
  if (done && (db.pragma('freelist_count', { simple: true }) as number) > 0) db.pragma('incremental_vacuum');
  return { eventsDeleted, unexportedDeleted, processesDeleted, done };
}
