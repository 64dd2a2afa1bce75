/**
 * The live process table: processes (thread-group leaders) keyed by (pid, start time), and
 * a bounded history of exited ones for lineage. It takes events in kernel-time order (see
 * ReorderBuffer) but never trusts that order: a late fork of a process that already
 * exited is attached to the exited record, a reused pid closes the stale instance, and a
 * parent is never invented. What /proc says is checked against the event's time: a process
 * that started after an event is not the one the event was about.
 */

import { readDetails, type ProcReader, type ProcStat } from '../procfs/index.js';
import { decodeExitStatus, type ExecDetails, type ExitEvent, type ProcEvent } from '../events/types.js';
import { applyImage, newRecord, processKey, shared, type Origin, type ProcessRecord } from './record.js';
import type { Clock } from './clock.js';

export interface TableOptions {
  /** Exited processes kept for lineage (oldest dropped first). */
  maxExited?: number;
  /** Reads a fresh child's start time at fork; cn_proc's fork event does not carry it. */
  startTicksOf?: (pid: number) => number | null;
  clock?: Clock;
  /**
   * Whether the source reports every thread's exit (netlink; the default): then the leader
   * thread's exit while other threads run does not end the process. The eBPF source
   * reports one exit per process, when its last thread ends.
   */
  threadExits?: boolean;
  /**
   * What /proc says of pid now (null: not there). Asked when a leader thread exits while the
   * table counts other threads: counts drift (threads born between subscribing and seeding,
   * thread exits lost), and a process must not stay live on a thread that is not there.
   * Without it, the counts are trusted.
   */
  threadsOf?: (pid: number) => { startTicks: number; threads: number } | null;
  /**
   * The cgroup v2 path of a cgroup id (eBPF exec records carry only the id): the cgroup at the
   * exec, so a process that systemd or a container runtime moved before exec shows its own
   * unit and container, not its parent's. Null when not known.
   */
  cgroupPathOf?: (id: number) => string | null;
  /**
   * The cgroup path of a live process (from /proc/PID/cgroup) when its exec said neither path
   * nor id (the netlink source): read when the event is released, so only if the pid still
   * has the exec's start time; a process gone by then keeps the cgroup it inherited.
   */
  cgroupOfPid?: (pid: number, startTicks: number) => string | null;
}

export interface TableCounters {
  live: number;
  exited: number;
  threadEvents: number;
  staleReplaced: number;
  lateAttached: number;
  unmatchedExits: number;
  resyncs: number;
  /** /proc showed another process instance than the event was about (pid reused): not used. */
  wrongInstance: number;
  /** Images read again by a resync (inherited at a fork whose exec may be lost, or renamed). */
  refreshed: number;
  /** Processes found gone from /proc without an exit event (periodic sweep), closed as inferred. */
  vanished: number;
  /** Processes the seed found already exited (zombies), recorded as exited at once. */
  seededZombies: number;
  /** Exit accounting (`acct`) of a process instance not in memory: stored with its row only. */
  acctUnmatched: number;
}

/**
 * The pid a key begins with, read digit by digit: looked up several times per event (table,
 * store, rules), and slicing the key made a short string each time for the collector. Anything
 * but `DIGITS:...` takes the general path, with its result.
 */
function pidOfKey(key: string): number {
  let pid = 0;
  let i = 0;
  for (; i < key.length && i < 10; i++) {
    const c = key.charCodeAt(i);
    if (c === 58) break; // ':'
    if (c < 48 || c > 57) return Number(key.slice(0, key.indexOf(':')));
    pid = pid * 10 + (c - 48);
  }
  if (i === 0 || i === key.length || key.charCodeAt(i) !== 58) return Number(key.slice(0, key.indexOf(':')));
  return pid;
}

/** An image of which nothing is known. */
function unknownDetails(): ExecDetails {
  return { comm: null, exe: null, argv: null, argvTruncated: false, cwd: null, ppid: null, uids: null, gids: null, startTicks: null, label: null, cgroup: null };
}

/**
 * Where an applied event keeps the copy of its process record as it was right after that
 * event (recordAt): a non-enumerable property, invisible to JSON, spread and comparisons. Not
 * a WeakMap: in a storm its entries (one per event) were a share of every scavenge.
 */
