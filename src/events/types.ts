/**
 * The one event model every source produces (netlink, eBPF, /proc polling).
 * Field names here are a public interface: `watch --json`, the store and the API
 * all use them. Document changes in the README's event table.
 */

export type EventKind =
  | 'fork'
  | 'exec'
  | 'exit'
  | 'uid'
  | 'gid'
  | 'sid'
  | 'ptrace'
  | 'comm'
  | 'coredump'
  | 'lost'
  | 'inferred_start'
  | 'inferred_exit';

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

export interface ForkEvent extends EventBase { kind: 'fork'; parentPid: number; parentTid: number; /** true when a thread was created, not a process */ thread: boolean }
export interface ExecEvent extends EventBase { kind: 'exec'; details: ExecDetails }
export interface ExitEvent extends EventBase { kind: 'exit'; status: ExitStatus; /** raw wait status as the kernel gave it */ rawCode: number; parentPid: number | null }
export interface UidEvent extends EventBase { kind: 'uid'; ruid: number; euid: number }
export interface GidEvent extends EventBase { kind: 'gid'; rgid: number; egid: number }
export interface SidEvent extends EventBase { kind: 'sid' }
/** tracerPid 0 means the tracer detached. */
export interface PtraceEvent extends EventBase { kind: 'ptrace'; tracerPid: number; tracerTid: number }
export interface CommEvent extends EventBase { kind: 'comm'; comm: string }
export interface CoredumpEvent extends EventBase { kind: 'coredump'; parentPid: number | null }
/** Events the source knows it missed (netlink ENOBUFS, ring buffer reservation failures). */
export interface LostEvent extends EventBase { kind: 'lost'; count: number | null; reason: string }
export interface InferredStartEvent extends EventBase { kind: 'inferred_start'; details: ExecDetails }
export interface InferredExitEvent extends EventBase { kind: 'inferred_exit'; startTicks: number | null }

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
  | InferredExitEvent;

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
  argv: string[] | null;
  cwd: string | null;
  uid: number | null;
  euid: number | null;
  gid: number | null;
  egid: number | null;
  label: string | null;
  cgroup: string | null;
  exitCode: number | null;
  exitSignal: number | null;
  coreDumped: boolean | null;
  origin: string;
  exitOrigin: string | null;
}
