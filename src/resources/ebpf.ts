/**
 * Snapshots by eBPF task iterator: one read returns a record per task (record.h pw_task);
 * a process is the sum of its tasks' records, as the kernel sums them for /proc (the leader's
 * record carries what its ended threads left in the signal struct).
 */

import { loadBpfNative, type TaskIterHandle } from '../sources/bpf-native.js';
import { TASK_FLAG, decodeTasks } from '../sources/record.js';
import { CLOCK_TICKS_PER_SECOND } from '../procfs/index.js';
import type { ResourceSample, Snapshot, SnapshotSource } from './types.js';

const NS_PER_TICK = 1e9 / CLOCK_TICKS_PER_SECOND;
/** An rlimit at RLIM_INFINITY reads as 2^64 - 1: no number of fds. */
const NO_LIMIT = 2 ** 53;

/** The user/system split of an exact runtime in the sampled ticks' proportion (the kernel's cputime_adjust). */
export function splitCpu(runtimeNs: number, utimeNs: number, stimeNs: number): { userNs: number; systemNs: number } {
  if (stimeNs === 0) return { userNs: runtimeNs, systemNs: 0 };
  if (utimeNs === 0) return { userNs: 0, systemNs: runtimeNs };
  const systemNs = Math.round((stimeNs / (stimeNs + utimeNs)) * runtimeNs);
  return { userNs: runtimeNs - systemNs, systemNs };
}

interface Acc {
  leader: boolean;
  sample: ResourceSample;
  runtime: number;
  utime: number;
  stime: number;
}

export class EbpfSnapshotSource implements SnapshotSource {
  readonly name = 'ebpf' as const;
  private readonly pageSize: number;

  private constructor(private readonly handle: TaskIterHandle, pageSize: number) {
    this.pageSize = pageSize;
  }

  /** Loads the task iterator; throws an Error saying why it cannot (no addon, no BPF, an old kernel). */
  static open(): EbpfSnapshotSource {
    const bpf = loadBpfNative();
    if (!bpf.available) throw new Error(bpf.reason);
    const handle = bpf.addon.openTasks();
    return new EbpfSnapshotSource(handle, bpf.addon.taskLayout().pageSize ?? 4096);
  }

  async take(): Promise<Snapshot> {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const buf = await this.handle.read();
    const monoNs = Number(process.hrtime.bigint());
    const wallMs = Date.now();
    const samples = this.aggregate(buf);
    const cpu = process.cpuUsage(cpu0);
    // The kernel's walk ran on a pool thread of this process: its CPU is in cpuUsage too.
    return {
      source: 'ebpf', monoNs, wallMs, cpuResolution: 'ns', samples,
      tookMs: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000,
    };
  }

  private aggregate(buf: Buffer): ResourceSample[] {
    const { tasks } = decodeTasks(buf);
    const page = this.pageSize;
    const byPid = new Map<number, Acc>();
    for (const t of tasks) {
      let acc = byPid.get(t.tgid);
      if (acc === undefined) {
        acc = { leader: false, runtime: 0, utime: 0, stime: 0, sample: emptySample(t.tgid) };
        byPid.set(t.tgid, acc);
      }
      const s = acc.sample;
      acc.runtime += t.runtimeNs;
      acc.utime += t.utimeNs;
      acc.stime += t.stimeNs;
      s.minorFaults! += t.minFlt;
      s.majorFaults! += t.majFlt;
      s.voluntarySwitches! += t.nvcsw;
      s.involuntarySwitches! += t.nivcsw;
      s.readChars! += t.rchar;
      s.writeChars! += t.wchar;
      s.readBytes! += t.readBytes;
      s.writeBytes! += t.writeBytes;
      if ((t.flags & TASK_FLAG.leader) !== 0) {
        acc.leader = true;
        const startTicks = Math.floor(t.startNs / NS_PER_TICK);
        s.key = `${t.tgid}:${startTicks}`;
        s.startTicks = startTicks;
        s.ppid = t.ppid;
        s.comm = t.comm;
        s.state = t.state === '?' ? null : t.state;
        s.uid = t.uid;
        s.euid = t.euid;
        s.threads = t.threads;
        s.fdLimit = t.fdLimit >= NO_LIMIT ? null : t.fdLimit;
        s.kernelThread = (t.flags & TASK_FLAG.kthread) !== 0;
        if (s.kernelThread) {
          s.vsizeBytes = s.rssBytes = s.rssAnonBytes = s.rssFileBytes = s.rssShmemBytes = s.swapBytes = 0;
        }
      }
      if ((t.flags & TASK_FLAG.mm) !== 0) {
        s.vsizeBytes = t.vmPages * page;
        s.rssAnonBytes = t.rssAnon * page;
        s.rssFileBytes = t.rssFile * page;
        s.rssShmemBytes = t.rssShmem * page;
        s.rssBytes = (t.rssAnon + t.rssFile + t.rssShmem) * page;
        s.swapBytes = t.swapEnts * page;
      }
      if ((t.flags & TASK_FLAG.files) !== 0) s.fds = t.fds;
    }
    const out: ResourceSample[] = [];
    for (const acc of byPid.values()) {
      // A process whose leader the walk missed (it raced an exit or an exec): not this snapshot's.
      if (!acc.leader) continue;
      const s = acc.sample;
      s.cpuNs = acc.runtime;
      const split = splitCpu(acc.runtime, acc.utime, acc.stime);
      s.userNs = split.userNs;
      s.systemNs = split.systemNs;
      out.push(s);
    }
    return out;
  }

  close(): void {
    this.handle.close();
  }
}

function emptySample(pid: number): ResourceSample {
  return {
    key: '', pid, ppid: null, startTicks: 0, comm: null, state: null, uid: null, euid: null, threads: null, kernelThread: false,
    cpuNs: 0, userNs: 0, systemNs: 0, minorFaults: 0, majorFaults: 0, voluntarySwitches: 0, involuntarySwitches: 0,
    readBytes: 0, writeBytes: 0, readChars: 0, writeChars: 0,
    vsizeBytes: null, rssBytes: null, rssAnonBytes: null, rssFileBytes: null, rssShmemBytes: null, swapBytes: null, fds: null, fdLimit: null,
  };
}
