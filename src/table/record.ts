/** One process instance as the table knows it. */

import type { ExecDetails, ExitStatus, IdQuad, ProcessUsage } from '../events/types.js';

/** How the table learned that the process started. */
export type Origin = 'seeded' | 'observed' | 'inferred';

export interface ProcessRecord {
  /** `pid:startTicks`, or `pid:?seq` while the start time is unknown. */
  key: string;
  pid: number;
  startTicks: number | null;
  ppid: number | null;
  parentKey: string | null;
  comm: string | null;
  exe: string | null;
  /** The path given to execve (eBPF only), null when unknown. */
  filename: string | null;
  argv: string[] | null;
  argvTruncated: boolean;
  cwd: string | null;
  uids: IdQuad | null;
  gids: IdQuad | null;
  label: string | null;
  cgroup: string | null;
  /** True until the process execs: a fork child runs its parent's image. */
  inheritedImage: boolean;
  /** Monotonic ns of the fork (or the start time converted), null when unknown. */
  startNs: number | null;
  /** Exact start (start_boottime, ns since boot) when the eBPF source gave it: tells same-tick instances apart. */
  startBootNs: number | null;
  execNs: number | null;
  exitNs: number | null;
  exit: ExitStatus | null;
  origin: Origin;
  exitOrigin: 'observed' | 'inferred' | null;
  tracerPid: number | null;
  coreDumped: boolean;
  /** Threads besides the leader: created and exited (seeded from /proc's count at start and resync). */
  threadsCreated: number;
  threadsExited: number;
  /**
   * How the leader thread ended while other threads of the process still ran (pthread_exit
   * in main, or the first of a group exit): the process ends with its last thread.
   */
  leaderExit: ExitStatus | null;
  /** Its resource totals, from its `acct` event once it ended; null until then or when never known. */
  usage: ProcessUsage | null;
}

/**
 * A process instance's key: `pid:startTicks`, or `pid:startTicks.N` (N = 2, 3, ...) for the
 * Nth instance of one pid started within one clock tick (10 ms) that this table (or the store)
 * has seen: a pid reused that fast needs pid_max wrapping in 10 ms or a write to ns_last_pid.
 * Keys without a suffix keep their meaning. README: "Process keys".
 */
export function processKey(pid: number, startTicks: number, ordinal = 1): string {
  return ordinal <= 1 ? `${pid}:${startTicks}` : `${pid}:${startTicks}.${ordinal}`;
}

/** What a key looks like: `pid:startTicks`, `pid:startTicks.N` or (start unknown) `pid:?N`. */
export const PROCESS_KEY = /^\d+:(\d+(\.\d+)?|\?\d+)$/;

export function newRecord(pid: number, startTicks: number | null, key: string, origin: Origin): ProcessRecord {
  return {
    key, pid, startTicks, ppid: null, parentKey: null, comm: null, exe: null, filename: null, argv: null, argvTruncated: false,
    cwd: null, uids: null, gids: null, label: null, cgroup: null, inheritedImage: false, startNs: null, startBootNs: null, execNs: null,
    exitNs: null, exit: null, origin, exitOrigin: null, tracerPid: null, coreDumped: false, threadsCreated: 0, threadsExited: 0,
    leaderExit: null, usage: null,
  };
}

/** Distinct values one pool shares at most; beyond, it starts over (records keep theirs). */
const SHARED_MAX = 4096;
/** Command lines longer than this (UTF-16 units, all arguments) are not shared: hashing them costs more than they repeat. */
const SHARED_ARGV_MAX = 4096;
/** V8 copies strings shorter than this when cut from a longer one (SlicedString::kMinLength); longer cuts keep the whole text alive. */
const SLICE_MIN = 13;

/**
 * One copy of the values that many processes have in common: 10,000 workers of one program
 * hold one exe, comm, cwd, cgroup and command line between them, and one [0, 0, 0, 0], not
 * 10,000 of each (~0.5 KiB per process: BENCHMARKS.md, "Daemon memory"). Shared values are
 * immutable (strings; frozen arrays), so sharing is invisible to readers. Each pool holds at
 * most SHARED_MAX values and then starts over, so values of processes long gone do not pile
 * up; records keep what they hold, only sharing restarts.
 */
export class SharedValues {
  private readonly strings = new Map<string, string>();
  /** Command lines by a hash of their arguments (equality is checked: a collision only goes unshared). */
  private readonly argvs = new Map<number, string[]>();
  /** Id quads by their four ids (nearly every process has one of a handful). */
  private readonly idQuads = new Map<string, IdQuad>();

  /**
   * The shared copy of s. A new value is stored flat: a name cut out of a /proc file (comm
   * from stat) must not keep the whole file's text alive for the life of the process.
   */
  string(s: string | null): string | null {
    if (s === null) return null;
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    const own = s.length < SLICE_MIN ? s : (JSON.parse(JSON.stringify(s)) as string);
    bounded(this.strings).set(own, own);
    return own;
  }

  /** The shared (frozen) command line equal to argv; argv itself, frozen, when it is the first. */
  argv(argv: string[] | null): string[] | null {
    if (argv === null) return null;
    const hash = argvHash(argv);
    if (hash === null) return argv;
    const known = this.argvs.get(hash);
    if (known !== undefined && sameStrings(known, argv)) return known;
    // Frozen: every process with this command line holds this one array.
    const own = Object.freeze(argv) as string[];
    bounded(this.argvs).set(hash, own);
    return own;
  }

  ids(q: IdQuad | null): IdQuad | null {
    if (q === null) return null;
    const key = q.join(':');
    const known = this.idQuads.get(key);
    if (known !== undefined) return known;
    const own = Object.freeze([q[0], q[1], q[2], q[3]] as const);
    bounded(this.idQuads).set(key, own);
    return own;
  }
}

function bounded<K, V>(pool: Map<K, V>): Map<K, V> {
  if (pool.size >= SHARED_MAX) pool.clear();
  return pool;
}

/** FNV-1a over the arguments and their boundaries; null when the command line is too long to be worth it. */
function argvHash(argv: readonly string[]): number | null {
  let h = 0x811c9dc5;
  let length = 0;
  for (const arg of argv) {
    length += arg.length + 1;
    if (length > SHARED_ARGV_MAX) return null;
    for (let i = 0; i < arg.length; i++) h = Math.imul(h ^ arg.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xffff, 0x01000193); // the boundary: ['ab'] and ['a', 'b'] hash apart
  }
  return h >>> 0;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The values records share, for every table of this process (they are immutable, so tables may share them too). */
export const shared = new SharedValues();

/**
 * A new image replaces the old one entirely: what was not read is unknown, never the old
 * value. Except the cgroup: exec does not move a process, so a path known from the seed or
 * the fork stays when the exec did not say (the native readers report only a cgroup id).
 * Values are taken from the shared pools (SharedValues): the record may not hold d's own.
 */
export function applyImage(record: ProcessRecord, d: ExecDetails): void {
  record.comm = shared.string(d.comm);
  record.exe = shared.string(d.exe);
  record.filename = shared.string(d.filename ?? null);
  record.argv = shared.argv(d.argv);
  record.argvTruncated = d.argvTruncated;
  record.cwd = shared.string(d.cwd);
  record.label = shared.string(d.label);
  if (d.cgroup !== null) record.cgroup = shared.string(d.cgroup);
  if (d.uids !== null) record.uids = shared.ids(d.uids);
  if (d.gids !== null) record.gids = shared.ids(d.gids);
  if (d.ppid !== null) record.ppid = d.ppid;
  record.inheritedImage = false;
}
