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

export const fork = (child: number, parent: number, t: number, thread = false): ProcEvent =>
  ({ ...base(child, t), kind: 'fork', parentPid: parent, parentTid: parent, thread });
export const exec = (pid: number, t: number, d: Partial<ExecDetails> = {}): ProcEvent => ({ ...base(pid, t), kind: 'exec', details: details(d) });
export const exit = (pid: number, t: number, code = 0, tid = pid): ProcEvent =>
  ({ ...base(pid, t, tid), kind: 'exit', status: { code, signal: null, coreDumped: false }, rawCode: code << 8, parentPid: null });
export const lost = (t: number): ProcEvent => ({ ...base(0, t), kind: 'lost', count: null, reason: 'test' });