const AS_OF = Symbol('recordAsOf');
type Snapshotted = ProcEvent & { [AS_OF]?: ProcessRecord };

export class ProcessTable {
  readonly live = new Map<number, ProcessRecord>();
  /** Exited records by key, oldest first (Map keeps insertion order). */
  readonly exited = new Map<string, ProcessRecord>();
  /** pid → key of its most recent exit, for events that arrive after the exit. */
  private readonly lastExitByPid = new Map<number, string>();
  private readonly children = new Map<string, Set<string>>();
  private readonly maxExited: number;
  private readonly startTicksOf: (pid: number) => number | null;
  private readonly clock: Clock | null;
  private readonly threadExits: boolean;
  private readonly threadsOf: TableOptions['threadsOf'];
  private readonly cgroupPathOf: TableOptions['cgroupPathOf'];
  private readonly cgroupOfPid: TableOptions['cgroupOfPid'];
  private provisional = 0;
  private readonly rekeyed = new Map<string, string>();
  private readonly stats = { threadEvents: 0, staleReplaced: 0, lateAttached: 0, unmatchedExits: 0, resyncs: 0, wrongInstance: 0, refreshed: 0, acctUnmatched: 0, vanished: 0, seededZombies: 0 };
  /** Set by a `lost` event: the caller should resync from /proc. */
  needsResync = false;

  constructor(options: TableOptions = {}) {
    this.maxExited = options.maxExited ?? 20_000;
    this.startTicksOf = options.startTicksOf ?? (() => null);
    this.clock = options.clock ?? null;
    this.threadExits = options.threadExits ?? true;
    this.threadsOf = options.threadsOf;
    this.cgroupPathOf = options.cgroupPathOf;
    this.cgroupOfPid = options.cgroupOfPid;
  }

  get(key: string): ProcessRecord | undefined {
    const pid = pidOfKey(key);
    const live = this.live.get(pid);
    return live !== undefined && live.key === key ? live : this.exited.get(key);
  }

  /**
   * The process as it was right after `event` was applied (a copy), for showing an event
   * with the state it produced rather than the state at the end of its batch. Undefined
   * for events this table did not match to a process.
   */
  recordAt(event: ProcEvent): ProcessRecord | undefined {
    return (event as Snapshotted)[AS_OF];
  }

  childrenOf(key: string): ProcessRecord[] {
    return [...(this.children.get(key) ?? [])].map((k) => this.get(k)).filter((r): r is ProcessRecord => r !== undefined);
  }

  /** Ancestors, nearest first, as far as the table knows them. */
  ancestors(key: string): ProcessRecord[] {
    const chain: ProcessRecord[] = [];
    const seen = new Set<string>([key]);
    let parentKey = this.get(key)?.parentKey ?? null;
    while (parentKey !== null && !seen.has(parentKey)) {
      const parent = this.get(parentKey);
      if (parent === undefined) break;
      chain.push(parent);
      seen.add(parentKey);
      parentKey = parent.parentKey;
    }
    return chain;
  }

  counters(): TableCounters {
    return { live: this.live.size, exited: this.exited.size, ...this.stats };
  }

  /**
   * Processes the seed found already exited: zombies waiting for their parent's wait(). Their
   * exit happened before we listened and their reaping sends no event, so they are recorded
   * as exited (inferred) at once, with the status /proc shows, never kept live.
   */
  readonly seededExits: ProcessRecord[] = [];

  /** Fills the table from /proc before the live stream starts. */
  seed(reader: ProcReader): void {
    const zombies: ProcessRecord[] = [];
    for (const pid of reader.listPids()) {
      const details = readDetails(reader, pid);
      if (details === null || details.startTicks === null) continue;
      const record = this.create(pid, details.startTicks, 'seeded');
      applyImage(record, details);
      if (this.clock !== null) record.startNs = this.clock.startTicksToNs(details.startTicks);
      const stat = reader.stat(pid);
      if (stat === null || stat.startTicks !== details.startTicks) continue;
      this.countThreads(record, stat);
      // A zombie leader whose other threads still run is a running process (state Z, threads > 1).
      if (stat.state === 'Z' && stat.numThreads <= 1) {
        if (stat.exitCode !== null) record.exit = decodeExitStatus(stat.exitCode);
        zombies.push(record);
      }
    }
    for (const record of this.live.values()) this.link(record, record.ppid);
    const nowNs = this.clock?.nowNs() ?? 0;
    for (const record of zombies) {
      this.retire(record, nowNs, 'inferred');
      this.seededExits.push(record);
      this.stats.seededZombies++;
    }
  }

