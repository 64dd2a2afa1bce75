/**
 * Snapshots by eBPF task iterator: one read returns a record per task (record.h pw_task);
 * a process is the sum of its tasks' records, as the kernel sums them for /proc (the leader's
 * record carries what its ended threads left in the signal struct).
 */

import { loadBpfNative, type TaskIterHandle } from '../sources/bpf-native.js';
import { TASK, TASK_FLAG, TaskReader } from '../sources/record.js';
import { CLOCK_TICKS_PER_SECOND } from '../procfs/index.js';
import type { ResourceSample, Snapshot, SnapshotSource } from './types.js';
import type { ResourceProcess } from './sampler.js';

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

/**
 * A process's sample with the walk's own two marks: the snapshot that last listed one of its
 * tasks, and the one that last listed its leader. On the sample itself, not in a second object
 * per process (one was ~1 MiB at 10,000 processes); outputs name the fields they show, so these
 * are never shown. While a walk sums the tasks, cpuNs, userNs and systemNs hold the sums of
 * the exact runtime and of the sampled user and system time (see aggregate).
 */
interface TaskSums extends ResourceProcess {
  listed: number;
  leaderListed: number;
}

export class EbpfSnapshotSource implements SnapshotSource {
  readonly name = 'ebpf' as const;
  private readonly pageSize: number;
  private readonly byPid = new Map<number, TaskSums>();
  private gen = 0;
  /** Where the walks land, reused (grown when the tasks outgrow it). */
  private buffer = Buffer.alloc(256 * 1024);

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
    let bytes = await this.handle.readInto(this.buffer);
    if (bytes > this.buffer.length) {
      this.buffer = Buffer.alloc(Math.ceil((bytes * 1.25) / 4096) * 4096);
      bytes = this.handle.copyLast(this.buffer);
    }
    const buf = this.buffer.subarray(0, bytes);
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

  /**
   * Sums each process's tasks. The per-process objects are kept and updated in place from one
   * snapshot to the next (a new object only for a new instance: a new pid, or a pid reused):
   * 20,000 new objects every 2 s were most of the daemon's garbage collection. A snapshot's
   * samples are therefore valid until the next snapshot is taken.
   */
  private aggregate(buf: Buffer): ResourceSample[] {
    const t = new TaskReader(buf);
    const page = this.pageSize;
    const byPid = this.byPid;
    const gen = ++this.gen;
    for (let i = 0; i < t.count; i++) {
      const tgid = t.i32At(i, TASK.tgid);
      let s = byPid.get(tgid);
      if (s === undefined) {
        s = emptySample(tgid);
        byPid.set(tgid, s);
      }
      if (s.listed !== gen) {
        // First task of this process in this snapshot: the sums start over.
        s.listed = gen;
        s.cpuNs = s.userNs = s.systemNs = 0;
        s.minorFaults = s.majorFaults = s.voluntarySwitches = s.involuntarySwitches = 0;
        s.readChars = s.writeChars = s.readBytes = s.writeBytes = 0;
        // Unknown unless a task of this snapshot says (a zombie has neither memory nor files).
        s.fds = null;
        s.vsizeBytes = s.rssBytes = s.rssAnonBytes = s.rssFileBytes = s.rssShmemBytes = s.swapBytes = null;
      }
      const flags = t.u32At(i, TASK.flags);
      if ((flags & TASK_FLAG.leader) !== 0) {
        const startTicks = Math.floor(t.u64At(i, TASK.startNs) / NS_PER_TICK);
        if (s.startTicks !== startTicks || s.key === '') {
          s = this.rebirth(s, tgid, startTicks);
          byPid.set(tgid, s);
        }
        s.leaderListed = gen;
        s.ppid = t.i32At(i, TASK.ppid);
        if (s.comm === null || !t.commIs(i, s.comm)) s.comm = t.comm(i);
        const state = t.state(i);
        s.state = state === '?' ? null : state;
        s.uid = t.u32At(i, TASK.uid);
        s.euid = t.u32At(i, TASK.euid);
        s.threads = t.u32At(i, TASK.threads);
        const limit = t.u64At(i, TASK.fdLimit);
        s.fdLimit = limit >= NO_LIMIT ? null : limit;
        s.kernelThread = (flags & TASK_FLAG.kthread) !== 0;
        if (s.kernelThread) s.vsizeBytes = s.rssBytes = s.rssAnonBytes = s.rssFileBytes = s.rssShmemBytes = s.swapBytes = 0;
      }
      s.cpuNs += t.u64At(i, TASK.runtimeNs);
      s.userNs += t.u64At(i, TASK.utimeNs);
      s.systemNs += t.u64At(i, TASK.stimeNs);
      s.minorFaults! += t.u64At(i, TASK.minFlt);
      s.majorFaults! += t.u64At(i, TASK.majFlt);
      s.voluntarySwitches! += t.u64At(i, TASK.nvcsw);
      s.involuntarySwitches! += t.u64At(i, TASK.nivcsw);
      s.readChars! += t.u64At(i, TASK.rchar);
      s.writeChars! += t.u64At(i, TASK.wchar);
      s.readBytes! += t.u64At(i, TASK.readBytes);
      s.writeBytes! += t.u64At(i, TASK.writeBytes);
      if ((flags & TASK_FLAG.mm) !== 0) {
        const anon = t.u64At(i, TASK.rssAnon);
        const file = t.u64At(i, TASK.rssFile);
        const shmem = t.u64At(i, TASK.rssShmem);
        s.vsizeBytes = t.u64At(i, TASK.vmPages) * page;
        s.rssAnonBytes = anon * page;
        s.rssFileBytes = file * page;
        s.rssShmemBytes = shmem * page;
        s.rssBytes = (anon + file + shmem) * page;
        s.swapBytes = t.u64At(i, TASK.swapEnts) * page;
      }
      if ((flags & TASK_FLAG.files) !== 0) s.fds = t.u64At(i, TASK.fds);
    }
    const out: ResourceSample[] = [];
    for (const [pid, s] of byPid) {
      if (s.listed !== gen) {
        byPid.delete(pid); // gone
        continue;
      }
      // A process whose leader the walk missed (it raced an exit or an exec): not this snapshot's.
      if (s.leaderListed !== gen) continue;
      // The sums of runtime and of sampled user and system time become the runtime and its split.
      const split = splitCpu(s.cpuNs, s.userNs, s.systemNs);
      s.userNs = split.userNs;
      s.systemNs = split.systemNs;
      out.push(s);
    }
    return out;
  }

