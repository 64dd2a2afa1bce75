/**
 * The daemon: one source → reorder → table → store / API followers / metrics.
 * Starting it also reconciles the store with /proc: processes the store thought alive but
 * which are gone are closed as `inferred`, processes born while nobody watched are recorded
 * as `inferred` starts, and the time the daemon was not watching is recorded as a `lost`
 * event (never a silent gap).
 */

import { readFileSync } from 'node:fs';
import type { ExecDetails, LostEvent, ProcEvent } from '../events/types.js';
import { chooseSource, describeChoice, type SourceProblem } from '../sources/index.js';
import { ProcessTracker, processKey, type ProcessRecord } from '../table/index.js';
import { EventStore, applyRetention, asStoreError } from '../store/index.js';
import { DAEMON_RING_BYTES, DAEMON_SQLITE_CACHE_KIB, type DaemonConfig } from '../config/daemon.js';
import type { RulesService } from '../rules/service.js';
import type { NatsExporter } from '../export/index.js';
import { ResourceService } from '../resources/service.js';

export type EventListener = (events: readonly ProcEvent[]) => void;

export interface DaemonStatus {
  source: string;
  sourceWhy: string;
  startedMs: number;
  bootId: string;
}

/** Rows one retention step may delete before it yields to the event loop. */
const RETENTION_BUDGET = 20_000;