  /**
   * Processes the table holds live whose pid /proc no longer lists: they ended without an
   * exit event (a zombie reaped before we listened, an exit lost without a loss report).
   * The caller passes the live keys it found missing at its previous sweep, so that an exit
   * still on its way (in a buffer, in the reorder window) is never overtaken; those still
   * live and still missing now are returned as `inferred_exit` events to apply.
   */
  vanished(presentPids: ReadonlySet<number>, missingBefore: ReadonlySet<string>, nowNs: number): { events: ProcEvent[]; missing: Set<string> } {
    const missing = new Set<string>();
    const events: ProcEvent[] = [];
    for (const record of this.live.values()) {
      if (presentPids.has(record.pid)) continue;
      if (missingBefore.has(record.key)) {
        events.push({ seq: 0, ktimeNs: nowNs, pid: record.pid, tid: record.pid, cpu: -1, provenance: 'inferred', kind: 'inferred_exit', startTicks: record.startTicks });
      } else {
        missing.add(record.key);
      }
    }
    this.stats.vanished += events.length;
    return { events, missing };
  }

  /** Applies events in order; sets `key` on each. */
  apply(events: readonly ProcEvent[]): void {
    for (const event of events) {
      event.key = this.applyOne(event);
      const record = event.key === null ? undefined : this.get(event.key);
      if (record !== undefined) Object.defineProperty(event, AS_OF, { value: { ...record }, configurable: true });
    }
    if (this.rekeyed.size > 0) {
      // A fork child whose start time was unknown got a provisional key; its exec told us the
      // real one. Events of this batch that carry the provisional key get the real one too.
      const real = (key: string | null | undefined): string | null | undefined => (key ? this.rekeyed.get(key) ?? key : key);
      for (const event of events) {
        event.key = real(event.key);
        const snapshot = (event as Snapshotted)[AS_OF];
        if (snapshot !== undefined) {
          snapshot.key = real(snapshot.key)!;
          snapshot.parentKey = real(snapshot.parentKey) ?? null;
        }
      }
      this.rekeyed.clear();
    }
  }

  /** Gives a provisionally keyed record its real key, `pid:startTicks`, everywhere it is referenced. */
  private rekey(record: ProcessRecord, startTicks: number): void {
    const old = record.key;
    record.startTicks = startTicks;
    record.key = this.freeKey(record.pid, startTicks);
    this.rekeyed.set(old, record.key);
    const kids = this.children.get(old);
    if (kids !== undefined) {
      this.children.delete(old);
      this.children.set(record.key, kids);
      for (const k of kids) { const kid = this.get(k); if (kid !== undefined) kid.parentKey = record.key; }
    }
    const siblings = record.parentKey === null ? undefined : this.children.get(record.parentKey);
    if (siblings?.delete(old)) siblings.add(record.key);
  }

  /**
   * Compares the table with /proc after lost events: processes gone are closed and
   * processes found are added, both as `inferred` events, which are applied and returned.
   * Processes still there get their thread counts from /proc, and their image read again
   * where the loss may have hidden an exec (an image still inherited at the fork) or a
   * rename (comm differs): the lines that follow must not show a name from before.
   */
  resync(reader: ProcReader, nowNs: number, nextSeq: () => number): ProcEvent[] {
    this.stats.resyncs++;
    this.needsResync = false;
    const events: ProcEvent[] = [];
    const base = (pid: number) => ({ seq: nextSeq(), ktimeNs: nowNs, pid, tid: pid, cpu: -1, provenance: 'inferred' as const });
    const present = new Map<number, ProcStat>();
    for (const pid of reader.listPids()) {
      const stat = reader.stat(pid);
      if (stat !== null) present.set(pid, stat);
    }
    for (const record of this.live.values()) {
      const stat = present.get(record.pid);
      if (stat === undefined || (record.startTicks !== null && stat.startTicks !== record.startTicks)) {
        events.push({ ...base(record.pid), kind: 'inferred_exit', startTicks: record.startTicks });
        continue;
      }
      this.countThreads(record, stat);
      if (record.inheritedImage || record.comm !== stat.comm) this.refreshImage(reader, record);
    }
    for (const [pid, stat] of present) {
      const record = this.live.get(pid);
      if (record !== undefined && (record.startTicks === null || record.startTicks === stat.startTicks)) continue;
      const details = readDetails(reader, pid);
      if (details !== null) events.push({ ...base(pid), kind: 'inferred_start', details });
    }
    this.apply(events);
    for (const event of events) {
      const record = event.kind === 'inferred_start' && event.key ? this.live.get(event.pid) : undefined;
      const stat = present.get(event.pid);
      if (record !== undefined && stat !== undefined && record.startTicks === stat.startTicks) this.countThreads(record, stat);
    }
    return events;
  }

