/**
 * The daemon's resources room (issue 12): the sampler, its history in the store, and the
 * process groups, wired to the live table. The daemon starts it, feeds it the released events,
 * gives it a share of each retention step, and stops it; the API and /metrics read it.
 */

import type { ProcEvent } from '../events/types.js';
import { UserDb } from '../procfs/index.js';
import type { ResourcesConfig } from '../config/resources.js';
import type { EventStore } from '../store/index.js';
import { ResourceHistory, applySampleRetention } from '../store/resources.js';
import type { Clock, ProcessRecord, ProcessTable } from '../table/index.js';
import { ProcessGroups, subjectName, type GroupSubject } from './groups.js';
import { HistoryRecorder } from './history.js';
import { openSnapshotSource } from './index.js';
import { ResourceSampler } from './sampler.js';

export interface ResourceDeps {
  table: ProcessTable;
  clock: Clock;
  store: EventStore;
  log: (line: string) => void;
}

/** Errors of the sampler are logged at most this often (a failing source would say it every 2 s). */
const LOG_EVERY_MS = 60_000;

export class ResourceService {
  readonly sampler: ResourceSampler;
  readonly groups: ProcessGroups;
  readonly history: ResourceHistory;
  readonly recorder: HistoryRecorder;
  readonly why: string;
  private lastLogMs = 0;
  /** Rows the history retention deleted, and history writes that failed. */
  readonly stats = { historyDeleted: 0, historyFailures: 0 };
  /** Released events seen, and the rate between the last two snapshots. */
  private eventsSeen = 0;
  private eventsAt: { monoNs: number; count: number } | null = null;
  eventsPerSecond: number | null = null;

  private constructor(readonly config: ResourcesConfig, private readonly deps: ResourceDeps) {
    const { source, why } = openSnapshotSource(config.source === 'off' ? 'auto' : config.source);
    this.why = why;
    const { table, clock, store } = deps;
    this.history = new ResourceHistory(store.db, store.boot);
    this.recorder = new HistoryRecorder(this.history, {
      intervalMs: config.historyIntervalMs, keyframeMs: config.historyKeyframeMs, maxRowsPerMinute: config.historyMaxRowsPerMinute,
    });
    const users = new UserDb();
    this.groups = new ProcessGroups({
      groups: config.groups, maxGroups: config.maxGroups, users,
      subjectOf: (key) => subjectOf(table, key),
      startNsOf: (ticks) => clock.startTicksToNs(ticks),
      startWallMs: (ticks) => clock.wallMs(clock.startTicksToNs(ticks)),
    });
    this.sampler = new ResourceSampler({
      source, intervalMs: config.intervalMs, clock,
      live: { forEach: (visit) => { for (const [pid, r] of table.live) visit(pid, r.key); } },
      commOf: (key) => table.get(key)?.comm ?? null,
      onView: (view) => {
        const was = this.eventsAt;
        const now = { monoNs: view.snapshot.monoNs, count: this.eventsSeen };
        if (was !== null && now.monoNs > was.monoNs) this.eventsPerSecond = ((now.count - was.count) * 1e9) / (now.monoNs - was.monoNs);
        this.eventsAt = now;
        this.groups.update(view);
        try {
          this.recorder.consider(view);
        } catch (err) {
          this.stats.historyFailures++;
          this.logLimited(`resource history write failed: ${(err as Error).message}`);
        }
      },
      onError: (message) => this.logLimited(message),
    });
  }

  /**
   * Null when daemon.resources.source is off. Throws (one line) when `ebpf` was asked for and
   * cannot load. Loading the task iterator takes the kernel's verifier a few hundred ms on this
   * thread: the daemon does it before its event source runs, so no events wait meanwhile.
   */
  static create(config: ResourcesConfig, deps: ResourceDeps): ResourceService | null {
    return config.source === 'off' ? null : new ResourceService(config, deps);
  }

  /** Takes the first snapshot now and then one every interval. */
  start(): void {
    this.deps.log(`procwatch daemon: resource snapshots by ${this.why}, every ${this.config.intervalMs} ms`);
    this.sampler.start();
  }

  observe(events: readonly ProcEvent[]): void {
    this.eventsSeen += events.length;
    this.sampler.observe(events);
    this.groups.observe(events);
  }

  /** One bounded retention step of the samples; true when done. */
  retention(nowMs: number, budgetRows: number): boolean {
    const r = applySampleRetention(this.deps.store.db, this.config.historyMaxAgeMs, nowMs, budgetRows);
    this.stats.historyDeleted += r.deleted;
    return r.done;
  }

  /** Released events seen since start. */
  get eventsTotal(): number {
    return this.eventsSeen;
  }

  stop(): void {
    this.sampler.stop();
  }

  private logLimited(line: string): void {
    const now = Date.now();
    if (now - this.lastLogMs < LOG_EVERY_MS) return;
    this.lastLogMs = now;
    this.deps.log(`procwatch daemon: ${line}`);
  }
}

/** What group selectors see of an instance the table knows. */
export function subjectOf(table: ProcessTable, key: string): GroupSubject | null {
  const r: ProcessRecord | undefined = table.get(key);
  if (r === undefined) return null;
  const parent = r.parentKey === null ? undefined : table.get(r.parentKey);
  return {
    key, comm: r.comm, argv: r.argv, exe: r.exe, uids: r.uids, gids: r.gids, label: r.label, cgroup: r.cgroup, ppid: r.ppid,
    parentName: parent === undefined ? null : subjectName(parent), state: null, startTicks: r.startTicks,
  };
}
