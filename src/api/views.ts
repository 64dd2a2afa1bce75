/** JSON shapes of live table records: the same field names as stored processes (README: Process fields). */

import type { ProcessFields } from '../events/types.js';
import type { UserDb } from '../procfs/index.js';
import type { Clock, ProcessRecord } from '../table/index.js';
import { cgroupFields } from '../procfs/cgroup.js';

export interface ProcessJson extends ProcessFields {
  /** The effective user's name. */
  user: string | null;
  /** Wall time of the exec that gave it its current image; null when not observed. */
  execTime: string | null;
  /** Saved and filesystem ids (the kernel's four: real, effective, saved, fs). */
  suid: number | null;
  fsuid: number | null;
  sgid: number | null;
  fsgid: number | null;
  /** Threads besides the main one. */
  threads: number;
  live: boolean;
}

export function recordJson(r: ProcessRecord, clock: Clock, users: UserDb): ProcessJson {
  const iso = (ns: number | null): string | null => (ns === null ? null : new Date(clock.wallMs(ns)).toISOString());
  return {
    key: r.key, pid: r.pid, ppid: r.ppid, parentKey: r.parentKey, startTicks: r.startTicks, startTime: iso(r.startNs), execTime: iso(r.execNs),
    exitTime: iso(r.exitNs), comm: r.comm, exe: r.exe, filename: r.filename, argv: r.argv, cwd: r.cwd,
    uid: r.uids?.[0] ?? null, euid: r.uids?.[1] ?? null, suid: r.uids?.[2] ?? null, fsuid: r.uids?.[3] ?? null,
    user: r.uids ? users.userName(r.uids[1]) : null,
    gid: r.gids?.[0] ?? null, egid: r.gids?.[1] ?? null, sgid: r.gids?.[2] ?? null, fsgid: r.gids?.[3] ?? null,
    label: r.label, cgroup: r.cgroup, ...cgroupFields(r.cgroup),
    exitCode: r.exit?.code ?? null, exitSignal: r.exit?.signal ?? null, coreDumped: r.exit === null ? null : r.exit.coreDumped || r.coreDumped,
    origin: r.origin, exitOrigin: r.exitOrigin, usage: r.usage,
    // Thread exits of threads made before the count began must not make it negative.
    threads: Math.max(0, r.threadsCreated - r.threadsExited), live: r.exitNs === null,
  };
}
