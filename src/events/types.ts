/**
 * The one event model every source produces (netlink, eBPF, /proc polling).
 * Field names here are a public interface: `watch --json`, the store and the API
 * all use them. Document changes in the README's event table.
 */

/** Every event kind, in the order the README documents them. */
export const EVENT_KINDS = [
  'fork', 'exec', 'exit', 'uid', 'gid', 'sid', 'ptrace', 'comm', 'coredump',
  'lost', 'inferred_start', 'inferred_exit',
  // eBPF source only, when network or file capture is on:
  'connect', 'accept', 'open',
  // a process's resource totals once it ended (eBPF; netlink when /proc still shows them)
  'acct',
  // eBPF source only, behaviour capture (each off by default):
  'shell', 'session', 'syscalls',
] as const;

export type EventKind = (typeof EVENT_KINDS)[number];

/** How an event came to be known. `inferred` events come from a /proc scan, not the kernel. */
export type Provenance = 'observed' | 'inferred';

/** Four ids as the kernel keeps them: real, effective, saved, filesystem. */
export type IdQuad = readonly [number, number, number, number];

/** A process instance: a pid alone is never a key, PIDs are reused. */
export interface ProcessKey {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks since boot. */
  startTicks: number;
}

/** What was read about a new image right after exec. `null` means "could not read": unknown, never guessed. */
export interface ExecDetails {
  comm: string | null;
  exe: string | null;
  argv: string[] | null;
  /** True when argv was cut at a source limit. */
  argvTruncated: boolean;
  cwd: string | null;
  ppid: number | null;
  uids: IdQuad | null;
  gids: IdQuad | null;
  startTicks: number | null;
  label: string | null;
  cgroup: string | null;
  /**
   * cgroup v2 id of the process at the exec (the inode number of its cgroup directory).
   * Set by the eBPF source; null from netlink (the kernel does not say), absent from /proc scans.
   */
  cgroupId?: number | null;
  /**
   * What was passed to execve: for a `#!` script the script's path, while `exe` is its
   * interpreter. Set by the eBPF source; null from netlink, absent from /proc scans.
   */
  filename?: string | null;
  /**
   * The process's start time in ns since boot (start_boottime; /proc's startTicks in ns).
   * Set by the eBPF source: it tells apart two processes of one pid started within one clock
   * tick (same startTicks). Null from netlink, absent from /proc scans.
   */
  startBootNs?: number | null;
}

export interface ExitStatus {
  /** Exit code when the process called exit(); null when killed by a signal. */
  code: number | null;
  /** Terminating signal number, null on a normal exit. */
  signal: number | null;
  coreDumped: boolean;
}

interface EventBase {
  /** Monotonic sequence number assigned by the source. */
  seq: number;
  /** Kernel time, nanoseconds since boot (CLOCK_MONOTONIC incl. suspend as the kernel reports it). */
  ktimeNs: number;
  /** Thread-group id (the process id). */
  pid: number;
  /** Thread id; equals pid for the thread-group leader. */
  tid: number;
  /** CPU that reported the event, -1 when unknown. */
  cpu: number;
  provenance: Provenance;
  /** Process instance key `pid:startTicks`, set by the table once it matched the event; null if it could not. */
  key?: string | null;
}

export interface ForkEvent extends EventBase {
  kind: 'fork';
  parentPid: number;
  parentTid: number;
  /** true when a thread was created, not a process */
  thread: boolean;
  /** The new process's start time (clock ticks since boot): null for a thread, or a child gone before it could be read. */
  startTicks?: number | null;
  /** The same in ns since boot (eBPF only; see ExecDetails.startBootNs). */
  startBootNs?: number | null;
}
export interface ExecEvent extends EventBase { kind: 'exec'; details: ExecDetails }
export interface ExitEvent extends EventBase {
  kind: 'exit';
  status: ExitStatus;
  /** raw wait status as the kernel gave it */
  rawCode: number;
  parentPid: number | null;
  /** The process's name as it ended (its leader's comm). eBPF only: null from netlink. */
  comm?: string | null;
}
export interface UidEvent extends EventBase { kind: 'uid'; ruid: number; euid: number }
export interface GidEvent extends EventBase { kind: 'gid'; rgid: number; egid: number }
export interface SidEvent extends EventBase { kind: 'sid' }
/** tracerPid 0 means the tracer detached. */
export interface PtraceEvent extends EventBase { kind: 'ptrace'; tracerPid: number; tracerTid: number }
export interface CommEvent extends EventBase { kind: 'comm'; comm: string }
export interface CoredumpEvent extends EventBase { kind: 'coredump'; parentPid: number | null }
/** Events the source knows it missed (netlink ENOBUFS, ring buffer reservation failures). */
export interface LostEvent extends EventBase {
  kind: 'lost';
  count: number | null;
  reason: string;
  /**
   * Set when only one kind of capture lost something, so the process table was complete and
   * needs no resync: 'syscalls' (count is syscalls not counted), 'session' (connections not
   * followed) or 'shell' (lines not read). Absent: process events may be missing.
   */
  scope?: 'syscalls' | 'session' | 'shell';
}
/**
 * A process's resource totals, once it ended: after its `exit`, when its parent reaped it
 * (eBPF), or at once from the zombie's /proc files (netlink, when still there). `startTicks`
 * names the instance; `pid` is the process's.
 */
