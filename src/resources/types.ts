/**
 * The resource snapshot (issue 12): every process's CPU, memory, faults, switches, I/O and
 * fds at one moment, from one of two sources with the same fields: the eBPF task iterator
 * (one binary read for all tasks) or /proc (the files each field needs). Field names are a
 * public interface: `/v1/resources` and `top --json` show them (README: Resource fields).
 */

import type { ActivityCounts } from '../events/types.js';

/** One process instance's figures at the snapshot. Totals are since it started, all threads together. */
export interface ResourceSample extends ActivityCounts {
  /** `pid:startTicks`, as everywhere. */
  key: string;
  pid: number;
  ppid: number | null;
  startTicks: number;
  comm: string | null;
  /** /proc/PID/stat's letter: R S D T t X Z P I. */
  state: string | null;
  uid: number | null;
  euid: number | null;
  /** Threads, the main one included. */
  threads: number | null;
  kernelThread: boolean;
  /** CPU time so far (user + system), and its split. */
  cpuNs: number;
  userNs: number;
  systemNs: number;
  /** Memory; 0 for kernel threads (no address space), null when unreadable. */
  vsizeBytes: number | null;
  rssBytes: number | null;
  rssAnonBytes: number | null;
  rssFileBytes: number | null;
  rssShmemBytes: number | null;
  swapBytes: number | null;
  /** Open file descriptors and the soft limit on them; null when unknown (kernel threads have no table of their own). */
  fds: number | null;
  fdLimit: number | null;
}

export type SnapshotSourceName = 'ebpf' | 'proc';

export interface Snapshot {
  source: SnapshotSourceName;
  /** CLOCK_MONOTONIC ns when it was taken (the clock of kernel event times). */
  monoNs: number;
  wallMs: number;
  /** 'ns': CPU from the scheduler's runtime (eBPF); 'tick': /proc/PID/stat's clock ticks (10 ms). */
  cpuResolution: 'ns' | 'tick';
  samples: ResourceSample[];
  /** How long taking it took, and the CPU this process spent on it (user + system), ms. */
  tookMs: number;
  cpuMs: number;
}

/** Takes snapshots; one implementation per source, both passing one agreement test. */
export interface SnapshotSource {
  readonly name: SnapshotSourceName;
  take(): Promise<Snapshot>;
  close(): void;
}
