/**
 * Kernel times are nanoseconds since boot on CLOCK_MONOTONIC (cn_proc, eBPF's
 * bpf_ktime_get_ns); start times in /proc/PID/stat are clock ticks on CLOCK_BOOTTIME.
 * Conversions happen here, once, at the edge.
 */

import { CLOCK_TICKS_PER_SECOND, ProcReader } from '../procfs/index.js';

const START_TOLERANCE_NS = 1e9 / CLOCK_TICKS_PER_SECOND + 20e6;

export class Clock {
  /** Wall clock minus monotonic clock, in ms. */
  private readonly wallOffsetMs: number;
  /** Boot time minus monotonic time (time spent suspended), in ns. */
  private readonly suspendNs: number;

  constructor(reader: ProcReader = new ProcReader()) {
    const mono = Number(process.hrtime.bigint());
    this.wallOffsetMs = Date.now() - mono / 1e6;
    const uptime = reader.uptimeSeconds();
    // /proc/uptime has 10 ms resolution; smaller differences are noise, not suspend time.
    const suspend = uptime === null ? 0 : uptime * 1e9 - mono;
    this.suspendNs = suspend > 20e6 ? suspend : 0;
  }

  /** Monotonic ns now, the scale of kernel event times. */
  nowNs(): number {
    return Number(process.hrtime.bigint());
  }

  wallMs(ktimeNs: number): number {
    return this.wallOffsetMs + ktimeNs / 1e6;
  }

  /** A stat start time (boot ticks) on the monotonic ns scale. */
  startTicksToNs(ticks: number): number {
    return (ticks * 1e9) / CLOCK_TICKS_PER_SECOND - this.suspendNs;
  }

  /**
   * Whether a process that started at `ticks` provably started after the kernel time
   * `ktimeNs`: then it is not the process an event of that time was about (its pid was
   * reused). Tolerance: one tick of stat's rounding, and the up to 20 ms by which the
   * suspend estimate from /proc/uptime (10 ms resolution) may be off.
   */
  startedAfter(ticks: number, ktimeNs: number): boolean {
    return this.startTicksToNs(ticks) > ktimeNs + START_TOLERANCE_NS;
  }
}
