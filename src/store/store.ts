/**
 * The event store: better-sqlite3 in WAL mode, written in batched transactions from a
 * bounded queue. The event path only enqueues; flushes run on a timer. When the queue is
 * full, events are counted as dropped and a `lost` row says so: never silently.
 */

import Database from 'better-sqlite3';
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, readSync, statSync } from 'node:fs';
import type { LostEvent, ProcEvent, ProcessUsage, SyscallsEvent } from '../events/types.js';
import type { ProcessRecord } from '../table/index.js';
import { ProcessRows } from './process-rows.js';
import { bootNumber, migrate } from './schema.js';

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
  /**
   * Whether the database (and its -wal and -shm) may be symbolic links (daemon.follow_symlinks).
   * Default false: a link is refused, never followed (in a directory others can write to, a
   * link would make the daemon create or change the mode of a file of their choosing).
   */
  followSymlinks?: boolean;
}

/** The first 16 bytes of every SQLite 3 database file. */
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

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

/** Exit accounting to write on process rows, by key (the last one wins). */
type Usages = Map<string, { usage: ProcessUsage; wallMs: number }>;

/** Events waiting for the disk and the wall time of each: two arrays, no object per event. */
interface Queue {
  events: ProcEvent[];
  wallMs: number[];
}

/** The process rows to write, by key: one entry per process, updated in place as events touch it. */
type Touched = Map<string, { record: ProcessRecord; wallOf: (ns: number) => number }>;

/** Syscall profiles to write (schema 4), by key: the newest of each process; a final one is kept. */
type Profiles = Map<string, { event: SyscallsEvent; wallMs: number }>;

/** The kind-specific fields of an event: everything but the common columns. */
export function eventData(e: ProcEvent): string {
  // The members are copied by a loop: the object rest (`{seq, ..., ...rest} = e`) it replaces
  // is a runtime call, ~0.45 µs more per event. A copy, not text written key by key: that text
  // is a chain of concatenations SQLite's binding must flatten, more garbage than it saves
  // (BENCHMARKS.md, "Rule conditions compiled to JavaScript").
  const rest: Record<string, unknown> = {};
  for (const key in e) {
    if (key === 'seq' || key === 'ktimeNs' || key === 'pid' || key === 'tid' || key === 'provenance' || key === 'key' || key === 'kind') continue;
    rest[key] = (e as unknown as Record<string, unknown>)[key];
  }
  return JSON.stringify(rest);
}

/**
 * Events per write transaction. Large enough that a batch costs little more than one big
 * transaction (~695k rows/s at 1,000 per transaction, DESIGN.md), small enough that a nearly
 * full disk still takes a chunk (about 0.5 MiB of pages and WAL).
 */
const WRITE_CHUNK = 2000;

/**
 * Event rows per INSERT statement on the write path: one statement binding 32 rows costs far
 * less than 32 statements (each a call into the addon, a bind, a step and a reset).
 */
const ROWS_PER_INSERT = 32;
const EVENT_COLUMNS = 11;

/** At most this many problems are listed by the integrity check; the message shows the first. */
const CHECK_LIMIT = 100;

export class EventStore {
  readonly db: Database.Database;
  run = 0;
  readonly bootId: string;
  /** This boot's number in the `boots` table: what events and processes store. */
  readonly boot: number;
  private queue: Queue = { events: [], wallMs: [] };
  private touched: Touched = new Map();
  private profiles: Profiles = new Map();
  private usages: Usages = new Map();
  private readonly maxQueue: number;
  private droppedPending = 0;
  /** Kernel and wall time of the latest dropped event: where the `lost` row goes. */
  private droppedAt = { ktimeNs: 0, wallMs: 0 };
  private readonly stats = { written: 0, dropped: 0, flushes: 0, lastFlushMs: 0 };
  /** Called after each flush that wrote events: followers of the store (SSE streams) read on. */
  private readonly flushListeners = new Set<() => void>();
  private readonly insertEvent: Database.Statement;
  private readonly insertEvents: Database.Statement;
  /** The values of one insertEvents call, reused (no array per call). */
  private readonly eventValues: unknown[] = new Array<unknown>(ROWS_PER_INSERT * EVENT_COLUMNS);
  private readonly processRows: ProcessRows;
  private readonly markLastEvent: Database.Statement;
  private readonly knowsKey: Database.Statement;
  private readonly upsertProfile: Database.Statement;
  readonly previousRun: PreviousRun | null;
  /** Whether the previous run ended without closing the store (a crash, kill -9). */
  readonly previousRunCrashed: boolean;

