/** Builders of synthetic events for table tests. */

import type { ExecDetails, ProcEvent } from '../../src/events/types.js';

let seq = 0;
const base = (pid: number, t: number, tid = pid) => ({ seq: ++seq, ktimeNs: t, pid, tid, cpu: 0, provenance: 'observed' as const });

export function details(over: Partial<ExecDetails> = {}): ExecDetails {
  return {
    comm: 'true', exe: '/usr/bin/true', argv: ['/bin/true'], argvTruncated: false, cwd: '/', ppid: 1,
    uids: [0, 0, 0, 0], gids: [0, 0, 0, 0], startTicks: 100, label: null, cgroup: null, ...over,
  };
}

export const fork = (child: number, parent: number, t: number): ProcEvent =>
  ({ ...base(child, t), kind: 'fork', parentPid: parent, parentTid: parent, thread: false });
/**
 * A new thread `tid` in process `pid`, as cn_proc reports it: the parent it names is the
 * process's own parent (CLONE_THREAD shares it), not the thread that created it.
 */
export const thread = (pid: number, tid: number, processParent: number, t: number): ProcEvent =>
  ({ ...base(pid, t, tid), kind: 'fork', parentPid: processParent, parentTid: processParent, thread: true });
export const exec = (pid: number, t: number, d: Partial<ExecDetails> = {}): ProcEvent => ({ ...base(pid, t), kind: 'exec', details: details(d) });
export const exit = (pid: number, t: number, code = 0, tid = pid): ProcEvent =>
  ({ ...base(pid, t, tid), kind: 'exit', status: { code, signal: null, coreDumped: false }, rawCode: code << 8, parentPid: null });
export const lost = (t: number): ProcEvent => ({ ...base(0, t), kind: 'lost', count: null, reason: 'test' });
export const uid = (pid: number, t: number, id: number): ProcEvent => ({ ...base(pid, t), kind: 'uid', ruid: id, euid: id });
export const comm = (pid: number, t: number, name: string, tid = pid): ProcEvent => ({ ...base(pid, t, tid), kind: 'comm', comm: name });
