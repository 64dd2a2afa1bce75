/**
 * How events look to users: one text line (`watch`, `events`: the same columns and words), or one
 * JSON object (watch --json, and the API). Field names of the JSON form are a public interface
 * (README: Event fields). Every string a process controls is escaped (text.ts).
 */

import type { AcceptEvent, ConnectEvent, OpenEvent, ProcEvent, SessionEvent, ShellEvent, SyscallsEvent } from '../events/types.js';
import type { ProcessRecord } from '../table/index.js';
import type { UserDb } from '../procfs/index.js';
import { PLAIN, SGR, paint, type TextStyle } from './terminal.js';
import { commandLine as quotedArgv, escapeOr, escapeText } from './text.js';
import { LOCAL, clockTime, dateTime, formatDuration, signalName, type TimeStyle } from './time.js';
import { formatBytes, usageText } from './usage.js';

export { formatDuration } from './time.js';

export interface EventView {
  event: ProcEvent;
  /** The table's record of the process right after the event (ProcessTable.recordAt), if it has one. */
  record: ProcessRecord | undefined;
  wallMs: number;
}

/** What a line shows of the process an event belongs to, from the live table or the API's `process`. */
export interface LineProcess {
  comm: string | null;
  argv: readonly string[] | null;
  argvTruncated: boolean;
  ppid: number | null;
  /** Effective uid. */
  euid: number | null;
  lifetimeNs: number | null;
  /** False when the record shows a later image than the one the process had at this event (a fork before an exec). */
  inheritedImage: boolean;
}

export interface EventLineOptions {
  time: TimeStyle;
  style: TextStyle;
  /** With the date (events: a range may span days); watch shows the time of day. */
  dated: boolean;
}

export const WATCH_LINE: EventLineOptions = { time: LOCAL, style: PLAIN, dated: false };

export function lifetimeNs(r: ProcessRecord | undefined): number | null {
  return r?.startNs != null && r.exitNs !== null ? Math.max(0, r.exitNs - r.startNs) : null;
}

function recordProcess(r: ProcessRecord | undefined): LineProcess | undefined {
  if (r === undefined) return undefined;
  return { comm: r.comm, argv: r.argv, argvTruncated: r.argvTruncated, ppid: r.ppid, euid: r.uids?.[1] ?? null, lifetimeNs: lifetimeNs(r), inheritedImage: r.inheritedImage !== false };
}

/** A command line, quoted where a word must be; `[comm]` when argv is unknown or empty (kernel threads). */
export function commandText(argv: readonly string[] | null, comm: string | null, truncated = false): string {
  if (argv !== null && argv.length > 0) return quotedArgv(argv) + (truncated ? ' …' : '');
  if (comm !== null) return `[${escapeText(comm)}]`;
  return '(unknown)';
}

function eventCommand(e: ProcEvent, p: LineProcess | undefined): string {
  if (e.kind === 'exec' || e.kind === 'inferred_start') return commandText(e.details.argv, e.details.comm, e.details.argvTruncated);
  return commandText(p?.argv ?? null, p?.comm ?? null, p?.argvTruncated);
}

function exitStatusText(e: ProcEvent & { kind: 'exit' }): string {
  if (e.status.signal !== null) return `killed by ${signalName(e.status.signal)}${e.status.coreDumped ? ' (core dumped)' : ''}`;
  return `exit code ${e.status.code ?? '?'}`;
}

function what(e: ProcEvent, p: LineProcess | undefined): string {
  switch (e.kind) {
    case 'exec': return eventCommand(e, p) + (e.provenance === 'inferred' ? ' (new image, found by /proc scan)' : '');
    case 'inferred_start': return `${eventCommand(e, p)} (running, found by /proc scan)`;
    // A child that already exec'd (later in the same released batch, or for a stored event, at
    // any time later) shows no command here: at the fork it still ran its parent's image, and
    // the exec line names the new one. A new thread's fork event names the process's own
    // parent (CLONE_THREAD shares it): the thread is the pid's.
    case 'fork': return e.thread ? `thread ${e.tid} of ${e.pid}` : p?.inheritedImage === false ? `forked by ${e.parentPid}` : `${eventCommand(e, p)} (forked by ${e.parentPid})`;
    case 'exit': case 'inferred_exit': {
      const life = p?.lifetimeNs ?? null;
      const comm = e.kind === 'exit' && e.comm != null ? e.comm : p?.comm ?? null;
      const status = e.kind === 'inferred_exit' ? 'gone (found by /proc scan)' : exitStatusText(e);
      return `${escapeOr(comm, '(unknown)')} ${status}${life === null ? '' : `, lived ${formatDuration(life)}`}`;
    }
    case 'uid': return `uid ${e.ruid} euid ${e.euid}: ${eventCommand(e, p)}`;
    case 'gid': return `gid ${e.rgid} egid ${e.egid}: ${eventCommand(e, p)}`;
    case 'sid': return `new session: ${eventCommand(e, p)}`;
    case 'ptrace': return e.tracerPid === 0 ? `ptrace detach: ${eventCommand(e, p)}` : `ptrace attach by ${e.tracerPid}: ${eventCommand(e, p)}`;
    case 'comm': return `comm is now "${escapeText(e.comm)}"`;
    case 'coredump': return `dumping core: ${eventCommand(e, p)}`;
    case 'lost': {
      const count = e.count === null ? 'an unknown number of' : String(e.count);
      // The daemon's reconcile records the time nobody watched (seq 0): no source resync follows that.
      return `!! LOST ${count} event(s): ${escapeText(e.reason)}${e.seq === 0 ? '' : '; table resynced from /proc'}`;
    }
    case 'connect': case 'accept': case 'open': return `${captureText(e)}: ${eventCommand(e, p)}`;
    case 'acct': return `${escapeOr(p?.comm ?? null, '(unknown)')} used ${usageText(e.usage)}`;
    case 'shell': return behaviourText(e);
    case 'session': case 'syscalls': return `${behaviourText(e)}: ${eventCommand(e, p)}`;
  }
}