  /** Extra threads as /proc counts them (it knows those created before we watched, or during a loss). */
  private countThreads(record: ProcessRecord, stat: ProcStat): void {
    record.threadsCreated = record.threadsExited + Math.max(0, stat.numThreads - 1);
  }

  private refreshImage(reader: ProcReader, record: ProcessRecord): void {
    const details = readDetails(reader, record.pid);
    applyImage(record, details !== null && details.startTicks === record.startTicks ? details : unknownDetails());
    this.stats.refreshed++;
  }

  private create(pid: number, startTicks: number | null, origin: Origin): ProcessRecord {
    const key = startTicks === null ? `${pid}:?${++this.provisional}` : this.freeKey(pid, startTicks);
    const record = newRecord(pid, startTicks, key, origin);
    this.live.set(pid, record);
    return record;
  }

  /**
   * `pid:startTicks`, or with the first free ordinal when an instance of this pid and tick is
   * already known (exited, in memory): a pid reused within one clock tick is a new process,
   * never merged into the old one. (The store checks its own rows at start: Daemon.reconcile.)
   */
  private freeKey(pid: number, startTicks: number): string {
    const taken = (key: string): boolean => this.exited.has(key) || this.live.get(pid)?.key === key;
    let ordinal = 1;
    while (taken(processKey(pid, startTicks, ordinal))) ordinal++;
    return processKey(pid, startTicks, ordinal);
  }

  /** Gives a record another key everywhere it is referenced (a same-tick instance the store already has). */
  renameKey(record: ProcessRecord, key: string): void {
    const old = record.key;
    record.key = key;
    const kids = this.children.get(old);
    if (kids !== undefined) {
      this.children.delete(old);
      this.children.set(key, kids);
      for (const k of kids) { const kid = this.get(k); if (kid !== undefined) kid.parentKey = key; }
    }
    const siblings = record.parentKey === null ? undefined : this.children.get(record.parentKey);
    if (siblings?.delete(old)) siblings.add(key);
  }

  private link(record: ProcessRecord, ppid: number | null): void {
    record.ppid = ppid;
    const parent = ppid === null || ppid === record.pid ? undefined : this.live.get(ppid);
    record.parentKey = parent?.key ?? null;
    if (parent !== undefined) {
      let set = this.children.get(parent.key);
      if (set === undefined) this.children.set(parent.key, (set = new Set()));
      set.add(record.key);
    }
  }

  /** Whether the record's process provably started after kernel time ktimeNs (so an event then was not about it). */
  private startedAfter(record: ProcessRecord, ktimeNs: number): boolean {
    if (record.startTicks !== null && this.clock !== null) return this.clock.startedAfter(record.startTicks, ktimeNs);
    return record.startNs !== null && record.startNs > ktimeNs;
  }

  /**
   * The exited record this event belongs to, when it arrives after the process's exit. While
   * the pid is live again, only when `evenIfLive` (the caller knows the live one is newer).
   */
  private lateFor(pid: number, ktimeNs: number, evenIfLive = false): ProcessRecord | undefined {
    const key = this.lastExitByPid.get(pid);
    const record = key === undefined ? undefined : this.exited.get(key);
    return record !== undefined && record.exitNs !== null && ktimeNs <= record.exitNs && (evenIfLive || !this.live.has(pid)) ? record : undefined;
  }

