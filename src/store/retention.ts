/**
 * Retention, applied while the daemon runs: events and exited processes older than the
 * age limit go, then the oldest events go until the file is under the size limit.
 * Deletes run in chunks so a large cleanup never stalls the event path for long.
 */

import type Database from 'better-sqlite3';

export interface RetentionPolicy {
  maxAgeMs: number | null;
  maxBytes: number | null;
}

export interface RetentionResult {
  eventsDeleted: number;
  processesDeleted: number;
}

/** Rows per delete: small enough to stay near the size limit, large enough to be quick. */
const CHUNK = 20_000;
const SIZE_CHUNK = 2_000;

function fileBytes(db: Database.Database): number {
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * (db.pragma('page_size', { simple: true }) as number);
}

export function applyRetention(db: Database.Database, policy: RetentionPolicy, nowMs: number = Date.now()): RetentionResult {
  let eventsDeleted = 0;
  let processesDeleted = 0;
  if (policy.maxAgeMs !== null) {
    const cutoff = nowMs - policy.maxAgeMs;
    const del = db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? ORDER BY id LIMIT ?)');
    for (let n = CHUNK; n === CHUNK; ) eventsDeleted += n = del.run(cutoff, CHUNK).changes;
    processesDeleted += db.prepare('DELETE FROM processes WHERE exit_time IS NOT NULL AND exit_time < ?').run(cutoff).changes;
  }
  if (policy.maxBytes !== null) {
    const del = db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)');
    while (fileBytes(db) > policy.maxBytes) {
      const n = del.run(SIZE_CHUNK).changes;
      eventsDeleted += n;
      if (n === 0) break;
      const oldest = db.prepare('SELECT min(time) AS t FROM events').get() as { t: number | null };
      if (oldest.t !== null) processesDeleted += db.prepare('DELETE FROM processes WHERE exit_time IS NOT NULL AND exit_time < ?').run(oldest.t).changes;
    }
  }
  if (eventsDeleted + processesDeleted > 0) db.pragma('incremental_vacuum');
  return { eventsDeleted, processesDeleted };
}