export function readBootId(procRoot = '/proc'): string {
  try {
    return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** What a record knows of its image, as an `inferred_start` event carries it. */
function detailsOf(r: ProcessRecord): ExecDetails {
  return {
    comm: r.comm, exe: r.exe, argv: r.argv, argvTruncated: r.argvTruncated, cwd: r.cwd, ppid: r.ppid, uids: r.uids, gids: r.gids,
    startTicks: r.startTicks, label: r.label, cgroup: r.cgroup,
  };
}

export class Daemon {
  readonly tracker: ProcessTracker;
  readonly store: EventStore;
  readonly status: DaemonStatus;
  private readonly listeners = new Set<EventListener>();
  private timers: NodeJS.Timeout[] = [];
  private retentionTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  /** Why the source stopped on its own (its reader died), once it did. */
  private failure: string | null = null;
  private readonly failureListeners: Array<(message: string) => void> = [];
  /** Since when, and with how many drops, the store has been failing to write; null while it writes. */
  private storeFailing: { sinceMs: number; dropped: number } | null = null;
  /** The rules room (rules, continuous checks, alerts), once started on this daemon's stream. */
  rules: RulesService | null = null;
  /** The exporter (daemon.export.nats), once started: it reads the store as its outbox. */
  exporter: NatsExporter | null = null;
  /** Completed retention passes, and the events they deleted (of those: not yet exported). */
  retentionRuns = 0;
  retentionDeleted = 0;
  retentionDeletedUnexported = 0;
  /** Resource snapshots, history and groups (issue 12); null when daemon.resources.source is off. */
  resources: ResourceService | null = null;

  private constructor(readonly config: DaemonConfig, tracker: ProcessTracker, store: EventStore, status: DaemonStatus) {
    this.tracker = tracker;
    this.store = store;
    this.status = status;
  }

  /**
   * Opens and checks the store, then picks the source and starts watching. Throws a one-line
   * error if it cannot; whatever had started by then (kernel programs, sockets, the file) is
   * stopped and closed first, so a refused start leaves nothing running.
   */
  static async start(config: DaemonConfig, log: (line: string) => void): Promise<Daemon> {
    const bootId = readBootId();
    let daemon: Daemon | null = null;
    // The file first: a damaged or too-new database is refused before anything is loaded.
    const store = new EventStore({
      path: config.database, bootId, maxQueue: config.maxQueue, group: config.socketGroup, followSymlinks: config.followSymlinks,
      onLost: (event) => daemon?.notify([event]),
    });
    store.db.pragma(`cache_size = -${DAEMON_SQLITE_CACHE_KIB}`);
    let chosen;
    try {
      const ebpf = { ringBytes: DAEMON_RING_BYTES, ...config.ebpf }; // the file's ring_buffer wins
      chosen = await chooseSource(config.source, { rcvbufBytes: config.rcvbufBytes, readerPriority: config.readerPriority, pollIntervalMs: config.pollIntervalMs, ebpf });
    } catch (err) {
      store.close();
      throw err;
    }
    const { source, why } = chosen;
    const tracker = new ProcessTracker({
      source,
      holdMs: config.holdMs,
      maxExited: config.maxExited,
      onEvents: (events) => daemon?.deliver(events),
      onProblem: (problem) => daemon?.sourceProblem(problem, log),
    });
    daemon = new Daemon(config, tracker, store, { source: source.name, sourceWhy: why, startedMs: Date.now(), bootId });
    for (const [i, line] of describeChoice(chosen, source.limitations).entries()) log(`procwatch daemon: ${i === 0 ? 'source ' : ''}${line}`);
    try {
      store.beginRun(source.name);
      // Before the source runs: loading the resource snapshots' BPF program blocks this thread.
      daemon.resources = ResourceService.create(config.resources, { table: tracker.table, clock: tracker.clock, store, log });
      const subscribedNs = tracker.clock.nowNs();
      const known = source.limitations;
      await tracker.start();
      // Some limits are known only once the source runs (a reader priority the kernel refused).
      if (source.limitations !== known) log(`procwatch daemon: ${source.limitations}`);
      daemon.reconcile(log, subscribedNs);
      daemon.resources?.start();
      daemon.timers.push(setInterval(() => daemon!.flush(log), config.flushIntervalMs));
      daemon.scheduleRetention(log, Math.min(1000, config.retentionIntervalMs)); // soon, once the API listens
    } catch (err) {
      // The source may be running (eBPF programs loaded, a netlink socket open): stop it, close the file.
      try {
        await daemon.stop();
      } catch {
        // the first error is the one worth reporting
      }
      throw asStoreError(err, config.database);
    }
    return daemon;
  }

  /**
   * Calls `listener` once if the source stops on its own (a reader thread died, /proc went
   * away): nothing more will be seen, so the daemon should stop (exit 4) rather than look
   * alive. The `lost` event naming the failure is in the stream (and the store) by then.
   */
  onFailure(listener: (message: string) => void): void {
    if (this.failure !== null) listener(this.failure);
    else this.failureListeners.push(listener);
  }

  private sourceProblem(problem: SourceProblem, log: (line: string) => void): void {
    log(`procwatch daemon: ${problem.fatal ? 'the event source failed' : 'event source problem'}: ${problem.message}`);
    if (!problem.fatal || this.failure !== null) return;
    this.failure = problem.message;
    for (const listener of this.failureListeners.splice(0)) listener(problem.message);
  }

  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(events: ProcEvent[]): void {
    const table = this.tracker.table;
    this.store.enqueue(events, (key) => table.get(key), (ns) => this.tracker.clock.wallMs(ns));
    this.resources?.observe(events);
    this.notify(events);
  }

  /** Listeners only: for events the store itself wrote (its overflow `lost` row). */
  private notify(events: readonly ProcEvent[]): void {
    for (const listener of this.listeners) listener(events);
  }

  /**
   * The flush timer. A failing store (disk full) is logged when it starts failing and when it
   * writes again, each time with the backlog, not at every retry (5 lines a second before).
   */
  private flush(log: (line: string) => void): void {
    try {
      const written = this.store.flush();
      if (this.storeFailing !== null) {
        const seconds = ((Date.now() - this.storeFailing.sinceMs) / 1000).toFixed(1);
        log(`procwatch daemon: store writes again after ${seconds} s: ${written} waiting events written; ${this.store.counters().dropped - this.storeFailing.dropped} dropped meanwhile (recorded as lost)`);
        this.storeFailing = null;
      }
    } catch (err) {
      if (this.storeFailing !== null) return;
      const c = this.store.counters();
      this.storeFailing = { sinceMs: Date.now(), dropped: c.dropped };
      log(`procwatch daemon: store write failed: ${(err as Error).message}; ${c.queued} events wait in memory (at most daemon.max_queue, then dropped and recorded as lost); retrying at every flush, the next line says when it writes again`);
    }
  }

  /**
   * One bounded retention step; the next comes at once (after yielding) while work remains,
   * else after the interval. The first runs a second after the start, when the API listens.
   */
  private scheduleRetention(log: (line: string) => void, delayMs: number): void {
    this.retentionTimer = setTimeout(() => {
      this.retentionTimer = null;
      if (this.stopping !== null) return;
      let done = true;
      try {
        const exportedUpTo = this.exporter?.exportedUpTo() ?? null;
        const r = applyRetention(this.store.db, { maxAgeMs: this.config.retentionMaxAgeMs, maxBytes: this.config.retentionMaxBytes, exportedUpTo }, Date.now(), RETENTION_BUDGET);
        this.retentionDeleted += r.eventsDeleted;
        if (r.unexportedDeleted > 0) {
          this.retentionDeletedUnexported += r.unexportedDeleted;
          log(`procwatch daemon: retention deleted ${r.unexportedDeleted} event(s) not yet exported (the export is behind by more than the local retention keeps); a lost record will say so`);
        }
        done = r.done;
        // The resource samples' own age limit, and none older than the oldest event kept.
        if (done && this.resources !== null) done = this.resources.retention(Date.now(), RETENTION_BUDGET);
        if (done) this.retentionRuns++;
      } catch (err) {
        log(`procwatch daemon: retention failed: ${(err as Error).message}`);
      }
      this.scheduleRetention(log, done ? this.config.retentionIntervalMs : 0);
    }, delayMs);
  }

  /**
   * Brings the store in line with what the table found in /proc at start. `subscribedNs`:
   * when the source began listening; processes born after it are the source's to report.
   */
  private reconcile(log: (line: string) => void, subscribedNs: number): void {
    const { table, clock } = this.tracker;
    const now = clock.nowNs();
    const wall = (ns: number): number => clock.wallMs(ns);
    const previous = this.store.previousRun;
    const events: ProcEvent[] = [];
    // A live process whose key the store has for one that exited: its pid was reused within
    // one clock tick while nobody watched (or before). A new instance: the next free ordinal.
    for (const record of [...table.live.values()]) {
      if (record.startTicks === null || !this.store.exitedKey(record.key)) continue;
      let ordinal = 2;
      while (this.store.knows(processKey(record.pid, record.startTicks, ordinal)) || table.get(processKey(record.pid, record.startTicks, ordinal)) !== undefined) ordinal++;
      table.renameKey(record, processKey(record.pid, record.startTicks, ordinal));
    }
    // Born while nobody watched: after the previous run stopped watching, before this one listened.
    let bornUnseen = 0;
    if (previous !== null) {
      for (const record of table.live.values()) {
        if (record.origin !== 'seeded' || record.startNs === null || record.startNs >= subscribedNs) continue;
        if (wall(record.startNs) <= previous.watchEndedMs || this.store.knows(record.key)) continue;
        record.origin = 'inferred';
        events.push({ seq: 0, ktimeNs: record.startNs, pid: record.pid, tid: record.pid, cpu: -1, provenance: 'inferred', kind: 'inferred_start', key: record.key, details: detailsOf(record) });
        bornUnseen++;
      }
    }
    for (const record of table.live.values()) this.store.enqueueRecord(record, wall);
    const gone = this.store.openProcesses().filter((p) => table.live.get(p.pid)?.key !== p.key);
    this.store.closeProcesses(gone.map((p) => p.key), Date.now());
    for (const p of gone) {
      events.push({ seq: 0, ktimeNs: now, pid: p.pid, tid: p.pid, cpu: -1, provenance: 'inferred', kind: 'inferred_exit', startTicks: p.start_ticks, key: p.key });
    }
    // Zombies at the seed: already exited (their status read from /proc), stored as such.
    const closed = new Set(gone.map((p) => p.key));
    for (const record of table.seededExits) {
      this.store.enqueueRecord(record, wall);
      if (!closed.has(record.key)) events.push({ seq: 0, ktimeNs: now, pid: record.pid, tid: record.pid, cpu: -1, provenance: 'inferred', kind: 'inferred_exit', startTicks: record.startTicks, key: record.key });
    }
    const otherBoots = this.store.closeOtherBoots();
    if (previous !== null) {
      const how = this.store.previousRunCrashed ? 'the previous daemon run did not stop cleanly' : 'the daemon was stopped';
      const boot = previous.bootId === this.status.bootId ? '' : `; the machine rebooted, ${otherBoots} process(es) of earlier boots closed as inferred`;
      const lost: LostEvent = {
        seq: 0, ktimeNs: now, pid: 0, tid: 0, cpu: -1, provenance: 'observed', kind: 'lost', count: null, key: null,
        reason: `not watching from ${new Date(previous.watchEndedMs).toISOString()} to ${new Date(wall(now)).toISOString()}: ${how}; ` +
          `${gone.length} process(es) ended unseen, ${bornUnseen} started unseen${boot}`,
      };
      events.push(lost);
      if (this.store.previousRunCrashed) log(`procwatch daemon: previous run crashed; ${gone.length} process(es) closed as inferred, ${bornUnseen} found started`);
    }
    if (events.length > 0) this.store.enqueue(events, (key) => table.get(key), wall);
    this.store.flush();
  }

  /** Stops the source (unloading kernel programs), flushes and closes the store; also after a failed start. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearInterval(timer);
      // Rules first: what they queued is evaluated and their alerts stored before the store closes.
      try {
        await this.rules?.stop();
      } catch {
        // actions that cannot finish must not keep the source loaded or the store open
      }
      this.resources?.stop();
      if (this.retentionTimer !== null) clearTimeout(this.retentionTimer);
      // The exporter reads the store: it ends before the file closes (what it did not send stays there).
      try {
        await this.exporter?.stop();
      } catch {
        // nothing it could not send is lost: the cursor is in the store
      }
      let failure: unknown = null;
      try {
        await this.tracker.stop();
      } catch (err) {
        failure = err;
      }
      try {
        this.store.close();
      } catch (err) {
        failure ??= err;
      }
      if (failure !== null) throw failure;
    })();
    return this.stopping;
  }
}