  /** Opens, migrates and checks the file; throws a one-line StoreError if it cannot be used. */
  constructor(readonly options: StoreOptions) {
    this.bootId = options.bootId;
    this.maxQueue = options.maxQueue ?? 200_000;
    const path = options.path;
    try {
      for (const suffix of ['-wal', '-shm']) this.restrictFile(path + suffix, false); // before SQLite opens them
      const checked = this.restrictFile(path)!;
      this.db = new Database(path);
      // The file SQLite opened must be the one checked: refuse if the path was swapped meanwhile.
      const now = (this.options.followSymlinks === true ? statSync : lstatSync)(path);
      if (now.dev !== checked.dev || now.ino !== checked.ino) {
        this.db.close();
        throw new Error('the file was replaced while it was being opened');
      }
    } catch (err) {
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}`);
    }
    try {
      // The first two only take effect on a new file. 8 KiB pages: a batch is half as many WAL
      // frames (two writes each) as with 4 KiB; incremental auto-vacuum lets retention give space back.
      this.db.pragma('page_size = 8192');
      this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // Checkpoint at 16 MiB of WAL (SQLite's default is 1,000 pages): pages that every batch
      // touches (the ends of the tables and indexes) go to the database file less often.
      this.db.pragma('wal_autocheckpoint = 2000');
      for (const suffix of ['-wal', '-shm']) this.restrictFile(path + suffix, false);
      // Every start, not only after a crash: damage from a disk or a copy shows up here, as
      // one line, before any source is loaded (and not halfway through reconciling).
      this.check();
      migrate(this.db);
      this.previousRun = this.readPreviousRun();
      this.boot = bootNumber(this.db, this.bootId);
    } catch (err) {
      this.db.close();
      if (err instanceof StoreError) throw err;
      const damaged = asStoreError(err, path) instanceof StoreError ? ' (damaged, or not a database: move it aside or restore a backup)' : '';
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}${damaged}`);
    }
    this.previousRunCrashed = this.previousRun !== null && this.previousRun.stoppedMs === null;
    // Positional parameters, statements prepared once: the write path binds ~40 values per event.
    this.insertEvent = this.db.prepare(
      'INSERT INTO events (boot, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    // OR FAIL, not the default ABORT: a multi-row INSERT that may abort keeps a statement
    // journal (a copy of every page it touches, for undoing its own earlier rows): about half of
    // this statement's cost in a micro-benchmark, 5–10% of the store's (BENCHMARKS.md, "The event
    // rows' INSERT without a statement journal"). Nothing is lost by it: any error throws out of the
    // write transaction, which rolls back whole (writeEvents).
    this.insertEvents = this.db.prepare(
      `INSERT OR FAIL INTO events (boot, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES ${Array(ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
    );
    this.markLastEvent = this.db.prepare('UPDATE runs SET last_event = max(coalesce(last_event, 0), ?) WHERE run = ?');
    this.knowsKey = this.db.prepare('SELECT 1 FROM processes WHERE key = ? AND boot = ?');
    // A profile read at an interval never replaces the one read at the exit (they can cross).
    this.upsertProfile = this.db.prepare(`INSERT INTO syscall_profiles (boot, key, time, final, total, counts) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (key, boot) DO UPDATE SET time = excluded.time, final = excluded.final, total = excluded.total, counts = excluded.counts
      WHERE syscall_profiles.final = 0 OR excluded.final = 1`);
    this.processRows = new ProcessRows(this.db);
    if (options.source !== undefined) this.beginRun(options.source);
  }

  /**
   * Creates the file 0600 (0640 for the group) before SQLite does, so its -wal and -shm,
   * which SQLite creates with the database's mode, are private too; tightens an existing one.
   * In that order: the path is opened without following a symbolic link (unless configured),
   * must be a regular file that is empty or begins as a SQLite database, and only then is
   * the mode changed, on the opened file itself (fchmod): a non-database keeps its mode, and
   * no link makes the daemon create or change another file. `create` false: only an
   * existing file is checked (the -wal and -shm, which SQLite creates).
   */
  private restrictFile(path: string, create = true): { dev: number; ino: number } | null {
    const mode = this.options.group == null ? 0o600 : 0o640;
    const follow = this.options.followSymlinks === true;
    // O_NONBLOCK: a FIFO at the path must not hang the start.
    const flags = constants.O_RDWR | constants.O_NONBLOCK | (create ? constants.O_CREAT : 0) | (follow ? 0 : constants.O_NOFOLLOW);
    let fd: number;
    try {
      fd = openSync(path, flags, mode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !create) return null;
      if (code === 'ELOOP') throw new Error(`${path} is a symbolic link: refusing to follow it (daemon.follow_symlinks: true allows it)`);
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      if (create && st.size > 0) {
        const head = Buffer.alloc(SQLITE_MAGIC.length);
        const n = readSync(fd, head, 0, head.length, 0);
        if (n < head.length || !head.equals(SQLITE_MAGIC)) throw new Error('file is not a database (it does not begin with "SQLite format 3"); its mode was left as it is');
      }
      fchmodSync(fd, mode);
      if (this.options.group != null) fchownSync(fd, -1, this.options.group);
      return { dev: st.dev, ino: st.ino };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * PRAGMA quick_check: the first problem, and how many more, in one line. SQLite puts several
   * problems in one row, one per line, under a "*** in database main ***" heading. Damage it
   * cannot walk past (a table page it cannot read) ends the check with an error after the
   * problems found so far: they are kept, and the error counts as one more (of maybe several).
   */
  private check(): void {
    const rows: string[] = [];
    let stoppedBy: string | null = null;
    try {
      for (const row of this.db.prepare(`PRAGMA quick_check(${CHECK_LIMIT})`).iterate() as IterableIterator<{ quick_check: string }>) rows.push(row.quick_check);
    } catch (err) {
      if (!(asStoreError(err, this.options.path) instanceof StoreError)) throw err;
      stoppedBy = `${(err as Error).message} (${String((err as { code?: unknown }).code)})`;
    }
    const problems = rows.flatMap((r) => r.split('\n')).map((line) => line.trim())
      .filter((line) => line !== '' && line !== 'ok' && !/^\*\*\* in database /.test(line));
    if (stoppedBy !== null) problems.push(stoppedBy);
    if (problems.length === 0) return;
    const more = problems.length - 1;
    const open = stoppedBy !== null || problems.length >= CHECK_LIMIT;
    const tail = more === 0 ? '' : ` (and ${more}${open ? ' or more' : ''} more problem${more === 1 && !open ? '' : 's'})`;
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
    const queue = this.queue;
    for (const event of events) {
      if (event.kind === 'syscalls') {
        // A profile, not an event row: one row per process, replaced as counts come.
        const held = event.key ? this.profiles.get(event.key) : undefined;
        if (event.key && !(held?.event.final === true && !event.final)) this.profiles.set(event.key, { event, wallMs: wallOf(event.ktimeNs) });
        continue;
      }
      if (queue.events.length >= this.maxQueue) {
        this.droppedPending++;
        this.stats.dropped++;
        this.droppedAt = { ktimeNs: event.ktimeNs, wallMs: wallOf(event.ktimeNs) };
        continue;
      }
      queue.events.push(event);
      queue.wallMs.push(wallOf(event.ktimeNs));
      const record = event.key ? recordOf(event.key) : undefined;
      if (record !== undefined) this.touch(record, wallOf);
      // By key: the process may be long gone from the table, its row is still there.
      if (event.kind === 'acct' && event.key) this.usages.set(event.key, { usage: event.usage, wallMs: queue.wallMs[queue.wallMs.length - 1]! });
    }
  }

  /** Queues a process row without an event (the table's seed). */
  enqueueRecord(record: ProcessRecord, wallOf: (ns: number) => number): void {
    this.touch(record, wallOf);
  }

  private touch(record: ProcessRecord, wallOf: (ns: number) => number): void {
    const entry = this.touched.get(record.key);
    if (entry === undefined) this.touched.set(record.key, { record, wallOf });
    else {
      entry.record = record;
      entry.wallOf = wallOf;
    }
  }

  /**
   * Writes everything queued, in transactions of at most WRITE_CHUNK events (then the process
   * rows, WRITE_CHUNK at a time); returns the number of events written. A chunk that fails
   * (disk full, locked) ends the flush: the chunks before it stay written, the rest stays
   * queued (still bounded by maxQueue) and the error is thrown. So a nearly full disk takes
   * what fits, and writing resumes as soon as one chunk fits again, whatever the backlog.
   */
  flush(): number {
    if (this.queue.events.length === 0 && this.touched.size === 0 && this.droppedPending === 0 && this.usages.size === 0 && this.profiles.size === 0) return 0;
    if (this.run === 0) throw new Error('the store run has not begun');
    const started = performance.now();
    const queue = this.queue;
    let written = 0;
    const lost: LostEvent[] = [];
    try {
      while (queue.events.length > 0 || this.droppedPending > 0) {
        const n = Math.min(WRITE_CHUNK, queue.events.length);
        const dropped = this.droppedPending;
        const overflow = this.writeEvents(queue.events, queue.wallMs, n, dropped);
        // Written: out of the queue (splice is cheap next to the transaction it follows).
        queue.events.splice(0, n);
        queue.wallMs.splice(0, n);
        this.droppedPending -= dropped;
        written += n;
        this.stats.written += n;
        if (overflow !== null) lost.push(overflow);
      }
      while (this.touched.size > 0) this.writeProcesses();
      while (this.profiles.size > 0) this.writeProfiles();
      while (this.usages.size > 0) this.writeUsages();
    } catch (err) {
      const excess = queue.events.length - this.maxQueue;
      if (excess > 0) {
        queue.events.splice(0, excess);
        queue.wallMs.splice(0, excess);
        this.droppedPending += excess;
        this.stats.dropped += excess;
      }
      throw asStoreError(err, this.options.path);
    } finally {
      if (written > 0 || lost.length > 0) {
        this.stats.flushes++;
        this.stats.lastFlushMs = performance.now() - started;
        for (const event of lost) this.options.onLost?.(event);
        for (const listener of this.flushListeners) listener();
      }
    }
    return written;
  }

  /** One transaction: the first n queued events (and the overflow `lost` row, if any); returns that row. */
  private writeEvents(events: ProcEvent[], walls: number[], n: number, dropped: number): LostEvent | null {
    let lost: LostEvent | null = null;
    this.db.transaction(() => {
      let newest = 0;
      let i = 0;
      const values = this.eventValues;
      for (; i + ROWS_PER_INSERT <= n; i += ROWS_PER_INSERT) {
        let v = 0;
        for (let j = i; j < i + ROWS_PER_INSERT; j++) {
          const e = events[j]!;
          const wallMs = walls[j]!;
          values[v++] = this.boot;
          values[v++] = this.run;
          values[v++] = e.seq;
          values[v++] = wallMs;
          values[v++] = Math.round(e.ktimeNs);
          values[v++] = e.kind;
          values[v++] = e.pid;
          values[v++] = e.tid;
          values[v++] = e.key ?? null;
          values[v++] = e.provenance;
          values[v++] = eventData(e);
          if (wallMs > newest) newest = wallMs;
        }
        this.insertEvents.run(values);
      }
      values.fill(undefined); // the strings of the last rows are not kept alive until the next flush
      for (; i < n; i++) {
        const e = events[i]!;
        const wallMs = walls[i]!;
        this.insertEvent.run(this.boot, this.run, e.seq, wallMs, Math.round(e.ktimeNs), e.kind, e.pid, e.tid, e.key ?? null, e.provenance, eventData(e));
        if (wallMs > newest) newest = wallMs;
      }
      if (dropped > 0) {
        const { ktimeNs, wallMs } = this.droppedAt;
        lost = { seq: 0, ktimeNs, pid: 0, tid: 0, cpu: -1, provenance: 'observed', kind: 'lost', key: null, count: dropped,
          reason: 'store queue overflow: the disk did not keep up; these events were not stored' };
        this.insertEvent.run(this.boot, this.run, 0, wallMs, Math.round(ktimeNs), 'lost', 0, 0, null, 'observed', eventData(lost));
        if (wallMs > newest) newest = wallMs;
      }
      if (newest > 0) this.markLastEvent.run(newest, this.run);
    })();
    return lost;
  }

  /** One transaction: at most WRITE_CHUNK of the syscall profiles queued; they leave the map once written. */
  private writeProfiles(): void {
    const batch: Array<[string, { event: SyscallsEvent; wallMs: number }]> = [];
    for (const entry of this.profiles) {
      batch.push(entry);
      if (batch.length >= WRITE_CHUNK) break;
    }
    this.db.transaction(() => {
      for (const [key, { event, wallMs }] of batch) this.upsertProfile.run(this.boot, key, wallMs, event.final ? 1 : 0, event.total, JSON.stringify(event.counts));
    })();
    for (const [key, entry] of batch) if (this.profiles.get(key) === entry) this.profiles.delete(key);
  }

  /** One transaction: at most WRITE_CHUNK of the exit accountings queued; they leave the map once written. */
  private writeUsages(): void {
    const batch: Array<[string, { usage: ProcessUsage; wallMs: number }]> = [];
    for (const entry of this.usages) {
      batch.push(entry);
      if (batch.length >= WRITE_CHUNK) break;
    }
    this.db.transaction(() => {
      for (const [key, { usage, wallMs }] of batch) this.processRows.writeUsage(this.boot, key, usage, wallMs);
    })();
    for (const [key, entry] of batch) if (this.usages.get(key) === entry) this.usages.delete(key);
  }

  /** One transaction: at most WRITE_CHUNK of the process rows events touched; they leave the map once written. */
  private writeProcesses(): void {
    const batch: Array<[string, { record: ProcessRecord; wallOf: (ns: number) => number }]> = [];
    for (const entry of this.touched) {
      batch.push(entry);
      if (batch.length >= WRITE_CHUNK) break;
    }
    // Exit accountings written with their (new) rows; they leave the usages once committed.
    const usagesWritten: Array<[string, { usage: ProcessUsage; wallMs: number }]> = [];
    this.db.transaction(() => {
      for (const [key, { record, wallOf }] of batch) {
        const usage = this.usages.get(key);
        if (this.processRows.write(this.boot, record, wallOf, usage) && usage !== undefined) usagesWritten.push([key, usage]);
      }
    })();
    for (const [key, entry] of batch) if (this.touched.get(key) === entry) this.touched.delete(key);
    for (const [key, entry] of usagesWritten) if (this.usages.get(key) === entry) this.usages.delete(key);
  }

  /** Write transactions so far: a follower compares it to know whether a flush happened since it last read. */
  get flushCount(): number {
    return this.stats.flushes;
  }

  /** Calls `listener` after every flush that stored events; returns the unsubscribe. */
  onFlush(listener: () => void): () => void {
    this.flushListeners.add(listener);
    return () => this.flushListeners.delete(listener);
  }

  counters(): StoreCounters {
    const oldest = this.queue.wallMs[0];
    return {
      queued: this.queue.events.length, ...this.stats,
      lagMs: oldest === undefined ? 0 : Math.max(0, Date.now() - oldest),
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
    return this.db.prepare('SELECT key, pid, start_ticks FROM processes WHERE exit_time IS NULL AND boot = ?').all(this.boot) as Array<{ key: string; pid: number; start_ticks: number | null }>;
  }

  /** Whether the store has this key, in this boot, for a process that has exited. */
  exitedKey(key: string): boolean {
    return this.db.prepare('SELECT 1 FROM processes WHERE key = ? AND boot = ? AND exit_time IS NOT NULL').get(key, this.boot) !== undefined;
  }

  /** Whether the store has a row for this process instance of this boot. */
  knows(key: string): boolean {
    return this.knowsKey.get(key, this.boot) !== undefined;
  }

  /** Marks processes gone while the daemon was not watching. */
  closeProcesses(keys: string[], exitWallMs: number): void {
    const stmt = this.db.prepare("UPDATE processes SET exit_time = ?, exit_origin = 'inferred' WHERE key = ? AND boot = ? AND exit_time IS NULL");
    this.db.transaction(() => { for (const key of keys) stmt.run(exitWallMs, key, this.boot); })();
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
      SELECT b.boot, (SELECT max(coalesce(r.stopped, r.last_event, r.started)) FROM runs r WHERE r.boot_id = b.boot_id) AS ended
      FROM boots b WHERE b.boot != ? AND EXISTS (SELECT 1 FROM processes p WHERE p.exit_time IS NULL AND p.boot = b.boot)`).all(this.boot) as Array<{ boot: number; ended: number | null }>;
    if (boots.length === 0) return 0;
    const open = this.db.prepare('SELECT id, key, pid, start_ticks, start_time FROM processes WHERE exit_time IS NULL AND boot = ?');
    const close = this.db.prepare("UPDATE processes SET exit_time = ?, exit_origin = 'inferred' WHERE id = ?");
    let closed = 0;
    this.db.transaction(() => {
      for (const { boot, ended } of boots) {
        for (const p of open.all(boot) as Array<{ id: number; key: string; pid: number; start_ticks: number | null; start_time: number | null }>) {
          // A boot with no run on record (a copied file): the process's own start is all we know.
          const at = Math.max(ended ?? 0, p.start_time ?? 0);
          close.run(at, p.id);
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
