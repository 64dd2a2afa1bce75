/**
 * The event store: better-sqlite3 in WAL mode, written in batched transactions from a
 * bounded queue. The event path only enqueues; flushes run on a timer. When the queue is
 * full, events are counted as dropped and a `lost` row says so: never silently.
 */

import Database from 'better-sqlite3';
import { chmodSync, chownSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
import type { LostEvent, ProcEvent } from '../events/types.js';
import type { ProcessRecord } from '../table/index.js';
import { migrate } from './schema.js';

/** The database cannot be used: unreadable, not a database, corrupt, too new. Exit code 2. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
}

/** SQLite result codes that mean "this file is damaged or is not a database". */
const DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

/**
 * A StoreError for errors that mean the file itself is bad (SQLITE_CORRUPT*, SQLITE_NOTADB),
 * wherever they surface; other errors come back unchanged.
 */
export function asStoreError(err: unknown, path: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (err instanceof StoreError || typeof code !== 'string' || !DAMAGED.test(code)) return err;
  return new StoreError(`database ${path} is damaged (${code}): ${(err as Error).message}; move it aside or restore a backup`);
}

export interface StoreOptions {
  path: string;
  bootId: string;
  /** When given, the run starts at once (tools, tests); the daemon calls beginRun() itself. */
  source?: string;
  /** Events held in memory at most while the disk catches up (default 200,000). */
  maxQueue?: number;
  /**
   * Group allowed to read the database (the API socket's group): files 0640 and that group.
   * Null (default): 0600, owner only. Process arguments and paths are private data.
   */
  group?: number | null;
  /** Called after a store-overflow `lost` row was written, so followers and counters see it too. */
  onLost?: (event: LostEvent) => void;
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

/** The run before this one, as the runs table remembers it. */
export interface PreviousRun {
  run: number;
  bootId: string;
  startedMs: number;
  /** Null: it did not stop cleanly (a crash, kill -9). */
  stoppedMs: number | null;
  /** When it stopped watching: its clean stop, else its last stored event, else its start. */
  watchEndedMs: number;
}

interface QueuedEvent {
  event: ProcEvent;
  wallMs: number;
}

type Touched = Map<string, { record: ProcessRecord; wallOf: (ns: number) => number }>;

/** The kind-specific fields of an event: everything but the common columns. */
function eventData(e: ProcEvent): string {
  const { seq: _s, ktimeNs: _k, pid: _p, tid: _t, provenance: _v, key: _key, kind: _kind, ...rest } = e;
  return JSON.stringify(rest);
}

/** At most this many problems are listed by the integrity check; the message shows the first. */
const CHECK_LIMIT = 100;

export class EventStore {
  readonly db: Database.Database;
  run = 0;
  readonly bootId: string;
  private queue: QueuedEvent[] = [];
  private touched: Touched = new Map();
  private readonly maxQueue: number;
  private droppedPending = 0;
  /** Kernel and wall time of the latest dropped event: where the `lost` row goes. */
  private droppedAt = { ktimeNs: 0, wallMs: 0 };
  private readonly stats = { written: 0, dropped: 0, flushes: 0, lastFlushMs: 0 };
  private readonly insertEvent: Database.Statement;
  private readonly upsertProcess: Database.Statement;
  private readonly markLastEvent: Database.Statement;
  readonly previousRun: PreviousRun | null;
  /** Whether the previous run ended without closing the store (a crash, kill -9). */
  readonly previousRunCrashed: boolean;

  /** Opens, migrates and checks the file; throws a one-line StoreError if it cannot be used. */
  constructor(readonly options: StoreOptions) {
    this.bootId = options.bootId;
    this.maxQueue = options.maxQueue ?? 200_000;
    const path = options.path;
    try {
      this.restrictFile(path);
      this.db = new Database(path);
    } catch (err) {
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}`);
    }
    try {
      this.db.pragma('auto_vacuum = INCREMENTAL'); // only takes effect on a new file; lets retention give space back
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) this.restrictFile(path + suffix);
      // Every start, not only after a crash: damage from a disk or a copy shows up here, as
      // one line, before any source is loaded (and not halfway through reconciling).
      this.check();
      migrate(this.db);
      this.previousRun = this.readPreviousRun();
    } catch (err) {
      this.db.close();
      if (err instanceof StoreError) throw err;
      const damaged = asStoreError(err, path) instanceof StoreError ? ' (damaged, or not a database: move it aside or restore a backup)' : '';
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}${damaged}`);
    }
    this.previousRunCrashed = this.previousRun !== null && this.previousRun.stoppedMs === null;
    this.insertEvent = this.db.prepare(
      'INSERT INTO events (boot_id, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.markLastEvent = this.db.prepare('UPDATE runs SET last_event = max(coalesce(last_event, 0), ?) WHERE run = ?');
    this.upsertProcess = this.db.prepare(`
      INSERT INTO processes (boot_id, key, pid, start_ticks, ppid, parent_key, start_time, exec_time, exit_time, comm, exe, argv, cwd,
        uid, euid, suid, fsuid, gid, egid, sgid, fsgid, label, cgroup, exit_code, exit_signal, core_dumped, origin, exit_origin)
      VALUES (@boot_id, @key, @pid, @start_ticks, @ppid, @parent_key, @start_time, @exec_time, @exit_time, @comm, @exe, @argv, @cwd,
        @uid, @euid, @suid, @fsuid, @gid, @egid, @sgid, @fsgid, @label, @cgroup, @exit_code, @exit_signal, @core_dumped, @origin, @exit_origin)
      ON CONFLICT (boot_id, key) DO UPDATE SET
        start_ticks = excluded.start_ticks, ppid = excluded.ppid, parent_key = excluded.parent_key, start_time = excluded.start_time,
        exec_time = excluded.exec_time, exit_time = excluded.exit_time, comm = excluded.comm, exe = excluded.exe, argv = excluded.argv,
        cwd = excluded.cwd, uid = excluded.uid, euid = excluded.euid, suid = excluded.suid, fsuid = excluded.fsuid, gid = excluded.gid,
        egid = excluded.egid, sgid = excluded.sgid, fsgid = excluded.fsgid, label = excluded.label, cgroup = excluded.cgroup,
        exit_code = excluded.exit_code, exit_signal = excluded.exit_signal, core_dumped = excluded.core_dumped,
        exit_origin = excluded.exit_origin`); // origin stays: how the start first became known
    if (options.source !== undefined) this.beginRun(options.source);
  }

  /**
   * Creates the file 0600 (0640 for the group) before SQLite does, so its -wal and -shm,
   * which SQLite creates with the database's mode, are private too; tightens an existing one.
   */
  private restrictFile(path: string): void {
    const mode = this.options.group == null ? 0o600 : 0o640;
    if (!existsSync(path)) closeSync(openSync(path, 'a', mode));
    chmodSync(path, mode);
    if (this.options.group != null) chownSync(path, -1, this.options.group);
  }

  /**
   * PRAGMA quick_check: the first problem, and how many more, in one line. SQLite puts several
   * problems in one row, one per line, under a "*** in database main ***" heading.
   */
  private check(): void {
    let rows: Array<{ quick_check: string }>;
    try {
      rows = this.db.pragma(`quick_check(${CHECK_LIMIT})`) as Array<{ quick_check: string }>;
    } catch (err) {
      // Damage bad enough that the check itself cannot walk the file.
      if (!(asStoreError(err, this.options.path) instanceof StoreError)) throw err;
      rows = [{ quick_check: `${(err as Error).message} (${String((err as { code?: unknown }).code)})` }];
    }
    const problems = rows.flatMap((r) => r.quick_check.split('\n')).map((line) => line.trim())
      .filter((line) => line !== '' && line !== 'ok' && !/^\*\*\* in database /.test(line));
    if (problems.length === 0) return;
    const more = problems.length - 1;
    const tail = more === 0 ? '' : ` (and ${more}${problems.length >= CHECK_LIMIT ? ' or more' : ''} more problem${more === 1 ? '' : 's'})`;
    throw new StoreError(`database ${this.options.path} failed its integrity check: ${problems[0]!}${tail}; move it aside or restore a backup`);
  }

  private readPreviousRun(): PreviousRun | null {
    const last = this.db.prepare('SELECT run, boot_id, started, stopped, last_event FROM runs ORDER BY run DESC LIMIT 1').get() as
      { run: number; boot_id: string; started: number; stopped: number | null; last_event: number | null } | undefined;
    if (last === undefined) return null;
    // Runs recorded by schema 1 have no last_event: the newest stored event, if it is that run's.
    const newest = this.db.prepare('SELECT run, time FROM events ORDER BY id DESC LIMIT 1').get() as { run: number; time: number } | undefined;
    const lastEvent = last.last_event ?? (newest?.run === last.run ? newest.time : null);
    const watchEndedMs = last.stopped ?? Math.max(last.started, lastEvent ?? 0);
    return { run: last.run, bootId: last.boot_id, startedMs: last.started, stoppedMs: last.stopped, watchEndedMs };
  }

  /** Records this run (its number goes on every event); a run without `stopped` later means a crash. */
  beginRun(source: string): void {
    if (this.run !== 0) throw new Error('the store run has already begun');
    this.run = Number(this.db.prepare('INSERT INTO runs (boot_id, started, source) VALUES (?, ?, ?)').run(this.bootId, Date.now(), source).lastInsertRowid);
  }

  /** Queues events and the records they touched. Never blocks; never throws on a full queue. */
  enqueue(events: readonly ProcEvent[], recordOf: (key: string) => ProcessRecord | undefined, wallOf: (ktimeNs: number) => number): void {
    for (const event of events) {
      if (this.queue.length >= this.maxQueue) {
        this.droppedPending++;
        this.stats.dropped++;
        this.droppedAt = { ktimeNs: event.ktimeNs, wallMs: wallOf(event.ktimeNs) };
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
    if (this.run === 0) throw new Error('the store run has not begun');
    const started = performance.now();
    const events = this.queue;
    const touched = this.touched;
    const dropped = this.droppedPending;
    this.queue = [];
    this.touched = new Map();
    this.droppedPending = 0;
    let lost: LostEvent | null;
    try {
      lost = this.writeBatch(events, touched, dropped);
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
      throw asStoreError(err, this.options.path);
    }
    this.stats.written += events.length;
    this.stats.flushes++;
    this.stats.lastFlushMs = performance.now() - started;
    if (lost !== null) this.options.onLost?.(lost);
    return events.length;
  }

  /** One transaction; returns the overflow `lost` event it wrote, if any. */
  private writeBatch(events: QueuedEvent[], touched: Touched, dropped: number): LostEvent | null {
    let lost: LostEvent | null = null;
    this.db.transaction(() => {
      let newest = 0;
      for (const { event: e, wallMs } of events) {
        this.insertEvent.run(this.bootId, this.run, e.seq, wallMs, Math.round(e.ktimeNs), e.kind, e.pid, e.tid, e.key ?? null, e.provenance, eventData(e));
        if (wallMs > newest) newest = wallMs;
      }
      if (dropped > 0) {
        const { ktimeNs, wallMs } = this.droppedAt;
        lost = { seq: 0, ktimeNs, pid: 0, tid: 0, cpu: -1, provenance: 'observed', kind: 'lost', key: null, count: dropped,
          reason: 'store queue overflow: the disk did not keep up; these events were not stored' };
        this.insertEvent.run(this.bootId, this.run, 0, wallMs, Math.round(ktimeNs), 'lost', 0, 0, null, 'observed', eventData(lost));
        if (wallMs > newest) newest = wallMs;
      }
      for (const { record, wallOf } of touched.values()) this.upsertProcess.run(this.row(record, wallOf));
      if (newest > 0) this.markLastEvent.run(newest, this.run);
    })();
    return lost;
  }

  private row(r: ProcessRecord, wallOf: (ns: number) => number): Record<string, unknown> {
    const wall = (ns: number | null): number | null => (ns === null ? null : wallOf(ns));
    return {
      boot_id: this.bootId, key: r.key, pid: r.pid, start_ticks: r.startTicks, ppid: r.ppid, parent_key: r.parentKey,
      start_time: wall(r.startNs), exec_time: wall(r.execNs), exit_time: wall(r.exitNs), comm: r.comm, exe: r.exe,
      argv: r.argv === null ? null : JSON.stringify(r.argv), cwd: r.cwd,
      uid: r.uids?.[0] ?? null, euid: r.uids?.[1] ?? null, suid: r.uids?.[2] ?? null, fsuid: r.uids?.[3] ?? null,
      gid: r.gids?.[0] ?? null, egid: r.gids?.[1] ?? null, sgid: r.gids?.[2] ?? null, fsgid: r.gids?.[3] ?? null,
      label: r.label, cgroup: r.cgroup, exit_code: r.exit?.code ?? null,
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

  /** Whether the store has a row for this process instance of this boot. */
  knows(key: string): boolean {
    return this.db.prepare('SELECT 1 FROM processes WHERE boot_id = ? AND key = ?').get(this.bootId, key) !== undefined;
  }

  /** Marks processes gone while the daemon was not watching. */
  closeProcesses(keys: string[], exitWallMs: number): void {
    const stmt = this.db.prepare("UPDATE processes SET exit_time = ?, exit_origin = 'inferred' WHERE boot_id = ? AND key = ? AND exit_time IS NULL");
    this.db.transaction(() => { for (const key of keys) stmt.run(exitWallMs, this.bootId, key); })();
  }

  /**
   * Processes of earlier boots still marked alive ended, at the latest, when that boot's last
   * run stopped watching: they are closed as inferred then, each with an `inferred_exit` event
   * (stored under its own boot id). Without this they would stay "running" forever, match every
   * history query and never be removed by retention. Returns how many were closed.
   */
  closeOtherBoots(): number {
    if (this.run === 0) throw new Error('the store run has not begun');
    const boots = this.db.prepare(`
      SELECT p.boot_id AS boot, (SELECT max(coalesce(r.stopped, r.last_event, r.started)) FROM runs r WHERE r.boot_id = p.boot_id) AS ended
      FROM processes p WHERE p.exit_time IS NULL AND p.boot_id != ? GROUP BY p.boot_id`).all(this.bootId) as Array<{ boot: string; ended: number | null }>;
    if (boots.length === 0) return 0;
    const open = this.db.prepare('SELECT key, pid, start_ticks, start_time FROM processes WHERE boot_id = ? AND exit_time IS NULL');
    const close = this.db.prepare("UPDATE processes SET exit_time = ?, exit_origin = 'inferred' WHERE boot_id = ? AND key = ?");
    let closed = 0;
    this.db.transaction(() => {
      for (const { boot, ended } of boots) {
        for (const p of open.all(boot) as Array<{ key: string; pid: number; start_ticks: number | null; start_time: number | null }>) {
          // A boot with no run on record (a copied file): the process's own start is all we know.
          const at = Math.max(ended ?? 0, p.start_time ?? 0);
          close.run(at, boot, p.key);
          this.insertEvent.run(boot, this.run, 0, at, 0, 'inferred_exit', p.pid, p.pid, p.key, 'inferred', JSON.stringify({ cpu: -1, startTicks: p.start_ticks }));
          closed++;
        }
      }
    })();
    return closed;
  }

  /**
   * Flushes and marks the run as cleanly stopped; always closes the file. A failed last flush
   * leaves the run unmarked, so the next start treats it as a crash (and checks the file).
   */
  close(): void {
    if (!this.db.open) return;
    let failure: unknown = null;
    try {
      if (this.run !== 0) {
        this.flush();
        this.db.prepare('UPDATE runs SET stopped = ? WHERE run = ?').run(Date.now(), this.run);
      }
    } catch (err) {
      failure = err;
    } finally {
      this.db.close();
    }
    if (failure !== null) throw failure;
  }
}
