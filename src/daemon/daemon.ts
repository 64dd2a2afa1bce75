/**
 * The daemon: one source → reorder → table → store / API followers / metrics.
 * Starting it also reconciles the store with /proc: processes the store thought alive but
 * which are gone are closed as `inferred`, and the time the daemon was not watching is
 * recorded as a `lost` event (never a silent gap).
 */

import { readFileSync } from 'node:fs';
import type { ProcEvent } from '../events/types.js';
import { chooseSource } from '../sources/index.js';
import { ProcessTracker } from '../table/index.js';
import { EventStore, applyRetention } from '../store/index.js';
import type { DaemonConfig } from '../config/daemon.js';

export type EventListener = (events: readonly ProcEvent[]) => void;

export interface DaemonStatus {
  source: string;
  sourceWhy: string;
  startedMs: number;
  bootId: string;
}

export function readBootId(procRoot = '/proc'): string {
  try {
    return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

export class Daemon {
  readonly tracker: ProcessTracker;
  readonly store: EventStore;
  readonly status: DaemonStatus;
  private readonly listeners = new Set<EventListener>();
  private timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | null = null;
  retentionRuns = 0;
  retentionDeleted = 0;

  private constructor(readonly config: DaemonConfig, tracker: ProcessTracker, store: EventStore, status: DaemonStatus) {
    this.tracker = tracker;
    this.store = store;
    this.status = status;
  }

  /** Opens the store, picks the source and starts watching. Throws a one-line error if it cannot. */
  static async start(config: DaemonConfig, log: (line: string) => void): Promise<Daemon> {
    const bootId = readBootId();
    const { source, why } = await chooseSource(config.source, { rcvbufBytes: config.rcvbufBytes, pollIntervalMs: config.pollIntervalMs, ebpf: config.ebpf });
    const store = new EventStore({ path: config.database, bootId, source: source.name, maxQueue: config.maxQueue });
    let daemon: Daemon | null = null;
    const tracker = new ProcessTracker({
      source,
      holdMs: config.holdMs,
      maxExited: config.maxExited,
      onEvents: (events) => daemon?.deliver(events),
    });
    daemon = new Daemon(config, tracker, store, { source: source.name, sourceWhy: why, startedMs: Date.now(), bootId });
    log(`procwatch daemon: source ${why}${source.limitations ? ` (${source.limitations})` : ''}`);
    await tracker.start();
    daemon.reconcile(log);
    daemon.timers.push(setInterval(() => daemon!.flush(log), config.flushIntervalMs));
    daemon.timers.push(setInterval(() => daemon!.retention(log), 60_000));
    daemon.retention(log);
    return daemon;
  }

  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(events: ProcEvent[]): void {
    const table = this.tracker.table;
    this.store.enqueue(events, (key) => table.get(key), (ns) => this.tracker.clock.wallMs(ns));
    for (const listener of this.listeners) listener(events);
  }

  private flush(log: (line: string) => void): void {
    try {
      this.store.flush();
    } catch (err) {
      log(`procwatch daemon: store write failed, will retry: ${(err as Error).message}`);
    }
  }

  private retention(log: (line: string) => void): void {
    try {
      const r = applyRetention(this.store.db, { maxAgeMs: this.config.retentionMaxAgeMs, maxBytes: this.config.retentionMaxBytes });
      this.retentionRuns++;
      this.retentionDeleted += r.eventsDeleted;
    } catch (err) {
      log(`procwatch daemon: retention failed: ${(err as Error).message}`);
    }
  }

  /** Brings the store in line with what the table found in /proc at start. */
  private reconcile(log: (line: string) => void): void {
    const { table, clock } = this.tracker;
    const now = clock.nowNs();
    const wall = (ns: number): number => clock.wallMs(ns);
    for (const record of table.live.values()) this.store.enqueueRecord(record, wall);
    const gone = this.store.openProcesses().filter((p) => table.live.get(p.pid)?.key !== p.key);
    this.store.closeProcesses(gone.map((p) => p.key), Date.now());
    const events: ProcEvent[] = gone.map((p, i) => ({
      seq: -(i + 1), ktimeNs: now, pid: p.pid, tid: p.pid, cpu: -1, provenance: 'inferred', kind: 'inferred_exit', startTicks: p.start_ticks, key: p.key,
    }));
    const last = this.store.previousRunLastEventMs;
    if (last !== null) {
      const how = this.store.previousRunCrashed ? 'the previous daemon run did not stop cleanly' : 'the daemon was stopped';
      events.push({
        seq: 0, ktimeNs: now, pid: 0, tid: 0, cpu: -1, provenance: 'observed', kind: 'lost', count: null,
        reason: `not watching from ${new Date(last).toISOString()} to ${new Date().toISOString()}: ${how}; ${gone.length} process(es) ended unseen`,
      });
      if (this.store.previousRunCrashed) log(`procwatch daemon: previous run crashed; ${gone.length} process(es) closed as inferred`);
    }
    if (events.length > 0) this.store.enqueue(events, () => undefined, wall);
    this.store.flush();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearInterval(timer);
      await this.tracker.stop();
      this.store.close();
    })();
    return this.stopping;
  }
}
