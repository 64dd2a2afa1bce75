/** Parser for /proc/PID/stat (procps calls it stat2proc). */

export interface ProcStat {
  pid: number;
  /** Kernel command name (TASK_COMM_LEN: at most 15 bytes), may contain spaces and parentheses. */
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  ttyNr: number;
  /** The kernel's per-task PF_* flags (field 9). */
  flags: number;
  /** Page faults without and with I/O (fields 10, 12): the whole process's for a leader's stat. */
  minFlt: number;
  majFlt: number;
  /** User and system CPU time in clock ticks. */
  utime: number;
  stime: number;
  numThreads: number;
  /** Start time in clock ticks since boot: with the pid, the identity of a process instance. */
  startTicks: number;
  vsizeBytes: number;
  rssPages: number;
  /** Address of the bottom of the stack (field 28): a new one on every exec; null when absent or hidden (0). */
  startStack: number | null;
  /**
   * The exit status in wait(2) form (field 52, Linux 3.5+): meaningful for a zombie, which has
   * exited and waits to be reaped. Null when absent (older kernels, or no permission).
   */
  exitCode: number | null;
}

/** PF_KTHREAD (include/linux/sched.h): set on kernel threads, and only on them. */
export const PF_KTHREAD = 0x00200000;

/**
 * A kernel thread, told by its PF_KTHREAD flag. Being a child of pid 2 is not proof: in a
 * PID namespace (a container) pid 2 is an ordinary process.
 */
export function isKernelThread(stat: ProcStat): boolean {
  return (stat.flags & PF_KTHREAD) !== 0;
}

/**
 * Parses the text of /proc/PID/stat. The command name is found between the first '(' and
 * the LAST ')', because a name such as `a) b (c` contains both. Returns null on malformed input.
 */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  // Fields after the name start at field 3 (state); index 0 here is field 3.
  const rest = text.slice(close + 2).split(' ');
  if (!Number.isInteger(pid) || rest.length < 22) return null;
  const num = (field: number): number => Number(rest[field - 3]);
  const stat: ProcStat = {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: num(4),
    pgrp: num(5),
    session: num(6),
    ttyNr: num(7),
    flags: num(9),
    minFlt: num(10),
    majFlt: num(12),
    utime: num(14),
    stime: num(15),
    numThreads: num(20),
    startTicks: num(22),
    vsizeBytes: num(23),
    rssPages: num(24),
    startStack: rest.length >= 26 && num(28) > 0 ? num(28) : null,
    exitCode: rest.length >= 50 && Number.isInteger(num(52)) ? num(52) : null,
  };
  return Number.isFinite(stat.startTicks) && Number.isFinite(stat.ppid) && Number.isFinite(stat.flags) ? stat : null;
}
