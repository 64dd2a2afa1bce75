/**
 * The resource history (issue 12): coarse per-process samples of live processes in
 * `resource_samples` (schema: see schema.ts), written in batches by the daemon's sampler, read
 * by `top --at/--since/--until` and `/v1/resources`, and bounded by their own retention.
 */

import type Database from 'better-sqlite3';

/** One stored sample (a row of resource_samples). */
export interface StoredSample {
  timeMs: number;
  key: string;
  cpuNs: number | null;
  cpuPct: number | null;
  rssBytes: number | null;
  vsizeBytes: number | null;
  swapBytes: number | null;
  threads: number | null;
  fds: number | null;
  readBytes: number | null;
  writeBytes: number | null;
  state: string | null;
}

const COLUMNS = 'time, key, cpu_ns, cpu_pct, rss, vsize, swap, threads, fds, read_bytes, write_bytes, state';

function fromRow(r: unknown[]): StoredSample {
  const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  return {
    timeMs: r[0] as number, key: r[1] as string, cpuNs: n(r[2]), cpuPct: n(r[3]), rssBytes: n(r[4]), vsizeBytes: n(r[5]), swapBytes: n(r[6]),
    threads: n(r[7]), fds: n(r[8]), readBytes: n(r[9]), writeBytes: n(r[10]), state: typeof r[11] === 'string' ? r[11] : null,
  };
}

export class ResourceHistory {
  private readonly insert: Database.Statement;

  constructor(private readonly db: Database.Database, private readonly boot: number) {
    this.insert = db.prepare(`INSERT INTO resource_samples (boot, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  }

  /** Writes samples of one moment in one transaction. */
  write(samples: readonly StoredSample[]): void {
    if (samples.length === 0) return;
    this.db.transaction(() => {
      for (const s of samples) {
        this.insert.run(this.boot, s.timeMs, s.key, s.cpuNs, s.cpuPct, s.rssBytes, s.vsizeBytes, s.swapBytes, s.threads, s.fds, s.readBytes, s.writeBytes, s.state);
      }
    })();
  }

  /** Each key's latest sample at or before `atMs` (this boot), among the keys given. */
  latestAt(keys: readonly string[], atMs: number): Map<string, StoredSample> {
    const stmt = this.db.prepare(`SELECT ${COLUMNS} FROM resource_samples WHERE key = ? AND boot = ? AND time <= ? ORDER BY time DESC LIMIT 1`).raw();
    const out = new Map<string, StoredSample>();
    for (const key of keys) {
      const row = stmt.get(key, this.boot, atMs) as unknown[] | undefined;
      if (row !== undefined) out.set(key, fromRow(row));
    }
    return out;
  }

  /** One process's samples in [sinceMs, untilMs], oldest first, at most `limit`. */
  series(key: string, boot: number, sinceMs: number, untilMs: number, limit: number): StoredSample[] {
    return (this.db.prepare(`SELECT ${COLUMNS} FROM resource_samples WHERE key = ? AND boot = ? AND time >= ? AND time <= ? ORDER BY time LIMIT ?`)
      .raw().all(key, boot, sinceMs, untilMs, limit) as unknown[][]).map(fromRow);
  }

  /** The keys sampled in [sinceMs, untilMs] (this boot): the processes that ran then. */
  keysBetween(sinceMs: number, untilMs: number, limit: number): string[] {
    return (this.db.prepare('SELECT DISTINCT key FROM resource_samples WHERE time >= ? AND time <= ? AND boot = ? LIMIT ?')
      .raw().all(sinceMs, untilMs, this.boot, limit) as unknown[][]).map((r) => r[0] as string);
  }

  /** Rows in the table. */
  count(): number {
    return (this.db.prepare('SELECT count(*) FROM resource_samples').raw().get() as [number])[0];
  }
}

/**
 * Deletes samples older than `maxAgeMs`, and (the file being over its size limit, when the
 * events' retention already ran) samples older than the oldest event left, at most
 * `budgetRows` rows. Returns the rows deleted and whether it is done.
 */
export function applySampleRetention(db: Database.Database, maxAgeMs: number | null, nowMs: number, budgetRows: number): { deleted: number; done: boolean } {
  const del = db.prepare('DELETE FROM resource_samples WHERE rowid IN (SELECT rowid FROM resource_samples WHERE time < ? ORDER BY time LIMIT ?)');
  let deleted = 0;
  const before = (cutoff: number): boolean => {
    for (;;) {
      const size = Math.min(5_000, budgetRows - deleted);
      if (size <= 0) return false;
      const n = del.run(cutoff, size).changes;
      deleted += n;
      if (n < size) return true;
    }
  };
  if (maxAgeMs !== null && !before(nowMs - maxAgeMs)) return { deleted, done: false };
  // Nothing older than the events kept: when size forced events out, their samples go too.
  const oldest = db.prepare('SELECT min(time) AS t FROM events').get() as { t: number | null };
  if (oldest.t !== null && !before(oldest.t)) return { deleted, done: false };
  return { deleted, done: true };
}