  /**
   * The key of the process instance a capture event names itself (pid and start time): the
   * event may come after the process's exit (a socket closed later, a final syscall count),
   * or its pid may have been reused since. Known to the table or not, the key is the key.
   */
  private instanceOf(pid: number, startTicks: number | null, ktimeNs: number): string | null {
    if (pid <= 0) return null;
    if (startTicks === null) return this.owner(pid, ktimeNs)?.key ?? null;
    const key = processKey(pid, startTicks);
    const live = this.live.get(pid);
    // A record still keyed provisionally (pid:?N) with this start time is the same instance.
    if (live !== undefined && live.startTicks === null && !this.startedAfter(live, ktimeNs)) return live.key;
    return key;
  }

  /** The record an event of pid at ktimeNs is about: the live one, unless it started later. */
  private owner(pid: number, ktimeNs: number): ProcessRecord | undefined {
    const live = this.live.get(pid);
    if (live !== undefined && !this.startedAfter(live, ktimeNs)) return live;
    return this.lateFor(pid, ktimeNs, true);
  }

  /**
   * The live record for pid if it is the same instance; a stale one is closed first. With the
   * eBPF source's exact start times, two instances of one tick are told apart too.
   */
  private current(pid: number, startTicks: number | null, ktimeNs: number, startBootNs: number | null = null): ProcessRecord | undefined {
    const record = this.live.get(pid);
    if (record === undefined) return undefined;
    const sameTick = startTicks === null || record.startTicks === null || record.startTicks === startTicks;
    if (sameTick && (startBootNs === null || record.startBootNs === null || record.startBootNs === startBootNs)) return record;
    // Same pid, another start time: we missed the old instance's exit.
    this.stats.staleReplaced++;
    this.retire(record, ktimeNs, 'inferred');
    return undefined;
  }

  private retire(record: ProcessRecord, ktimeNs: number, how: 'observed' | 'inferred'): void {
    record.exitNs = ktimeNs;
    record.exitOrigin = how;
    if (this.live.get(record.pid) === record) this.live.delete(record.pid);
    this.exited.set(record.key, record);
    this.lastExitByPid.set(record.pid, record.key);
    while (this.exited.size > this.maxExited) {
      const oldest = this.exited.keys().next().value as string;
      const gone = this.exited.get(oldest)!;
      this.exited.delete(oldest);
      this.children.delete(oldest);
      // A long-lived parent (a shell, cron) would otherwise collect its children's keys forever.
      if (gone.parentKey !== null) this.children.get(gone.parentKey)?.delete(oldest);
      if (this.lastExitByPid.get(gone.pid) === oldest) this.lastExitByPid.delete(gone.pid);
    }
  }

  /** `isExec`: a new image (observed, or found by a scan) replaces the known one; else only an unknown process is added. */
  private startOrExec(pid: number, details: ExecDetails, ktimeNs: number, origin: Origin, isExec: boolean): string {
    const late = this.lateFor(pid, ktimeNs);
    const bootNs = details.startBootNs ?? null;
    if (late !== undefined && (details.startTicks === null || late.startTicks === null || late.startTicks === details.startTicks) &&
        (bootNs === null || late.startBootNs === null || late.startBootNs === bootNs)) {
      this.stats.lateAttached++;
      applyImage(late, details);
      return late.key;
    }
    let record = this.current(pid, details.startTicks, ktimeNs, bootNs);
    if (record !== undefined && !isExec) return record.key; // already known
    if (record === undefined) {
      record = this.create(pid, details.startTicks, origin);
      record.startBootNs = bootNs;
      this.link(record, details.ppid);
      record.startNs = details.startTicks !== null && this.clock !== null ? this.clock.startTicksToNs(details.startTicks) : ktimeNs;
    } else if (record.startTicks === null && details.startTicks !== null) {
      this.rekey(record, details.startTicks);
    }
    applyImage(record, details);
    record.startBootNs ??= bootNs;
    if (isExec && origin === 'observed') {
      record.execNs = ktimeNs;
      if (record.leaderExit !== null) {
        // A thread other than the leader exec'd: the kernel ended the leader (de_thread) and
        // gave the exec'ing thread its pid. That thread is the leader now, not an extra one.
        record.leaderExit = null;
        record.threadsExited++;
      }
    }
    return record.key;
  }

