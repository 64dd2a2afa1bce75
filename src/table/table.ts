/**
 * The live process table: processes (thread-group leaders) keyed by (pid, start time), and
 * a bounded history of exited ones for lineage. It takes events in kernel-time order (see
 * ReorderBuffer) but never trusts that order: a late fork of a process that already
 * exited is attached to the exited record, a reused pid closes the stale instance, and a
 * parent is never invented.
 */

import { readDetails, type ProcReader } from '../procfs/index.js';
import type { ExecDetails, ProcEvent } from '../events/types.js';
import { applyImage, newRecord, processKey, type Origin, type ProcessRecord } from './record.js';
import type { Clock } from './clock.js';

export interface TableOptions {
  /** Exited processes kept for lineage (oldest dropped first). */
  maxExited?: number;
  /** Reads a fresh child's start time at fork; cn_proc's fork event does not carry it. */
  startTicksOf?: (pid: number) => number | null;
  clock?: Clock;
}

export interface TableCounters {
  live: number;
  exited: number;
  threadEvents: number;
  staleReplaced: number;
  lateAttached: number;
  unmatchedExits: number;
  resyncs: number;
}

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
  private provisional = 0;
  private readonly rekeyed = new Map<string, string>();
  private readonly stats = { threadEvents: 0, staleReplaced: 0, lateAttached: 0, unmatchedExits: 0, resyncs: 0 };
  /** Set by a `lost` event: the caller should resync from /proc. */
  needsResync = false;

  constructor(options: TableOptions = {}) {
    this.maxExited = options.maxExited ?? 20_000;
    this.startTicksOf = options.startTicksOf ?? (() => null);
    this.clock = options.clock ?? null;
  }

  get(key: string): ProcessRecord | undefined {
    const pid = Number(key.slice(0, key.indexOf(':')));
    const live = this.live.get(pid);
    return live !== undefined && live.key === key ? live : this.exited.get(key);
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

  /** Fills the table from /proc before the live stream starts. */
  seed(reader: ProcReader): void {
    for (const pid of reader.listPids()) {
      const details = readDetails(reader, pid);
      if (details === null || details.startTicks === null) continue;
      const record = this.create(pid, details.startTicks, 'seeded');
      applyImage(record, details);
      if (this.clock !== null) record.startNs = this.clock.startTicksToNs(details.startTicks);
    }
    for (const record of this.live.values()) this.link(record, record.ppid);
  }

  /** Applies events in order; sets `key` on each. */
  apply(events: readonly ProcEvent[]): void {
    for (const event of events) event.key = this.applyOne(event);
    if (this.rekeyed.size > 0) {
      // A fork child whose start time was unknown got a provisional key; its exec told us the
      // real one. Events of this batch that carry the provisional key get the real one too.
      for (const event of events) {
        const real = event.key ? this.rekeyed.get(event.key) : undefined;
        if (real !== undefined) event.key = real;
      }
      this.rekeyed.clear();
    }
  }

  /** Gives a provisionally keyed record its real key, `pid:startTicks`, everywhere it is referenced. */
  private rekey(record: ProcessRecord, startTicks: number): void {
    const old = record.key;
    record.startTicks = startTicks;
    record.key = processKey(record.pid, startTicks);
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
   */
  resync(reader: ProcReader, nowNs: number, nextSeq: () => number): ProcEvent[] {
    this.stats.resyncs++;
    this.needsResync = false;
    const events: ProcEvent[] = [];
    const base = (pid: number) => ({ seq: nextSeq(), ktimeNs: nowNs, pid, tid: pid, cpu: -1, provenance: 'inferred' as const });
    const present = new Map<number, number>();
    for (const pid of reader.listPids()) {
      const stat = reader.stat(pid);
      if (stat !== null) present.set(pid, stat.startTicks);
    }
    for (const record of this.live.values()) {
      const ticks = present.get(record.pid);
      if (ticks === undefined || (record.startTicks !== null && ticks !== record.startTicks)) {
        events.push({ ...base(record.pid), kind: 'inferred_exit', startTicks: record.startTicks });
      }
    }
    for (const [pid, ticks] of present) {
      const record = this.live.get(pid);
      if (record !== undefined && (record.startTicks === null || record.startTicks === ticks)) continue;
      const details = readDetails(reader, pid);
      if (details !== null) events.push({ ...base(pid), kind: 'inferred_start', details });
    }
    this.apply(events);
    return events;
  }

  private create(pid: number, startTicks: number | null, origin: Origin): ProcessRecord {
    const key = startTicks === null ? `${pid}:?${++this.provisional}` : processKey(pid, startTicks);
    const record = newRecord(pid, startTicks, key, origin);
    this.live.set(pid, record);
    return record;
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

  /** The exited record this event belongs to, when it arrives after the process's exit. */
  private lateFor(pid: number, ktimeNs: number): ProcessRecord | undefined {
    const key = this.lastExitByPid.get(pid);
    const record = key === undefined ? undefined : this.exited.get(key);
    return record !== undefined && record.exitNs !== null && ktimeNs <= record.exitNs && !this.live.has(pid) ? record : undefined;
  }

  /** The live record for pid if it is the same instance; a stale one is closed first. */
  private current(pid: number, startTicks: number | null, ktimeNs: number): ProcessRecord | undefined {
    const record = this.live.get(pid);
    if (record === undefined) return undefined;
    if (startTicks === null || record.startTicks === null || record.startTicks === startTicks) return record;
    // Same pid, another start time: we missed the old instance's exit.
    this.stats.staleReplaced++;
    this.retire(record, ktimeNs, 'inferred');
    return undefined;
  }

  private retire(record: ProcessRecord, ktimeNs: number, how: 'observed' | 'inferred'): void {
    record.exitNs = ktimeNs;
    record.exitOrigin = how;
    this.live.delete(record.pid);
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

  private startOrExec(pid: number, details: ExecDetails, ktimeNs: number, origin: Origin): string {
    const late = this.lateFor(pid, ktimeNs);
    if (late !== undefined && (details.startTicks === null || late.startTicks === null || late.startTicks === details.startTicks)) {
      this.stats.lateAttached++;
      applyImage(late, details);
      return late.key;
    }
    let record = this.current(pid, details.startTicks, ktimeNs);
    if (record !== undefined && origin === 'inferred') return record.key; // already known
    if (record === undefined) {
      record = this.create(pid, details.startTicks, origin);
      this.link(record, details.ppid);
      record.startNs = details.startTicks !== null && this.clock !== null ? this.clock.startTicksToNs(details.startTicks) : ktimeNs;
    } else if (record.startTicks === null && details.startTicks !== null) {
      this.rekey(record, details.startTicks);
    }
    applyImage(record, details);
    if (origin === 'observed') record.execNs = ktimeNs;
    return record.key;
  }

  private applyOne(event: ProcEvent): string | null {
    const { pid, ktimeNs } = event;
    switch (event.kind) {
      case 'fork': {
        const parent = this.live.get(event.parentPid);
        if (event.thread) {
          this.stats.threadEvents++;
          if (parent !== undefined) parent.threadsCreated++;
          return parent?.key ?? null;
        }
        const late = this.lateFor(pid, ktimeNs);
        if (late !== undefined) {
          this.stats.lateAttached++;
          if (late.ppid === null) this.link(late, event.parentPid);
          return late.key;
        }
        const ticks = this.startTicksOf(pid);
        const existing = this.current(pid, ticks, ktimeNs);
        if (existing !== undefined && existing.startTicks === ticks && ticks !== null) return existing.key; // duplicate
        if (existing !== undefined) { this.stats.staleReplaced++; this.retire(existing, ktimeNs, 'inferred'); }
        const child = this.create(pid, ticks, 'observed');
        this.link(child, event.parentPid);
        child.startNs = ktimeNs;
        if (parent !== undefined) {
          // Until it execs, a fork child runs its parent's image.
          Object.assign(child, { comm: parent.comm, exe: parent.exe, argv: parent.argv, cwd: parent.cwd, uids: parent.uids, gids: parent.gids, label: parent.label, cgroup: parent.cgroup, inheritedImage: true });
        }
        return child.key;
      }
      case 'exec':
        return this.startOrExec(pid, event.details, ktimeNs, 'observed');
      case 'inferred_start':
        return this.startOrExec(pid, event.details, ktimeNs, 'inferred');
      case 'exit': {
        if (event.tid !== pid) {
          this.stats.threadEvents++;
          const owner = this.live.get(pid);
          if (owner !== undefined) owner.threadsExited++;
          return owner?.key ?? null;
        }
        let record = this.live.get(pid);
        if (record === undefined) {
          // An exit of a process we never saw start (it predates a loss, or its fork is late).
          this.stats.unmatchedExits++;
          record = this.create(pid, null, 'observed');
          if (event.parentPid !== null) this.link(record, event.parentPid);
        }
        record.exit = event.status;
        this.retire(record, ktimeNs, 'observed');
        return record.key;
      }
      case 'inferred_exit': {
        const record = this.live.get(pid);
        if (record === undefined || (event.startTicks !== null && record.startTicks !== null && record.startTicks !== event.startTicks)) return null;
        this.retire(record, ktimeNs, 'inferred');
        return record.key;
      }
      case 'lost':
        this.needsResync = true;
        return null;
      default: {
        const record = this.live.get(pid) ?? this.lateFor(pid, ktimeNs);
        if (record === undefined) return null;
        if (event.kind === 'uid' && record.uids !== null) record.uids = [event.ruid, event.euid, record.uids[2], record.uids[3]];
        else if (event.kind === 'uid') record.uids = [event.ruid, event.euid, event.euid, event.euid];
        else if (event.kind === 'gid' && record.gids !== null) record.gids = [event.rgid, event.egid, record.gids[2], record.gids[3]];
        else if (event.kind === 'gid') record.gids = [event.rgid, event.egid, event.egid, event.egid];
        else if (event.kind === 'comm') record.comm = event.comm;
        else if (event.kind === 'ptrace') record.tracerPid = event.tracerPid === 0 ? null : event.tracerPid;
        else if (event.kind === 'coredump') record.coreDumped = true;
        return record.key;
      }
    }
  }
}
