/**
 * Everything known about one process instance, read from /proc for the table (seeding,
 * polling, resync). The stat file is read before and after the other files: if the start
 * time changed, the pid was reused mid-read and nothing read belongs to one instance.
 */

import type { ExecDetails } from '../events/types.js';
import type { ProcReader } from './reader.js';

export function readDetails(reader: ProcReader, pid: number): ExecDetails | null {
  const before = reader.stat(pid);
  if (before === null) return null;
  const status = reader.status(pid);
  const argv = reader.argv(pid);
  const details: ExecDetails = {
    comm: before.comm,
    exe: reader.exe(pid),
    argv,
    argvTruncated: false,
    cwd: reader.cwd(pid),
    ppid: before.ppid,
    uids: status?.uids ?? null,
    gids: status?.gids ?? null,
    startTicks: before.startTicks,
    label: reader.label(pid),
    cgroup: reader.cgroup(pid),
  };
  const after = reader.stat(pid);
  if (after === null || after.startTicks !== before.startTicks) return null;
  return details;
}