export interface AcctEvent extends EventBase { kind: 'acct'; startTicks: number; usage: ProcessUsage }
export interface InferredStartEvent extends EventBase { kind: 'inferred_start'; details: ExecDetails }
export interface InferredExitEvent extends EventBase { kind: 'inferred_exit'; startTicks: number | null }

/**
 * The fields of `connect` and `accept` (eBPF source, network capture on). Addresses are
 * strings as Node's `net` shows them ("127.0.0.1", "::1", "::ffff:10.0.0.1").
 */
export interface SocketFields {
  family: 'ipv4' | 'ipv6';
  /** 'tcp', 'udp', 'sctp', 'udplite', 'mptcp', 'ip-N' for another IP protocol, null when unknown. */
  protocol: string | null;
  /** This end. Null when the kernel had not bound one (e.g. a connect that failed). */
  localAddress: string | null;
  localPort: number | null;
  /** connect: the address asked for; accept: the peer. */
  remoteAddress: string;
  remotePort: number;
  /** connect: the socket's fd; accept: the new connection's fd. */
  fd: number;
  /** connect: 0 or -errno as the syscall returned (-115, EINPROGRESS: non-blocking, under way); accept: the new fd. */
  result: number;
  /** Name of the errno when result < 0 ("ECONNREFUSED"), else null. */
  error: string | null;
  /** Real uid of the calling thread. */
  uid: number;
  /** cgroup v2 id of the caller (the inode number of its cgroup directory). */
  cgroupId: number;
}
/** An outbound connect(2), reported as it returned. */
export interface ConnectEvent extends EventBase, SocketFields { kind: 'connect' }
/** A connection accepted by accept(2)/accept4(2). */
export interface AcceptEvent extends EventBase, SocketFields { kind: 'accept' }
/** An openat(2) (eBPF source, file capture on), reported as it returned. */
export interface OpenEvent extends EventBase {
  kind: 'open';
  /** The path as passed: relative to dirFd (or the cwd when dirFd is null) unless it starts with '/'. */
  path: string;
  /** True when the path was cut at the source's limit (4095 bytes). */
  pathTruncated: boolean;
  /** The directory fd a relative path starts from; null for AT_FDCWD. */
  dirFd: number | null;
  /** O_* flags as passed (raw number) and their names ("O_WRONLY", "O_CREAT", ...). */
  flags: number;
  flagNames: string[];
  /** Permission bits as passed (meaningful with O_CREAT or O_TMPFILE). */
  mode: number;
  /** The new fd, or -errno. */
  result: number;
  error: string | null;
  uid: number;
  cgroupId: number;
}

/**
 * A line an interactive bash read with readline() (eBPF source, `shell` capture on): what the
 * user typed, builtins and pipelines included, after redaction. The shell is the event's
 * process (pid, key).
 */
export interface ShellEvent extends EventBase {
  kind: 'shell';
  /** The line as typed (before history and alias expansion), with redacted parts replaced by `[REDACTED]`. */
  line: string;
  /** True when the line was longer than 4,095 bytes and cut there. */
  lineTruncated: boolean;
  /** True when a redaction pattern matched and replaced part of the line. */
  redacted: boolean;
  /** The shell's start time (clock ticks since boot): with pid, its key. */
  startTicks: number;
  uid: number;
  euid: number;
  /** Audit login uid (who logged in, kept across su and sudo); null when not set. */
  loginUid: number | null;
  /** Audit session id; null when not set. */
  sessionId: number | null;
  /** Controlling terminal ("pts/3"), null when none. */
  tty: string | null;
  /** The shell's working directory when the line was read; null when it cannot be named. */
  cwd: string | null;
}

/**
 * A TCP connection that was established, reported once when it closed (eBPF source, network
 * `sessions` capture on), with the socket's own counters. pid and key are the owner's: the
 * process that connected, or that accepted it (pid 0 and key null when not known).
 */
export interface SessionEvent extends EventBase {
  kind: 'session';
  /** Null for a connection established before capture began. */
  direction: 'connect' | 'accept' | null;
  /** The owner's start time (clock ticks since boot), null when the owner is not known. */
  startTicks: number | null;
  family: 'ipv4' | 'ipv6';
  protocol: 'tcp';
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /**
   * Kernel time (ns since boot) it became ESTABLISHED; ktimeNs is when it closed. Null for a
   * connection established before capture began (its byte counts are still the whole
   * connection's; its owner is not known).
   */
  establishedNs: number | null;
  durationNs: number | null;
  /** Bytes sent that the peer acknowledged (tcp_sock.bytes_acked). */
  bytesSent: number;
  /** Bytes received in order (tcp_sock.bytes_received). */
  bytesReceived: number;
  /** Bytes and segments sent again (retransmissions). */
  bytesRetransmitted: number;
  retransmits: number;
  /** The TCP state it closed from: 'FIN_WAIT2', 'TIME_WAIT' path, 'LAST_ACK', 'ESTABLISHED' (a reset), ... */
  closedFrom: string;
  /** The owner's real uid and cgroup v2 id, null when the owner is not known. */
  uid: number | null;
  cgroupId: number | null;
}

