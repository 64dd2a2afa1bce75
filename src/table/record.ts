/** One process instance as the table knows it. */

import type { ExecDetails, ExitStatus, IdQuad } from '../events/types.js';

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
}

export function processKey(pid: number, startTicks: number): string {
  return `${pid}:${startTicks}`;
}

export function newRecord(pid: number, startTicks: number | null, key: string, origin: Origin): ProcessRecord {
  return {
    key, pid, startTicks, ppid: null, parentKey: null, comm: null, exe: null, argv: null, argvTruncated: false,
    cwd: null, uids: null, gids: null, label: null, cgroup: null, inheritedImage: false, startNs: null, execNs: null,
    exitNs: null, exit: null, origin, exitOrigin: null, tracerPid: null, coreDumped: false, threadsCreated: 0, threadsExited: 0,
    leaderExit: null,
  };
}

/**
 * A new image replaces the old one entirely: what was not read is unknown, never the old
 * value. Except the cgroup: exec does not move a process, so a path known from the seed or
 * the fork stays when the exec did not say (the native readers report only a cgroup id).
 */
export function applyImage(record: ProcessRecord, d: ExecDetails): void {
  record.comm = d.comm;
  record.exe = d.exe;
  record.argv = d.argv;
  record.argvTruncated = d.argvTruncated;
  record.cwd = d.cwd;
  record.label = d.label;
  if (d.cgroup !== null) record.cgroup = d.cgroup;
  if (d.uids !== null) record.uids = d.uids;
  if (d.gids !== null) record.gids = d.gids;
  if (d.ppid !== null) record.ppid = d.ppid;
  record.inheritedImage = false;
}
