/**
 * The daemon's resource sampler (issue 12): a snapshot every `intervalMs` (and on demand),
 * CPU % from the deltas of each process instance's own samples (a pid reused by a new
 * instance starts over, never inherits the old one's CPU), the processes that started and
 * ended between refreshes (with the CPU of those accounted at their end), and the coarse
 * history written to the store. One small public interface; the API and the metrics read it.
 */

import type { AcctEvent, ProcEvent } from '../events/types.js';
import { readHost, type HostFigures } from '../procfs/host.js';
import type { Clock } from '../table/index.js';
import { ChurnLog, type Churn } from './churn.js';
import { sampleOf } from './proc.js';
import type { ResourceSample, Snapshot, SnapshotSource } from './types.js';

/** A sample with what the deltas and the table add. */
export interface ResourceProcess extends ResourceSample {
  /** % of one CPU since this instance's previous sample (or since it started, when after that); null: no earlier sample. */
  cpuPct: number | null;
  /** Resident memory as % of MemTotal. */
  memPct: number | null;
}

/** One refresh as `/v1/resources` serves it. */
export interface ResourceView {
  snapshot: Snapshot;
  /** ns between this snapshot and the one its CPU % was computed against; null for the first. */
  intervalNs: number | null;
  host: HostFigures;
  processes: ResourceProcess[];
  /** Live processes the snapshot source did not list, read from /proc instead (see README). */
  completedFromProc: number;
}

/** What the sampler needs of the live table: its instances, to complete a snapshot that missed some. */
export interface LiveProcesses {
  forEach(visit: (pid: number, key: string) => void): void;
}

export type { Churn } from './churn.js';

/** Live processes read from /proc per snapshot at most, when the snapshot source missed them. */
const COMPLETE_MAX = 256;

export interface SamplerOptions {
  source: SnapshotSource;
  intervalMs: number;
  clock: Clock;
  live?: LiveProcesses;
  /** Names for pids, for churn entries (the table's comm). */
  commOf?: (key: string) => string | null;
  onView?: (view: ResourceView) => void;
  onError?: (message: string) => void;
}

export class ResourceSampler {
  private latestView: ResourceView | null = null;
  /** Each instance's CPU time at the previous snapshot, and the snapshot that last listed it (kept, not rebuilt). */
  private readonly previous = new Map<string, { cpuNs: number; gen: number }>();
  private gen = 0;
  private previousMonoNs: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<ResourceView> | null = null;
  private stopped = false;
  private readonly churn = new ChurnLog();
  /** The churn cursor at the latest two snapshots: by default, a window starts at the earlier. */
  private churnAtViews: [number, number] = [0, 0];
  readonly stats = { snapshots: 0, failures: 0, completedFromProc: 0, lastTookMs: 0, lastCpuMs: 0, totalCpuMs: 0 };

  constructor(private readonly options: SamplerOptions) {}