/**
 * A process's syscall counts (eBPF source, `syscalls: counts`), counted in the kernel: at
 * its exit (`final`), and while it runs, at the reader's interval when they changed. Counts
 * are since the process's first syscall (a fork child's count includes what it did before
 * its exec).
 */
export interface SyscallsEvent extends EventBase {
  kind: 'syscalls';
  /** The process's start time (clock ticks since boot): with pid, its key. */
  startTicks: number;
  final: boolean;
  total: number;
  /**
   * Count by syscall name ("read", "getpid"; "syscall_N" for a number without a name here;
   * "other" for numbers past the kernel side's table and 32-bit compat calls).
   */
  counts: Record<string, number>;
}

export type ProcEvent =
  | ForkEvent
  | ExecEvent
  | ExitEvent
  | UidEvent
  | GidEvent
  | SidEvent
  | PtraceEvent
  | CommEvent
  | CoredumpEvent
  | LostEvent
  | InferredStartEvent
  | InferredExitEvent
  | ConnectEvent
  | AcceptEvent
  | OpenEvent
  | ShellEvent
  | SessionEvent
  | SyscallsEvent
  | AcctEvent;

/**
 * What a process used over its whole life, all its threads together: the kernel's own totals
 * (what its parent's cutime/cstime grow by), known once it ended. `null`: unknown (the source
 * could not see it), never a guess. Kept with the process instance (`usage` of a process).
 */
/**
 * Page faults, context switches and I/O counts of a process, all threads together; `null`:
 * unknown. Shared by exit accounting, the resource snapshot and `/v1/resources` rows.
 */
export interface ActivityCounts {
  minorFaults: number | null;
  majorFaults: number | null;
  voluntarySwitches: number | null;
  involuntarySwitches: number | null;
  /** Bytes fetched from and sent to storage (/proc/PID/io read_bytes, write_bytes). */
  readBytes: number | null;
  writeBytes: number | null;
  /** Bytes through read(2)/write(2) and the like, cache hits included (/proc/PID/io rchar, wchar). */
  readChars: number | null;
  writeChars: number | null;
}

export interface ProcessUsage extends ActivityCounts {
  /** User + system CPU time. */
  cpuSeconds: number | null;
  userSeconds: number | null;
  systemSeconds: number | null;
  /**
   * 'ns': the scheduler's exact runtime (eBPF); 'tick': /proc/PID/stat's clock ticks (1/100 s:
   * netlink), so a process that lived a few ms shows 0. Null when the CPU time is unknown.
   */
  cpuResolution: 'ns' | 'tick' | null;
  /** Peak resident set size (getrusage's ru_maxrss). */
  maxRssBytes: number | null;
}

/** Decodes a wait(2)-style status word as cn_proc and eBPF report it. */
export function decodeExitStatus(raw: number): ExitStatus {
  const signal = raw & 0x7f;
  if (signal === 0) return { code: (raw >> 8) & 0xff, signal: null, coreDumped: false };
  return { code: null, signal, coreDumped: (raw & 0x80) !== 0 };
}

/**
 * A process instance as the API, the store and the query commands show it (README: "Process
 * fields"). Times are wall-clock ISO strings; null means unknown, or not yet (exitTime).
 */
export interface ProcessFields {
  key: string;
  pid: number;
  ppid: number | null;
  parentKey: string | null;
  startTicks: number | null;
  startTime: string | null;
  exitTime: string | null;
  comm: string | null;
  exe: string | null;
  /**
   * What was given to execve (eBPF source only; null from netlink, /proc scans and before the
   * first exec seen): `/bin/true` where `exe`, the resolved image, is `/usr/bin/true`; for a
   * `#!` script, the script while `exe` is its interpreter.
   */
  filename: string | null;
  argv: string[] | null;
  cwd: string | null;
  uid: number | null;
  euid: number | null;
  gid: number | null;
  egid: number | null;
  label: string | null;
  cgroup: string | null;
  /** From the cgroup, resolved at exec: the systemd unit, the container id and its runtime (null: none). */
  unit: string | null;
  container: string | null;
  containerRuntime: string | null;
  exitCode: number | null;
  exitSignal: number | null;
  coreDumped: boolean | null;
  origin: string;
  exitOrigin: string | null;
  /** Resource totals once it ended (its `acct` event); null while running, or when never known. */
  usage: ProcessUsage | null;
}
