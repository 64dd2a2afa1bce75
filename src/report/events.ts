/**
 * How events look to users: one text line (watch), or one JSON object (watch --json, and
 * later the API). Field names of the JSON form are a public interface (README: Event fields).
 */

import type { AcceptEvent, ConnectEvent, OpenEvent, ProcEvent, SessionEvent, ShellEvent, SyscallsEvent } from '../events/types.js';
import { escapeText } from './text.js';
import type { ProcessRecord } from '../table/index.js';
import type { UserDb } from '../procfs/index.js';
import { formatBytes, usageText } from './usage.js';

export interface EventView {
  event: ProcEvent;
  /** The table's record of the process right after the event (ProcessTable.recordAt), if it has one. */
  record: ProcessRecord | undefined;
  wallMs: number;
}

function commandLine(r: ProcessRecord | undefined, e: ProcEvent): string {
  const argv = e.kind === 'exec' || e.kind === 'inferred_start' ? e.details.argv : r?.argv ?? null;
  const comm = e.kind === 'exec' || e.kind === 'inferred_start' ? e.details.comm : r?.comm ?? null;
  if (argv !== null && argv.length > 0) return argv.join(' ') + (r?.argvTruncated ? ' …' : '');
  if (comm !== null) return `[${comm}]`;
  return '(unknown)';
}

