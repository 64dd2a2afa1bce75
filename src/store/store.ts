/**
 * The event store: better-sqlite3 in WAL mode, written in batched transactions from a
 * bounded queue. The event path only enqueues; flushes run on a timer. When the queue is
 * full, events are counted as dropped and a `lost` row says so: never silently.
 */

import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import type { ProcEvent } from '../events/types.js';
import type { ProcessRecord } from '../table/index.js';
import { migrate } from './schema.js';

export class StoreError extends Error {
  override readonly name = 'StoreError';
}

export interface StoreOptions {
  path: string;
  bootId: string;
  source: string;
  /** Events held in memory at most while the disk catches up (default 200,000). */
  maxQueue?: number;
}

export interface StoreCounters {
  queued: number;
  written: number;
  dropped: number;
  flushes: number;
  lastFlushMs: number;
  /** Age of the oldest queued event, ms: how far the store is behind. */
  lagMs: number;
  dbBytes: number;
}

interface QueuedEvent {
  event: ProcEvent;
  wallMs: number;
}

/** The kind-specific fields of an event: everything but the common columns. */
function eventData(e: ProcEvent): string {
  const { seq: _s, ktimeNs: _k, pid: _p, tid: _t, provenance: _v, key: _key, kind: _kind, ...rest } = e;
  return JSON.stringify(rest);
}

export class EventStore {
  readonly db: Database.Database;
  readonly run: number;
  readonly bootId: string;
  private queue: QueuedEvent[] = [];
  private touched = new Map<string, { record: ProcessRecord; wallOf: (ns: number) => number }>();
  private readonly maxQueue: number;
  private droppedPending = 0;
  private readonly stats = { written: 0, dropped: 0, flushes: 0, lastFlushMs: 0 };
  private readonly insertEvent: Database.Statement;
  private readonly upsertProcess: Database.Statement;
  /** Whether the previous run ended without closing the store (a crash, kill -9). */
  readonly previousRunCrashed: boolean;
  readonly previousRunLastEventMs: number | null;