  private forkOf(event: ProcEvent & { kind: 'fork' }): string | null {
    const { pid, ktimeNs } = event;
    if (event.thread) {
      // cn_proc names the process's own parent for a new thread (CLONE_THREAD shares it):
      // the thread belongs to its thread group, which is the event's pid.
      this.stats.threadEvents++;
      const owner = this.owner(pid, ktimeNs);
      if (owner !== undefined) owner.threadsCreated++;
      return owner?.key ?? null;
    }
    const late = this.lateFor(pid, ktimeNs);
    if (late !== undefined) {
      this.stats.lateAttached++;
      if (late.ppid === null) this.link(late, event.parentPid);
      return late.key;
    }
    // The reader read it when the fork happened; /proc now (maybe long after) is the fallback.
    let ticks = event.startTicks ?? this.startTicksOf(pid);
    if (ticks !== null && this.clock?.startedAfter(ticks, ktimeNs) === true) {
      // A later process with the same pid.
      this.stats.wrongInstance++;
      ticks = null;
    }
    const bootNs = event.startBootNs ?? null;
    const existing = this.current(pid, ticks, ktimeNs, bootNs);
    if (existing !== undefined && existing.startTicks === ticks && ticks !== null) { // a second sighting (seed and event)
      existing.startBootNs ??= bootNs;
      return existing.key;
    }
    if (existing !== undefined) { this.stats.staleReplaced++; this.retire(existing, ktimeNs, 'inferred'); }
    const child = this.create(pid, ticks, 'observed');
    child.startBootNs = bootNs;
    const parent = this.live.get(event.parentPid);
    this.link(child, event.parentPid);
    child.startNs = ktimeNs;
    if (parent !== undefined) {
      // Until it execs, a fork child runs its parent's image.
      Object.assign(child, { comm: parent.comm, exe: parent.exe, filename: parent.filename, argv: parent.argv, cwd: parent.cwd, uids: parent.uids, gids: parent.gids, label: parent.label, cgroup: parent.cgroup, inheritedImage: true });
    }
    return child.key;
  }

  private exitOf(event: ExitEvent): string | null {
    const { pid, ktimeNs } = event;
    if (event.tid !== pid) return this.threadExit(event);
    const live = this.live.get(pid);
    let record = live !== undefined && !this.startedAfter(live, ktimeNs) ? live : undefined;
    if (record === undefined) {
      const closed = this.lateFor(pid, ktimeNs, true);
      if (closed !== undefined) {
        // It ended before a resync (or a reordered event) closed it: the kernel's word wins.
        this.stats.lateAttached++;
        if (closed.exitOrigin !== 'observed') Object.assign(closed, { exit: event.status, exitNs: ktimeNs, exitOrigin: 'observed', leaderExit: null });
        return closed.key;
      }
      // An exit of a process we never saw start (it predates a loss, or its fork is late).
      this.stats.unmatchedExits++;
      if (live !== undefined) {
        // The live one is a later instance: record this one as exited, beside it.
        record = newRecord(pid, null, `${pid}:?${++this.provisional}`, 'observed');
      } else {
        record = this.create(pid, null, 'observed');
      }
      if (event.parentPid !== null) this.link(record, event.parentPid);
    }
    if (this.threadExits && live === record && record.threadsCreated > record.threadsExited && this.othersAlive(record)) {
      // The leader thread left (pthread_exit, or the first of a group exit): the process
      // lives on in its other threads and ends with the last of them.
      record.leaderExit = event.status;
      return record.key;
    }
    record.exit = event.status;
    record.leaderExit = null;
    this.retire(record, ktimeNs, 'observed');
    return record.key;
  }

  /** Whether threads other than the (exited) leader still run, as /proc says when it can; counts are corrected. */
  private othersAlive(record: ProcessRecord): boolean {
    if (this.threadsOf === undefined) return true;
    const now = this.threadsOf(record.pid);
    if (now === null || (record.startTicks !== null && now.startTicks !== record.startTicks)) return false; // gone already
    record.threadsCreated = record.threadsExited + Math.max(0, now.threads - 1); // the zombie leader counts itself
    return now.threads > 1;
  }

