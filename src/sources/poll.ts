/**
 * The fallback source: scans /proc at an interval and reports what changed. It needs no
 * privilege and no kernel feature, and it sees much less: processes that live shorter than
 * the interval are invisible, exit codes are unknown, and times are when the scan noticed.
 * Everything it reports is therefore `inferred`, never `observed`.
 */

import { isKernelThread, ProcReader, readDetails } from '../procfs/index.js';
import type { ProcEvent } from '../events/types.js';
import { ReaderWatch, type BatchSink, type EventSource, type ProblemSink, type SourceCounters } from './source.js';

export interface PollOptions {
  procRoot?: string;
  intervalMs?: number;
}

/** What one scan knew of a process instance: enough to notice a rename and a new image. */
interface Known {
  startTicks: number;
  comm: string;
  /** null for kernel threads (no image) and where unreadable. */
  exe: string | null;
  argv: string | null;
  /** Bottom of the stack: an exec makes a new one, a process rewriting its own title does not. */
  startStack: number | null;
}

/**
 * Whether a process of the same instance runs a new image. Reads that failed (null) prove
 * nothing. A new executable is an exec; so is a new stack, which is how a re-exec of the same
 * binary shows. A new command line on the old stack is a process rewriting its own title
 * (setproctitle: PostgreSQL, sshd), not an exec.
 */
function isNewImage(before: Known, now: Known): boolean {
  if (before.exe !== null && now.exe !== null && before.exe !== now.exe) return true;
  if (before.startStack !== null && now.startStack !== null) return before.startStack !== now.startStack;
  return before.argv !== null && now.argv !== null && before.argv !== now.argv;
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

  async start(sink: BatchSink, onProblem?: ProblemSink): Promise<void> {
    if (this.timer !== null) throw new Error('poll source already started');
    this.scan(); // the first scan only learns what exists: the table seeds itself from /proc
    const watch = new ReaderWatch('the /proc poller', sink, onProblem, () => this.seq, () => { this.stats.lost++; this.stats.events++; });
    this.timer = setInterval(() => {
      let batch: ProcEvent[];
      try {
        batch = this.scan();
      } catch (err) {
        // /proc went away (unmounted, a --proc-root removed): nothing more can be seen.
        void this.stop();
        watch.fail(err instanceof Error ? err.message : String(err));
        return;
      }
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
      // Kernel threads have no image; their names change per work item, which is noise.
      const kernel = isKernelThread(stat);
      const before = this.known.get(pid);
      const sameInstance = before !== undefined && before.startTicks === stat.startTicks;
      // A zombie has no exe and an empty command line: that is an ending, not a new image.
      if (sameInstance && (kernel || stat.state === 'Z' || stat.state === 'X')) {
        seen.set(pid, before);
        continue;
      }
      const argv = kernel ? null : this.reader.argv(pid);
      const current: Known = {
        startTicks: stat.startTicks, comm: stat.comm, exe: kernel ? null : this.reader.exe(pid),
        argv: argv === null ? null : argv.join('\0'), startStack: stat.startStack,
      };
      seen.set(pid, current);
      if (first) continue;
      if (sameInstance) {
        if (isNewImage(before, current)) {
          // Same instance, new image: an exec between two scans. Its details refresh the table.
          const details = readDetails(this.reader, pid);
          if (details !== null && details.startTicks === stat.startTicks) batch.push({ ...this.base(pid, now), kind: 'exec', details });
        } else if (before.comm !== stat.comm) {
          batch.push({ ...this.base(pid, now), kind: 'comm', comm: stat.comm });
        }
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
