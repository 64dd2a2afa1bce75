/**
 * Wires one source to the table: batches go into the reorder buffer, come out in kernel-time
 * order, update the table, and reach the listener with their process keys. A `lost` event
 * triggers a resync from /proc whose findings are `inferred` events. The intake path only
 * buffers: sorting, table updates and resync happen on the release timer.
 */

import { ProcReader } from '../procfs/index.js';
import type { ProcEvent } from '../events/types.js';
import type { EventSource, ProblemSink, SourceCounters, SourceProblem } from '../sources/source.js';
import { ReorderBuffer, type ReorderCounters } from './reorder.js';
import { ProcessTable, type TableCounters } from './table.js';
import { Clock } from './clock.js';
import { CgroupPaths } from '../procfs/cgroup.js';

/**
 * Releases come at least this far apart: in a storm the oldest held event falls due every
 * few hundred microseconds, and a release per due event cost a timer, a sort, a table pass and
 * a write for a handful of events each (BENCHMARKS.md, "The event path: fewer, larger
 * releases and reads").
 */
const MIN_RELEASE_GAP_MS = 10;

export interface TrackerOptions {
  source: EventSource;
  procRoot?: string;
  /** How long events wait for stragglers from other CPUs (default 20 ms). */
  holdMs?: number;
  maxExited?: number;
  /** Receives released events, in order, with keys set. */
  onEvents: (events: ProcEvent[]) => void;
  /**
   * Hears the source's problems, one line each: reader errors it survived (`fatal` false),
   * or its end (`fatal` true: its reader died, nothing more will come; a `lost` event naming
   * the failure is on its way through onEvents). A fatal one is also kept in `failure`.
   */
  onProblem?: ProblemSink;
  /**
   * How often live processes are checked against /proc's pid list (default 30 s; 0: never).
   * A process gone for two checks in a row ended without an exit event: it is closed as
   * `inferred`. Without this, a zombie reaped before we listened stayed live forever.
   */
  sweepMs?: number;
}

export interface TrackerCounters {
  source: SourceCounters;
  reorder: ReorderCounters;
  table: TableCounters;
  released: number;
}

export class ProcessTracker {
  readonly table: ProcessTable;
  readonly clock: Clock;
  private readonly reader: ProcReader;
  private readonly reorder: ReorderBuffer;
  private readonly cgroups = new CgroupPaths();
  /** The release timer: armed only while events wait, so an idle daemon never wakes up. */
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private seq = 0;
  private released = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Live keys /proc did not list at the previous sweep. */
  private missing: ReadonlySet<string> = new Set();
  /** The source's fatal problem, once it had one. */
  failure: SourceProblem | null = null;

  constructor(private readonly options: TrackerOptions) {
    this.reader = new ProcReader(options.procRoot ?? '/proc');
    this.clock = new Clock(this.reader);
    this.table = new ProcessTable({
      maxExited: options.maxExited,
      clock: this.clock,
      startTicksOf: (pid) => this.reader.stat(pid)?.startTicks ?? null,
      // Only the proc connector reports each thread's exit; eBPF reports a process's end once.
      threadExits: options.source.name === 'netlink',
      // The eBPF source reports an exec's cgroup as an id: its path (unit, container) is looked up.
      cgroupPathOf: (id) => this.cgroups.pathOf(id),
      cgroupOfPid: (pid, startTicks) => {
        const cgroup = this.reader.cgroup(pid);
        return cgroup !== null && this.reader.stat(pid)?.startTicks === startTicks ? cgroup : null;
      },
      threadsOf: (pid) => {
        const stat = this.reader.stat(pid);
        return stat === null ? null : { startTicks: stat.startTicks, threads: stat.numThreads };
      },
    });
    this.reorder = new ReorderBuffer((options.holdMs ?? 20) * 1e6);
  }

  async start(): Promise<void> {
    // Subscribe first, then seed: a process born in between shows up in both, and the table
    // treats the second sighting of the same (pid, start time) as the same process.
    this.running = true;
    await this.options.source.start((batch) => { this.reorder.push(batch); this.arm(); }, (problem) => {
      if (problem.fatal) this.failure = problem;
      this.options.onProblem?.(problem);
    });
    this.table.seed(this.reader);
    const sweepMs = this.options.sweepMs ?? 30_000;
    if (sweepMs > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
      this.sweepTimer.unref();
    }
  }

  /** One check of the live table against /proc's pid list (see TrackerOptions.sweepMs). */
  sweep(): void {
    if (!this.running) return;
    let present: Set<number>;
    try {
      present = new Set(this.reader.listPids());
    } catch {
      return; // /proc unreadable now: the source reports that itself
    }
    const { events, missing } = this.table.vanished(present, this.missing, this.clock.nowNs());
    this.missing = missing;
    if (events.length === 0) return;
    // Through the reorder window like every event: after anything older still held.
    this.reorder.push(events);
    this.arm();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.options.source.stop();
    this.flush(Infinity);
  }

  counters(): TrackerCounters {
    return { source: this.options.source.counters(), reorder: this.reorder.counters(), table: this.table.counters(), released: this.released };
  }

  /** Sets the timer for when the oldest waiting event falls due (one timer per batch of arrivals). */
  private arm(): void {
    if (this.timer !== null || !this.running) return;
    const dueNs = this.reorder.nextDueNs();
    if (dueNs === null) return;
    const waitMs = Math.max(MIN_RELEASE_GAP_MS, Math.ceil((dueNs - this.clock.nowNs()) / 1e6));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush(this.clock.nowNs());
      this.arm();
    }, waitMs);
  }

  private flush(nowNs: number): void {
    const due = nowNs === Infinity ? this.reorder.drain() : this.reorder.release(nowNs);
    if (due.length === 0) return;
    this.table.apply(due);
    let out = due;
    if (this.table.needsResync) out = [...due, ...this.table.resync(this.reader, this.clock.nowNs(), () => 0)];
    for (const event of out) event.seq = ++this.seq;
    this.released += out.length;
    this.options.onEvents(out);
  }
}
