/**
 * A point-in-time view of processes that checks evaluate. Only /proc/PID/stat is read
 * up front; status, argv, exe and label are read on first use and remembered, so a check
 * that needs only names pays for one file per process (procps reads by need too).
 */

import { ProcReader, CLOCK_TICKS_PER_SECOND, isKernelThread, type ProcStat, type ProcStatus } from '../procfs/index.js';

export class ProcessView {
  private cachedStatus: ProcStatus | null | undefined;
  private cachedArgv: string[] | null | undefined;
  private cachedExe: string | null | undefined;
  private cachedLabel: string | null | undefined;

  constructor(private readonly reader: ProcReader, readonly stat: ProcStat) {}

  get pid(): number { return this.stat.pid; }
  get ppid(): number { return this.stat.ppid; }
  get comm(): string { return this.stat.comm; }

  /** From the PF_KTHREAD flag: in a container, pid 2 and its children are ordinary processes. */
  get isKernelThread(): boolean { return isKernelThread(this.stat); }

  status(): ProcStatus | null { return this.cachedStatus === undefined ? (this.cachedStatus = this.reader.status(this.pid)) : this.cachedStatus; }
  argv(): string[] | null { return this.cachedArgv === undefined ? (this.cachedArgv = this.reader.argv(this.pid)) : this.cachedArgv; }
  exe(): string | null { return this.cachedExe === undefined ? (this.cachedExe = this.reader.exe(this.pid)) : this.cachedExe; }
  label(): string | null { return this.cachedLabel === undefined ? (this.cachedLabel = this.reader.label(this.pid)) : this.cachedLabel; }

  /** Total CPU time used so far, in seconds. */
  cpuSeconds(): number { return (this.stat.utime + this.stat.stime) / CLOCK_TICKS_PER_SECOND; }
}

export interface Snapshot {
  processes: ProcessView[];
  byPid: Map<number, ProcessView>;
  /** Seconds since boot when the snapshot was taken (for CPU use); null when /proc/uptime is unreadable. */
  uptimeSeconds: number | null;
  reader: ProcReader;
}

export interface SnapshotOptions {
  /** Pids left out, normally procwatch itself (check_procs leaves itself out too). */
  excludePids?: ReadonlySet<number>;
}

export function takeSnapshot(reader: ProcReader, options: SnapshotOptions = {}): Snapshot {
  const uptimeSeconds = reader.uptimeSeconds();
  const processes: ProcessView[] = [];
  const byPid = new Map<number, ProcessView>();
  for (const pid of reader.listPids()) {
    if (options.excludePids?.has(pid)) continue;
    const stat = reader.stat(pid);
    if (stat === null) continue; // vanished between readdir and read: not an error
    const view = new ProcessView(reader, stat);
    processes.push(view);
    byPid.set(pid, view);
  }
  return { processes, byPid, uptimeSeconds, reader };
}
