/**
 * The fallback source: scans /proc at an interval and reports what changed. It needs no
 * privilege and no kernel feature, and it sees much less: processes that live shorter than
 * the interval are invisible, exit codes are unknown, and times are when the scan noticed.
 * Everything it reports is therefore `inferred`, never `observed`.
 */

import { ProcReader, readDetails } from '../procfs/index.js';
import type { ProcEvent } from '../events/types.js';
import type { BatchSink, EventSource, SourceCounters } from './source.js';

export interface PollOptions {
  procRoot?: string;
  intervalMs?: number;
}

interface Known {
  startTicks: number;
  comm: string;
}

export class PollSource implements EventSource {
  readonly name = 'poll' as const;
  readonly limitations: string;
  private readonly reader: ProcReader;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private known = new Map<number, Known>();
  private seq = 0;
  private scans = 0;
  private readonly stats: SourceCounters = { events: 0, batches: 0, lost: 0, malformed: 0 };

  constructor(options: PollOptions = {}) {
    this.reader = new ProcReader(options.procRoot ?? '/proc');
    this.intervalMs = options.intervalMs ?? 1000;
    this.limitations = `polling /proc every ${this.intervalMs} ms: processes shorter than that are not seen, ` +
      'exit codes, forks, uid/gid/sid changes and ptrace are not seen, times are approximate';
  }

  async start(sink: BatchSink): Promise<void> {
    if (this.timer !== null) throw new Error('poll source already started');
    this.scan(); // the first scan only learns what exists: the table seeds itself from /proc
    this.timer = setInterval(() => {
      const batch = this.scan();
      if (batch.length > 0) {
        this.stats.batches++;
        this.stats.events += batch.length;
        sink(batch);
      }
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  counters(): SourceCounters {
    return { ...this.stats, scans: this.scans };
  }

  private base(pid: number, ktimeNs: number) {
    return { seq: ++this.seq, ktimeNs, pid, tid: pid, cpu: -1, provenance: 'inferred' as const };
  }

  /** One pass over /proc; returns the differences from the previous pass. */
  private scan(): ProcEvent[] {
    const first = this.scans++ === 0;
    const now = Number(process.hrtime.bigint());
    const seen = new Map<number, Known>();
    const batch: ProcEvent[] = [];
    for (const pid of this.reader.listPids()) {
      const stat = this.reader.stat(pid);
      if (stat === null) continue;
      seen.set(pid, { startTicks: stat.startTicks, comm: stat.comm });
      if (first) continue;
      const before = this.known.get(pid);
      if (before !== undefined && before.startTicks === stat.startTicks) {
        // Kernel worker threads rename themselves per work item: that is noise, not an event.
        if (before.comm !== stat.comm && stat.ppid !== 2 && pid !== 2) batch.push({ ...this.base(pid, now), kind: 'comm', comm: stat.comm });
        continue;
      }
      if (before !== undefined) batch.push({ ...this.base(pid, now), kind: 'inferred_exit', startTicks: before.startTicks });
      const details = readDetails(this.reader, pid);
      if (details !== null) batch.push({ ...this.base(pid, now), kind: 'inferred_start', details });
    }
    for (const [pid, before] of this.known) {
      if (!seen.has(pid)) batch.push({ ...this.base(pid, now), kind: 'inferred_exit', startTicks: before.startTicks });
    }
    this.known = seen;
    return batch;
  }
}