  /**
   * A new instance under this pid (or the first one seen): a fresh object, so that nothing of
   * the old instance's figures (held by whoever kept the last snapshot) changes under it. The
   * sums of this snapshot so far move over.
   */
  private rebirth(old: TaskSums, pid: number, startTicks: number): TaskSums {
    const s = emptySample(pid);
    s.key = `${pid}:${startTicks}`;
    s.startTicks = startTicks;
    s.listed = old.listed;
    s.cpuNs = old.cpuNs;
    s.userNs = old.userNs;
    s.systemNs = old.systemNs;
    s.minorFaults = old.minorFaults;
    s.majorFaults = old.majorFaults;
    s.voluntarySwitches = old.voluntarySwitches;
    s.involuntarySwitches = old.involuntarySwitches;
    s.readChars = old.readChars;
    s.writeChars = old.writeChars;
    s.readBytes = old.readBytes;
    s.writeBytes = old.writeBytes;
    s.fds = old.fds;
    s.vsizeBytes = old.vsizeBytes;
    s.rssBytes = old.rssBytes;
    s.rssAnonBytes = old.rssAnonBytes;
    s.rssFileBytes = old.rssFileBytes;
    s.rssShmemBytes = old.rssShmemBytes;
    s.swapBytes = old.swapBytes;
    return s;
  }

  close(): void {
    this.handle.close();
  }
}

/** With cpuPct and memPct already there: the sampler fills them in place (one object shape throughout). */
function emptySample(pid: number): TaskSums {
  return {
    listed: 0, leaderListed: 0, cpuPct: null, memPct: null,
    key: '', pid, ppid: null, startTicks: -1, comm: null, state: null, uid: null, euid: null, threads: null, kernelThread: false,
    cpuNs: 0, userNs: 0, systemNs: 0, minorFaults: 0, majorFaults: 0, voluntarySwitches: 0, involuntarySwitches: 0,
    readBytes: 0, writeBytes: 0, readChars: 0, writeChars: 0,
    vsizeBytes: null, rssBytes: null, rssAnonBytes: null, rssFileBytes: null, rssShmemBytes: null, swapBytes: null, fds: null, fdLimit: null,
  };
}
