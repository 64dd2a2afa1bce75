/**
 * Snapshots by reading /proc: for each process, the files its fields need (stat, status,
 * io, limits, the fd directory; each thread's status when it has several), as top and
 * process-exporter do. The fallback where the task iterator cannot load, and the reference
 * the iterator is tested against.
 */

import { CLOCK_TICKS_PER_SECOND, ProcReader, isKernelThread } from '../procfs/index.js';
import { readResources } from '../procfs/resources.js';
import type { ResourceSample, Snapshot, SnapshotSource } from './types.js';
import type { ResourceProcess } from './sampler.js';

const NS_PER_TICK = 1e9 / CLOCK_TICKS_PER_SECOND;

export class ProcSnapshotSource implements SnapshotSource {
  readonly name = 'proc' as const;
  private readonly reader: ProcReader;

  /** `lean`: only stat and status (CPU, memory, state, threads, ids): I/O, fds and limits stay unknown. */
  constructor(readonly root = '/proc', private readonly options: { lean?: boolean } = {}) {
    this.reader = new ProcReader(root);
  }

  take(): Promise<Snapshot> {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const samples: ResourceSample[] = [];
    for (const pid of this.reader.listPids()) {
      const s = sampleOf(pid, this.root, this.options.lean === true);
      if (s !== null) samples.push(s);
    }
    const cpu = process.cpuUsage(cpu0);
    const now = process.hrtime.bigint();
    return Promise.resolve({
      source: 'proc', monoNs: Number(now), wallMs: Date.now(), cpuResolution: 'tick', samples,
      tookMs: Number(now - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000,
    });
  }

  close(): void {
    // nothing held
  }
}

/** One process from its /proc files; null when it is gone (or its stat unreadable). */
export function sampleOf(pid: number, root = '/proc', lean = false, threadSwitches = true): ResourceSample | null {
  const r = readResources(pid, root, lean, threadSwitches);
  if (r === null) return null;
  const { stat, status, io } = r;
  const kernelThread = isKernelThread(stat);
  const rss = status?.rssAnonBytes != null && status.rssFileBytes != null && status.rssShmemBytes != null
    ? status.rssAnonBytes + status.rssFileBytes + status.rssShmemBytes : null;
  const sample: ResourceProcess = {
    cpuPct: null, memPct: null, // filled in place by the sampler
    key: `${pid}:${stat.startTicks}`, pid, ppid: stat.ppid, startTicks: stat.startTicks, comm: stat.comm, state: stat.state,
    uid: status?.uid ?? null, euid: status?.euid ?? null, threads: stat.numThreads, kernelThread,
    userNs: stat.utime * NS_PER_TICK, systemNs: stat.stime * NS_PER_TICK, cpuNs: (stat.utime + stat.stime) * NS_PER_TICK,
    minorFaults: stat.minFlt, majorFaults: stat.majFlt,
    voluntarySwitches: status?.voluntarySwitches ?? null, involuntarySwitches: status?.involuntarySwitches ?? null,
    readBytes: io?.readBytes ?? null, writeBytes: io?.writeBytes ?? null, readChars: io?.readChars ?? null, writeChars: io?.writeChars ?? null,
    // A kernel thread has no address space: status has no Vm/Rss lines.
    vsizeBytes: kernelThread ? 0 : status?.vsizeBytes ?? null,
    rssBytes: kernelThread ? 0 : rss,
    rssAnonBytes: kernelThread ? 0 : status?.rssAnonBytes ?? null,
    rssFileBytes: kernelThread ? 0 : status?.rssFileBytes ?? null,
    rssShmemBytes: kernelThread ? 0 : status?.rssShmemBytes ?? null,
    swapBytes: kernelThread ? 0 : status?.swapBytes ?? null,
    // A zombie's file table is gone (its fd directory lists nothing); a kernel thread has none of its own.
    fds: kernelThread || stat.state === 'Z' || stat.state === 'X' ? null : r.fds,
    fdLimit: r.fdLimit,
  };
  return sample;
}