/** What a connect returned: the verdict a user asks for, the errno name otherwise. */
function connectOutcome(e: ConnectEvent): string {
  if (e.error === null) return 'connected';
  switch (e.error) {
    case 'EINPROGRESS': return 'in progress'; // non-blocking: the answer comes later, on the socket
    case 'ECONNREFUSED': return 'refused';
    case 'ETIMEDOUT': return 'timed out';
    case 'ENETUNREACH': case 'EHOSTUNREACH': return `unreachable (${e.error})`;
    default: return `failed: ${e.error}`;
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
  if (e.kind === 'open') {
    return `open ${escapeText(e.path)}${e.pathTruncated ? '…' : ''} ${e.flagNames.join('|')}${e.error !== null ? ` failed: ${e.error}` : ` fd ${e.result}`}`;
  }
  const peer = e.family === 'ipv6' ? `[${e.remoteAddress}]:${e.remotePort}` : `${e.remoteAddress}:${e.remotePort}`;
  const protocol = e.protocol ?? 'unknown protocol';
  return e.kind === 'connect' ? `connect to ${peer} ${protocol}: ${connectOutcome(e)}` : `accepted from ${peer} ${protocol}`;
}

/** A user column as ps prints one: 9 wide, a longer name cut with '+'. */
function userColumn(name: string): string {
  return (name.length > 9 ? `${name.slice(0, 8)}+` : name).padEnd(9);
}

export function eventLineHeader(options: EventLineOptions = WATCH_LINE): string {
  const time = options.dated ? 'TIME'.padEnd(23 + (options.time.utc ? 1 : 0)) : 'TIME'.padEnd(12 + (options.time.utc ? 1 : 0));
  return paint(options.style, SGR.bold, `${time} ${'EVENT'.padEnd(14)} ${'PID'.padStart(7)} ${'PPID'.padStart(7)} ${'USER'.padEnd(9)} WHAT`);
}

/** Kept for callers of the first release: the header of `watch`. */
export const EVENT_LINE_HEADER = eventLineHeader();

function kindColor(e: ProcEvent): string | null {
  switch (e.kind) {
    case 'exec': return SGR.green;
    case 'lost': return SGR.redBold;
    case 'exit': return e.status.signal !== null ? SGR.red : e.status.code !== 0 ? SGR.yellow : null;
    case 'inferred_start': case 'inferred_exit': return SGR.magenta;
    case 'connect': case 'accept': case 'open': return SGR.cyan;
    default: return null;
  }
}

/** The effective user right after the event: the event's own ids where it carries them. */
function eventEuid(e: ProcEvent, p: LineProcess | undefined): number | null {
  if ((e.kind === 'exec' || e.kind === 'inferred_start') && e.details.uids !== null) return e.details.uids[1];
  if (e.kind === 'uid') return e.euid;
  return p?.euid ?? null;
}

function eventPpid(e: ProcEvent, p: LineProcess | undefined): number | null {
  if (e.kind === 'fork') return e.parentPid;
  if ((e.kind === 'exit' || e.kind === 'coredump') && e.parentPid !== null) return e.parentPid;
  if ((e.kind === 'exec' || e.kind === 'inferred_start') && e.details.ppid !== null) return e.details.ppid;
  return p?.ppid ?? null;
}

function line(e: ProcEvent, p: LineProcess | undefined, wallMs: number, users: UserDb, options: EventLineOptions): string {
  const uid = eventEuid(e, p);
  const user = uid === null ? '-' : escapeText(users.userName(uid));
  const ppid = eventPpid(e, p);
  const time = !Number.isFinite(wallMs) ? '?'.padEnd(options.dated ? 23 : 12) : options.dated ? dateTime(wallMs, options.time, true) : clockTime(wallMs, options.time);
  const color = kindColor(e);
  const kind = e.kind.padEnd(14);
  const text = `${time} ${color === null ? kind : paint(options.style, color, kind)} ${String(e.pid).padStart(7)} ${String(ppid ?? '-').padStart(7)} ${userColumn(user)} ${what(e, p)}`;
  return e.kind === 'lost' ? paint(options.style, SGR.redBold, text) : text;
}

/** A `watch` line: the event with the live table's record as of that event. */
export function eventLine(v: EventView, users: UserDb, options: EventLineOptions = WATCH_LINE): string {
  return line(v.event, recordProcess(v.record), v.wallMs, users, options);
}

/** The API's `process` object of an event (stored or live), as a line needs it. */
function apiProcess(e: Record<string, unknown>): LineProcess | undefined {
  const p = e.process as Record<string, unknown> | null | undefined;
  if (p === null || p === undefined) return undefined;
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  return {
    comm: typeof p.comm === 'string' ? p.comm : null,
    argv: Array.isArray(p.argv) ? (p.argv as string[]) : null,
    argvTruncated: p.argvTruncated === true,
    ppid: num(p.ppid),
    euid: num(p.uid), // the API's event `process.uid` is the effective uid
    lifetimeNs: num(e.lifetimeNs),
    // A stored process that exec'd later shows that later image, not the one it forked with.
    inheritedImage: p.execTime === undefined || p.execTime === null,
  };
}

/** An `events` line: an event as the API gives it (stored or followed: the same top-level fields). */
export function apiEventLine(e: Record<string, unknown>, users: UserDb, options: EventLineOptions): string {
  const wallMs = typeof e.time === 'string' ? Date.parse(e.time) : NaN;
  return line(e as unknown as ProcEvent, apiProcess(e), wallMs, users, options);
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