  private threadExit(event: ExitEvent): string | null {
    this.stats.threadEvents++;
    // A thread outliving its process's record (a group exit whose leader was applied first)
    // belongs to the pid's last exited instance, as long as no newer one is live.
    const lastExit = this.lastExitByPid.get(event.pid);
    const owner = this.owner(event.pid, event.ktimeNs) ?? (this.live.has(event.pid) || lastExit === undefined ? undefined : this.exited.get(lastExit));
    if (owner === undefined) return null;
    owner.threadsExited++;
    if (owner.leaderExit !== null && owner.threadsExited >= owner.threadsCreated && owner.exitNs === null) {
      // The last thread of a process whose leader had left: the process ends now, as this
      // thread ended (a group exit gives every thread the group's status).
      owner.exit = event.status;
      owner.leaderExit = null;
      this.retire(owner, event.ktimeNs, 'observed');
    }
    return owner.key;
  }

  private applyOne(event: ProcEvent): string | null {
    const { pid, ktimeNs } = event;
    switch (event.kind) {
      case 'fork':
        return this.forkOf(event);
      case 'exec': {
        if (event.provenance === 'observed' && event.details.startTicks !== null && this.clock?.startedAfter(event.details.startTicks, ktimeNs) === true) {
          // What was read belongs to a later process with this pid: nothing of it is this exec's.
          this.stats.wrongInstance++;
          event.details = unknownDetails();
        }
        const d = event.details;
        if (d.cgroup === null && d.cgroupId != null && this.cgroupPathOf !== undefined) d.cgroup = this.cgroupPathOf(d.cgroupId);
        else if (d.cgroup === null && d.cgroupId == null && d.startTicks !== null && this.cgroupOfPid !== undefined) d.cgroup = this.cgroupOfPid(pid, d.startTicks);
        return this.startOrExec(pid, event.details, ktimeNs, event.provenance, true);
      }
      case 'inferred_start':
        return this.startOrExec(pid, event.details, ktimeNs, 'inferred', false);
      case 'exit':
        return this.exitOf(event);
      case 'inferred_exit': {
        const record = this.live.get(pid);
        if (record === undefined || (event.startTicks !== null && record.startTicks !== null && record.startTicks !== event.startTicks)) return null;
        if (record.leaderExit !== null) {
          // Its leader's exit was observed; its other threads ended unseen.
          record.exit = record.leaderExit;
          record.leaderExit = null;
          this.retire(record, ktimeNs, 'observed');
          return record.key;
        }
        this.retire(record, ktimeNs, 'inferred');
        return record.key;
      }
      case 'lost':
        // A loss confined to one capture (syscall counts, sessions, shell lines) left the table whole.
        if (event.scope === undefined) this.needsResync = true;
        return null;
      case 'shell': case 'session': case 'syscalls':
        return this.instanceOf(event.pid, event.startTicks, ktimeNs);
      case 'acct': {
        // The totals name their instance: attach them wherever it is (live only when its exit
        // was missed). Unknown to the table (long gone from memory): the store has its row.
        const key = processKey(pid, event.startTicks);
        const record = this.get(key);
        if (record === undefined) this.stats.acctUnmatched++;
        else record.usage = event.usage;
        return key;
      }
      default: {
        const record = this.owner(pid, ktimeNs);
        if (record === undefined) return null;
        if (event.kind === 'uid' && record.uids !== null) record.uids = shared.ids([event.ruid, event.euid, record.uids[2], record.uids[3]]);
        else if (event.kind === 'uid') record.uids = shared.ids([event.ruid, event.euid, event.euid, event.euid]);
        else if (event.kind === 'gid' && record.gids !== null) record.gids = shared.ids([event.rgid, event.egid, record.gids[2], record.gids[3]]);
        else if (event.kind === 'gid') record.gids = shared.ids([event.rgid, event.egid, event.egid, event.egid]);
        // A thread naming itself (pthread_setname_np) is not the process renamed: the process's
        // name is its leader's, as /proc/PID/comm and ps show it.
        else if (event.kind === 'comm' && event.tid === event.pid) record.comm = shared.string(event.comm);
        else if (event.kind === 'ptrace') record.tracerPid = event.tracerPid === 0 ? null : event.tracerPid;
        else if (event.kind === 'coredump') record.coreDumped = true;
        return record.key;
      }
    }
  }
}