  constructor(readonly options: StoreOptions) {
    this.bootId = options.bootId;
    this.maxQueue = options.maxQueue ?? 200_000;
    try {
      this.db = new Database(options.path);
      this.db.pragma('auto_vacuum = INCREMENTAL'); // only takes effect on a new file; lets retention give space back
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      migrate(this.db);
    } catch (err) {
      throw new StoreError(`cannot open database ${options.path}: ${(err as Error).message}`);
    }
    const last = this.db.prepare('SELECT run, stopped FROM runs ORDER BY run DESC LIMIT 1').get() as { run: number; stopped: number | null } | undefined;
    this.previousRunCrashed = last !== undefined && last.stopped === null;
    if (this.previousRunCrashed) {
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new StoreError(`database ${options.path} failed its integrity check after a crash: ${String(check)}`);
    }
    const lastEvent = this.db.prepare('SELECT max(time) AS t FROM events').get() as { t: number | null };
    this.previousRunLastEventMs = lastEvent.t;
    this.run = Number(this.db.prepare('INSERT INTO runs (boot_id, started, source) VALUES (?, ?, ?)').run(this.bootId, Date.now(), options.source).lastInsertRowid);
    this.insertEvent = this.db.prepare(
      'INSERT INTO events (boot_id, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.upsertProcess = this.db.prepare(`
      INSERT INTO processes (boot_id, key, pid, start_ticks, ppid, parent_key, start_time, exec_time, exit_time, comm, exe, argv, cwd,
        uid, euid, gid, egid, label, cgroup, exit_code, exit_signal, core_dumped, origin, exit_origin)
      VALUES (@boot_id, @key, @pid, @start_ticks, @ppid, @parent_key, @start_time, @exec_time, @exit_time, @comm, @exe, @argv, @cwd,
        @uid, @euid, @gid, @egid, @label, @cgroup, @exit_code, @exit_signal, @core_dumped, @origin, @exit_origin)
      ON CONFLICT (boot_id, key) DO UPDATE SET
        start_ticks = excluded.start_ticks, ppid = excluded.ppid, parent_key = excluded.parent_key, start_time = excluded.start_time,
        exec_time = excluded.exec_time, exit_time = excluded.exit_time, comm = excluded.comm, exe = excluded.exe, argv = excluded.argv,
        cwd = excluded.cwd, uid = excluded.uid, euid = excluded.euid, gid = excluded.gid, egid = excluded.egid, label = excluded.label,
        cgroup = excluded.cgroup, exit_code = excluded.exit_code, exit_signal = excluded.exit_signal, core_dumped = excluded.core_dumped,
        exit_origin = excluded.exit_origin`);
  }

  /** Queues events and the records they touched. Never blocks; never throws on a full queue. */
  enqueue(events: readonly ProcEvent[], recordOf: (key: string) => ProcessRecord | undefined, wallOf: (ktimeNs: number) => number): void {
    for (const event of events) {
      if (this.queue.length >= this.maxQueue) {
        this.droppedPending++;
        this.stats.dropped++;
        continue;
      }
      this.queue.push({ event, wallMs: wallOf(event.ktimeNs) });
      const record = event.key ? recordOf(event.key) : undefined;
      if (record !== undefined) this.touched.set(record.key, { record, wallOf });
    }
  }

  /** Queues a process row without an event (the table's seed). */
  enqueueRecord(record: ProcessRecord, wallOf: (ns: number) => number): void {
    this.touched.set(record.key, { record, wallOf });
  }

  /** Writes everything queued in one transaction; returns the number of events written. */
  flush(): number {
    if (this.queue.length === 0 && this.touched.size === 0 && this.droppedPending === 0) return 0;
    const started = performance.now();
    const events = this.queue;
    const touched = this.touched;
    const dropped = this.droppedPending;
    this.queue = [];
    this.touched = new Map();
    this.droppedPending = 0;
    try {
      this.writeBatch(events, touched, dropped);
    } catch (err) {
      // Nothing is lost on a failed write (disk full, locked): put it back, still bounded.
      this.queue = events.concat(this.queue);
      for (const [key, t] of touched) if (!this.touched.has(key)) this.touched.set(key, t);
      this.droppedPending += dropped;
      const excess = this.queue.length - this.maxQueue;
      if (excess > 0) {
        this.queue.splice(0, excess);
        this.droppedPending += excess;
        this.stats.dropped += excess;
      }
      throw err;
    }
    this.stats.written += events.length;
    this.stats.flushes++;
    this.stats.lastFlushMs = performance.now() - started;
    return events.length;
  }

  private writeBatch(events: QueuedEvent[], touched: Map<string, { record: ProcessRecord; wallOf: (ns: number) => number }>, dropped: number): void {
    this.db.transaction(() => {
      for (const { event: e, wallMs } of events) {
        this.insertEvent.run(this.bootId, this.run, e.seq, wallMs, Math.round(e.ktimeNs), e.kind, e.pid, e.tid, e.key ?? null, e.provenance, eventData(e));
      }
      if (dropped > 0) {
        const now = Date.now();
        const data = JSON.stringify({ count: dropped, reason: 'store queue overflow: the disk did not keep up; these events were not stored' });
        this.insertEvent.run(this.bootId, this.run, 0, now, 0, 'lost', 0, 0, null, 'observed', data);
      }
      for (const { record, wallOf } of touched.values()) this.upsertProcess.run(this.row(record, wallOf));
    })();
  }

  private row(r: ProcessRecord, wallOf: (ns: number) => number): Record<string, unknown> {
    const wall = (ns: number | null): number | null => (ns === null ? null : wallOf(ns));
    return {
      boot_id: this.bootId, key: r.key, pid: r.pid, start_ticks: r.startTicks, ppid: r.ppid, parent_key: r.parentKey,
      start_time: wall(r.startNs), exec_time: wall(r.execNs), exit_time: wall(r.exitNs), comm: r.comm, exe: r.exe,
      argv: r.argv === null ? null : JSON.stringify(r.argv), cwd: r.cwd, uid: r.uids?.[0] ?? null, euid: r.uids?.[1] ?? null,
      gid: r.gids?.[0] ?? null, egid: r.gids?.[1] ?? null, label: r.label, cgroup: r.cgroup, exit_code: r.exit?.code ?? null,
      exit_signal: r.exit?.signal ?? null, core_dumped: r.exit === null ? null : r.exit.coreDumped || r.coreDumped ? 1 : 0,
      origin: r.origin, exit_origin: r.exitOrigin,
    };
  }

  counters(): StoreCounters {
    const oldest = this.queue[0];
    return {
      queued: this.queue.length, ...this.stats,
      lagMs: oldest === undefined ? 0 : Math.max(0, Date.now() - oldest.wallMs),
      dbBytes: this.sizeBytes(),
    };
  }

  sizeBytes(): number {
    let total = 0;
    for (const suffix of ['', '-wal']) {
      try {
        total += statSync(this.options.path + suffix).size;
      } catch {
        // no WAL file yet
      }
    }
    return total;
  }

  /** Processes of this boot the store believes alive (for reconciling after a restart). */
  openProcesses(): Array<{ key: string; pid: number; start_ticks: number | null }> {
    return this.db.prepare('SELECT key, pid, start_ticks FROM processes WHERE boot_id = ? AND exit_time IS NULL').all(this.bootId) as Array<{ key: string; pid: number; start_ticks: number | null }>;
  }

  /** Marks processes gone while the daemon was not watching. */
  closeProcesses(keys: string[], exitWallMs: number): void {
    const stmt = this.db.prepare("UPDATE processes SET exit_time = ?, exit_origin = 'inferred' WHERE boot_id = ? AND key = ? AND exit_time IS NULL");
    this.db.transaction(() => { for (const key of keys) stmt.run(exitWallMs, this.bootId, key); })();
  }

  /** Flushes and marks the run as cleanly stopped. */
  close(): void {
    this.flush();
    this.db.prepare('UPDATE runs SET stopped = ? WHERE run = ?').run(Date.now(), this.run);
    this.db.close();
  }
}