export function formatDuration(ns: number): string {
  if (ns < 1e6) return `${(ns / 1e3).toFixed(0)}µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
  if (ns < 60e9) return `${(ns / 1e9).toFixed(2)}s`;
  const s = Math.round(ns / 1e9);
  return s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function lifetimeNs(r: ProcessRecord | undefined): number | null {
  return r?.startNs != null && r.exitNs !== null ? Math.max(0, r.exitNs - r.startNs) : null;
}

function what(v: EventView): string {
  const { event: e, record: r } = v;
  switch (e.kind) {
    case 'exec': return commandLine(r, e) + (e.provenance === 'inferred' ? ' (new image, found by /proc scan)' : '');
    case 'inferred_start': return commandLine(r, e);
    // A child that already exec'd (later in the same released batch) shows no command here:
    // at the fork it still ran its parent's image, and the exec line names the new one.
    // A new thread's fork event names the process's own parent (CLONE_THREAD shares it): the thread is the pid's.
    case 'fork': return e.thread ? `thread ${e.tid} of ${e.pid}` : r?.inheritedImage === false ? `forked by ${e.parentPid}` : `${commandLine(r, e)} (forked by ${e.parentPid})`;
    case 'exit': case 'inferred_exit': {
      const life = lifetimeNs(r);
      const status = e.kind === 'inferred_exit' ? 'gone (found by /proc scan)'
        : e.status.signal !== null ? `killed by signal ${e.status.signal}${e.status.coreDumped ? ' (core dumped)' : ''}` : `exit code ${e.status.code}`;
      return `${r?.comm ?? '(unknown)'} ${status}${life === null ? '' : `, lived ${formatDuration(life)}`}`;
    }
    case 'uid': return `uid ${e.ruid} euid ${e.euid}: ${commandLine(r, e)}`;
    case 'gid': return `gid ${e.rgid} egid ${e.egid}: ${commandLine(r, e)}`;
    case 'sid': return `new session: ${commandLine(r, e)}`;
    case 'ptrace': return e.tracerPid === 0 ? 'ptrace detach' : `ptrace attach by ${e.tracerPid}`;
    case 'comm': return `comm is now "${e.comm}"`;
    case 'coredump': return `dumping core: ${commandLine(r, e)}`;
    case 'lost': return `!! LOST ${e.count === null ? 'an unknown number of' : e.count} event(s): ${e.reason}; table resynced from /proc`;
    case 'connect': case 'accept': case 'open': return `${captureText(e)}: ${commandLine(r, e)}`;
    case 'acct': return `${r?.comm ?? '(unknown)'} used ${usageText(e.usage)}`;
    case 'shell': return behaviourText(e);
    case 'session': case 'syscalls': return `${behaviourText(e)}: ${commandLine(r, e)}`;
  }
}

/** The syscalls a profile shows in one line: the most frequent. */
const TOP_SYSCALLS = 5;

/**
 * What a shell line, a TCP session or a syscall profile says, without the process (shared by
 * `watch` and `events`). A shell line is text its user typed: escaped, never raw.
 */
export function behaviourText(e: ShellEvent | SessionEvent | SyscallsEvent): string {
  switch (e.kind) {
    case 'shell':
      return `${e.tty === null ? 'no tty' : escapeText(e.tty)} ${e.cwd === null ? '?' : escapeText(e.cwd)} $ ${escapeText(e.line)}` +
        `${e.lineTruncated ? ' …(cut)' : ''}${e.redacted ? ' (redacted)' : ''}`;
    case 'session': {
      const end = (a: string, p: number): string => (e.family === 'ipv6' ? `[${a}]:${p}` : `${a}:${p}`);
      const arrow = `${end(e.localAddress, e.localPort)} ${e.direction === 'connect' ? '->' : e.direction === 'accept' ? '<-' : '--'} ${end(e.remoteAddress, e.remotePort)}`;
      const how = e.establishedNs === null ? 'tcp (established before capture)' : `tcp ${e.direction === 'connect' ? 'connected' : 'accepted'}`;
      return `${how} ${arrow}, ${e.durationNs === null ? 'duration unknown' : formatDuration(e.durationNs)}, sent ${formatBytes(e.bytesSent)}, received ${formatBytes(e.bytesReceived)}` +
        `${e.retransmits > 0 ? `, ${e.retransmits} retransmits` : ''}`;
    }
    case 'syscalls': {
      const top = Object.entries(e.counts).sort((a, b) => b[1] - a[1]).slice(0, TOP_SYSCALLS).map(([name, n]) => `${name} ${n}`);
      const more = Object.keys(e.counts).length - top.length;
      return `${e.total} syscalls${e.final ? '' : ' so far'}: ${top.join(', ')}${more > 0 ? `, ${more} more` : ''}`;
    }
  }
}

/** What a network or file event did, without the process (shared by `watch` and `events`). */
export function captureText(e: ConnectEvent | AcceptEvent | OpenEvent): string {
  if (e.kind === 'open') return `open ${e.path} ${e.flagNames.join('|')}${e.error !== null ? ` failed: ${e.error}` : ` fd ${e.result}`}`;
  const peer = e.family === 'ipv6' ? `[${e.remoteAddress}]:${e.remotePort}` : `${e.remoteAddress}:${e.remotePort}`;
  const verb = e.kind === 'connect' ? `connect to ${peer}` : `accepted from ${peer}`;
  // A non-blocking connect returns EINPROGRESS: under way, not failed.
  const outcome = e.error === null ? '' : e.error === 'EINPROGRESS' ? ' (in progress)' : ` failed: ${e.error}`;
  return `${verb} ${e.protocol ?? 'unknown protocol'}${outcome}`;
}

function clockTime(wallMs: number): string {
  const d = new Date(wallMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export const EVENT_LINE_HEADER = `${'TIME'.padEnd(12)} ${'EVENT'.padEnd(14)} ${'PID'.padStart(7)} ${'PPID'.padStart(7)} ${'USER'.padEnd(9)} WHAT`;

export function eventLine(v: EventView, users: UserDb): string {
  const { event: e, record: r } = v;
  const uid = r?.uids?.[1];
  const user = uid === undefined ? '-' : users.userName(uid);
  const ppid = e.kind === 'fork' ? e.parentPid : r?.ppid ?? null;
  return `${clockTime(v.wallMs)} ${e.kind.padEnd(14)} ${String(e.pid).padStart(7)} ${String(ppid ?? '-').padStart(7)} ${user.slice(0, 9).padEnd(9)} ${what(v)}`;
}

export function eventJson(v: EventView, users: UserDb): Record<string, unknown> {
  const { event: e, record: r } = v;
  const out: Record<string, unknown> = { time: new Date(v.wallMs).toISOString(), ...e, key: e.key ?? null };
  if (r !== undefined) {
    out.process = {
      key: r.key, pid: r.pid, ppid: r.ppid, parentKey: r.parentKey, comm: r.comm, exe: r.exe, argv: r.argv,
      uid: r.uids?.[1] ?? null, user: r.uids ? users.userName(r.uids[1]) : null, gid: r.gids?.[1] ?? null,
      startTicks: r.startTicks, origin: r.origin,
    };
    if (e.kind === 'exit' || e.kind === 'inferred_exit') out.lifetimeNs = lifetimeNs(r);
  }
  return out;
}