  get sourceName(): string {
    return this.options.source.name;
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.refresh().catch(() => undefined).finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.options.intervalMs);
      });
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.options.source.close();
  }

  latest(): ResourceView | null {
    return this.latestView;
  }

  /** A new snapshot now (one at a time: a caller during a refresh gets that refresh's). */
  refresh(): Promise<ResourceView> {
    this.inFlight ??= this.take().finally(() => { this.inFlight = null; });
    return this.inFlight;
  }

  private async take(): Promise<ResourceView> {
    let snapshot: Snapshot;
    try {
      snapshot = await this.options.source.take();
    } catch (err) {
      this.stats.failures++;
      const message = `resource snapshot (${this.options.source.name}) failed: ${(err as Error).message}`;
      this.options.onError?.(message);
      throw new Error(message);
    }
    const view = this.derive(snapshot, readHost());
    view.completedFromProc = this.complete(view);
    // Instances neither listed nor completed are gone: forget their CPU time.
    for (const [key, was] of this.previous) if (was.gen !== this.gen) this.previous.delete(key);
    this.previousMonoNs = snapshot.monoNs;
    this.latestView = view;
    this.churnAtViews = [this.churnAtViews[1], this.churn.cursor];
    this.stats.snapshots++;
    this.stats.lastTookMs = snapshot.tookMs;
    this.stats.lastCpuMs = snapshot.cpuMs;
    this.stats.totalCpuMs += snapshot.cpuMs;
    this.options.onView?.(view);
    return view;
  }

  /**
   * Live processes of the table that the snapshot did not list (the task iterator of some
   * kernels does not show pid 1), read from /proc so that no live process is left out.
   */
  private complete(view: ResourceView): number {
    const live = this.options.live;
    if (live === undefined || view.snapshot.source === 'proc') return 0;
    const listed = this.previous;
    const gen = this.gen;
    let added = 0;
    live.forEach((pid, key) => {
      if (listed.get(key)?.gen === gen || added >= COMPLETE_MAX) return;
      // Not every thread's status at every snapshot (pid 1 here has 18): its switches stay unknown.
      const s = sampleOf(pid, '/proc', false, false) as ResourceProcess | null;
      if (s === null || s.key !== key) return; // gone, or another instance already
      this.annotate(s, view.intervalNs, view.host.memTotalBytes, gen);
      view.processes.push(s);
      added++;
    });
    this.stats.completedFromProc += added;
    return added;
  }

  private derive(snapshot: Snapshot, host: HostFigures): ResourceView {
    const sinceNs = this.previousMonoNs === null ? null : snapshot.monoNs - this.previousMonoNs;
    const gen = ++this.gen;
    // The samples become the view's processes in place: no copy of 20,000 objects per snapshot.
    const processes = snapshot.samples as ResourceProcess[];
    const memTotal = host.memTotalBytes;
    for (const p of processes) this.annotate(p, sinceNs, memTotal, gen);
    return { snapshot, intervalNs: sinceNs, host, processes, completedFromProc: 0 };
  }

  /** CPU % against the instance's own previous sample (or its birth in the interval), memory %; remembers its CPU. */
  private annotate(p: ResourceProcess, sinceNs: number | null, memTotal: number | null, gen: number): void {
    const was = this.previous.get(p.key);
    let cpuPct: number | null = null;
    if (sinceNs !== null && sinceNs > 0) {
      if (was !== undefined) cpuPct = Math.max(0, ((p.cpuNs - was.cpuNs) / sinceNs) * 100);
      // Born since the last snapshot: all its CPU is this interval's.
      else if (this.options.clock.startTicksToNs(p.startTicks) >= this.previousMonoNs!) cpuPct = (p.cpuNs / sinceNs) * 100;
    }
    if (was === undefined) this.previous.set(p.key, { cpuNs: p.cpuNs, gen });
    else {
      was.cpuNs = p.cpuNs;
      was.gen = gen;
    }
    p.cpuPct = cpuPct;
    p.memPct = memTotal === null || p.rssBytes === null ? null : (p.rssBytes / memTotal) * 100;
  }

  // ---- churn: what started and ended between two refreshes ------------------------------------

  /** Feed of released events (the daemon's stream): starts, ends and accounting. */
  observe(events: readonly ProcEvent[]): void {
    for (const e of events) {
      if (e.key == null) continue;
      if ((e.kind === 'fork' && !e.thread) || e.kind === 'inferred_start') this.churn.start();
      else if (e.kind === 'exit' || e.kind === 'inferred_exit') this.churn.end(e.key);
      else if (e.kind === 'acct') this.churn.accounted(e.key, e.pid, this.options.commOf?.(e.key) ?? null, (e as AcctEvent).usage.cpuSeconds);
    }
  }

  /**
   * Starts, ends and the CPU of processes accounted after cursor `after` (0: all kept); without
   * `after`, between the latest two snapshots (what a refresh of the latest view has not shown).
   */
  churnSince(after?: number): Churn {
    return this.churn.since(after ?? this.churnAtViews[0]);
  }
}
