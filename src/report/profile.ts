/** `history --syscalls`: a process's syscall profile and its TCP sessions, as text. */

import { formatBytes } from './usage.js';

export interface ProfileLike {
  key: string;
  bootId: string;
  syscalls: { time: string; final: boolean; total: number; counts: Array<{ name: string; count: number }> } | null;
  sessions: { sessions: number; bytesSent: number; bytesReceived: number };
}

export function renderSyscallProfile(p: ProfileLike): string {
  const lines: string[] = [];
  const s = p.syscalls;
  if (s === null) {
    lines.push(`no syscall counts for ${p.key}: syscall capture was off (daemon.ebpf.syscalls: counts), or they were not read yet (at the exit and every syscalls_interval)`);
  } else {
    lines.push(`syscalls of ${p.key}: ${s.total} ${s.final ? 'in its whole life (read at its exit)' : `so far (read ${s.time})`}`);
    const width = Math.max(5, ...s.counts.map((c) => String(c.count).length));
    lines.push(`  ${'COUNT'.padStart(width)}   SHARE  SYSCALL`);
    for (const c of s.counts) {
      lines.push(`  ${String(c.count).padStart(width)} ${((100 * c.count) / Math.max(1, s.total)).toFixed(2).padStart(6)}%  ${c.name}`);
    }
  }
  const t = p.sessions;
  lines.push(t.sessions === 0 ? 'tcp sessions: none stored' : `tcp sessions: ${t.sessions} stored, sent ${formatBytes(t.bytesSent)}, received ${formatBytes(t.bytesReceived)}`);
  return `${lines.join('\n')}\n`;
}
