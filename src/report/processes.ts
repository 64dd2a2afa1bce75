/** Text renderings of processes for the query commands: ps columns, trees, history, lineage, events. */

import { InputError } from '../errors.js';
import type { AcceptEvent, ConnectEvent, OpenEvent, ProcessFields, ProcessUsage, SessionEvent, ShellEvent, SyscallsEvent } from '../events/types.js';
import { behaviourText, captureText } from './events.js';
import { own } from '../util/own.js';
import { formatBytes, formatCpu, usageText } from './usage.js';

/**
 * What the renderers need: the shared process fields, plus what the live table, the store and
 * the /proc fallback add (the same names everywhere: README "Process fields").
 */
export type ProcessLike = ProcessFields & {
  user?: string | null;
  threads?: number;
  live?: boolean;
  execTime?: string | null;
  suid?: number | null;
  fsuid?: number | null;
  sgid?: number | null;
  fsgid?: number | null;
};

/**
 * Whose clock start times are shown in: ps shows the caller's local time, and the daemon may
 * render for a caller in another time zone (`tz_offset` in the API).
 */
export interface WallClock {
  nowMs: number;
  /** Minutes east of UTC, as `-new Date().getTimezoneOffset()` gives them. */
  offsetMinutes: number;
}

export function localClock(): WallClock {
  return { nowMs: Date.now(), offsetMinutes: -new Date().getTimezoneOffset() };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** ps's STIME: HH:MM within the last day, else MonDD. */
function stime(iso: string | null, clock: WallClock): string {
  if (iso === null) return '?';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return '?';
  const local = new Date(ms + clock.offsetMinutes * 60_000); // read with the UTC getters
  return clock.nowMs - ms < 86_400_000 ? `${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}` : `${MONTHS[local.getUTCMonth()]}${pad2(local.getUTCDate())}`;
}

export function commandText(p: ProcessLike): string {
  if (p.argv !== null && p.argv.length > 0) return p.argv.join(' ');
  return p.comm === null ? '(unknown)' : `[${p.comm}]`;
}

const FIELDS: Record<string, { header: string; get: (p: ProcessLike, clock: WallClock) => string }> = {
  user: { header: 'UID', get: (p) => p.user ?? (p.euid === null ? '?' : String(p.euid)) },
  uid: { header: 'EUID', get: (p) => String(p.euid ?? '?') },
  ruid: { header: 'RUID', get: (p) => String(p.uid ?? '?') },
  gid: { header: 'EGID', get: (p) => String(p.egid ?? '?') },
  pid: { header: 'PID', get: (p) => String(p.pid) },
  ppid: { header: 'PPID', get: (p) => String(p.ppid ?? '?') },
  start: { header: 'STIME', get: (p, clock) => stime(p.startTime, clock) },
  comm: { header: 'COMMAND', get: (p) => p.comm ?? '?' },
  exe: { header: 'EXE', get: (p) => p.exe ?? '?' },
  args: { header: 'CMD', get: commandText },
  key: { header: 'KEY', get: (p) => p.key },
  label: { header: 'LABEL', get: (p) => p.label ?? '-' },
  cgroup: { header: 'CGROUP', get: (p) => p.cgroup ?? '-' },
  unit: { header: 'UNIT', get: (p) => p.unit ?? '-' },
  container: { header: 'CONTAINER', get: (p) => (p.container === null ? '-' : `${p.containerRuntime ?? '?'}:${p.container.slice(0, 12)}`) },
  threads: { header: 'NLWP', get: (p) => String((p.threads ?? 0) + 1) },
  origin: { header: 'ORIGIN', get: (p) => p.origin },
};

export const PS_FIELDS = Object.keys(FIELDS);
export const PS_DEFAULT_FIELDS = ['user', 'pid', 'ppid', 'start', 'args'];

export function parsePsFields(text: string): string[] {
  const fields = text.split(',').map((f) => f.trim()).filter((f) => f !== '');
  for (const f of fields) if (own(FIELDS, f) === undefined) throw new InputError(`unknown field '${f}' for -o (known: ${PS_FIELDS.join(', ')})`);
  if (fields.length === 0) throw new InputError('-o needs at least one field');
  return fields;
}

/** Columns padded to their widest value; the last column is left free (command lines are long). */
export function renderColumns(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Numbers align right, as in ps; a column is numeric when every value is.
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^\d+$/.test(r[i]!)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' ');
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function renderPs(processes: ProcessLike[], fields: string[], clock: WallClock = localClock()): string {
  const columns = fields.map((f) => own(FIELDS, f)!);
  return renderColumns(columns.map((c) => c.header), processes.map((p) => columns.map((c) => c.get(p, clock))));
}

export type TreeNode = ProcessLike & { children: TreeNode[] };

export function renderTree(roots: TreeNode[]): string {
  const lines: string[] = [];
  const walk = (node: TreeNode, prefix: string, last: boolean, top: boolean): void => {
    const user = node.user ?? String(node.euid ?? '?');
    lines.push(`${top ? '' : `${prefix}${last ? '└─ ' : '├─ '}`}${node.pid} ${user} ${commandText(node)}`);
    const childPrefix = top ? '' : `${prefix}${last ? '   ' : '│  '}`;
    node.children.forEach((c, i) => walk(c, childPrefix, i === node.children.length - 1, false));
  };
  for (const root of roots) walk(root, '', true, true);
  return lines.join('\n') + '\n';
}

function exitText(p: ProcessLike): string {
  if (p.exitTime === null) return 'running';
  if (p.exitOrigin === 'inferred') return 'gone (inferred)';
  if (p.exitSignal !== null) return `signal ${p.exitSignal}`;
  return p.exitCode === null ? 'exited' : `exit ${p.exitCode}`;
}

/** `usage`: also what each used over its life (history --sort or --min-*): CPU, peak RSS, storage I/O; "-" while running or unknown. */
export function renderHistory(processes: ProcessLike[], options: { usage?: boolean } = {}): string {
  const headers = ['START', 'END', 'USER', 'PID', 'PPID', 'STATUS'];
  if (options.usage) headers.push('CPU', 'MAXRSS', 'READ', 'WRITE');
  return renderColumns(
    [...headers, 'CMD'],
    processes.map((p) => {
      const row = [p.startTime ?? '?', p.exitTime ?? '-', String(p.user ?? p.euid ?? '?'), String(p.pid), String(p.ppid ?? '?'), exitText(p)];
      if (options.usage) {
        const u = p.usage;
        row.push(u === null ? '-' : formatCpu(u.cpuSeconds), u === null ? '-' : formatBytes(u.maxRssBytes),
          u === null ? '-' : formatBytes(u.readBytes), u === null ? '-' : formatBytes(u.writeBytes));
      }
      row.push(commandText(p));
      return row;
    }),
  );
}

export interface LineageLike {
  process: ProcessLike;
  ancestors: ProcessLike[];
  descendants: Array<ProcessLike & { depth: number }>;
  truncated: boolean;
}

export function renderLineage(l: LineageLike): string {
  const row = (p: ProcessLike): string => `${p.pid} [${p.key}] ${commandText(p)} (${p.startTime ?? '?'} → ${exitText(p)})`;
  const lines: string[] = ['ancestors (oldest first):'];
  if (l.ancestors.length === 0) lines.push('  (none known)');
  [...l.ancestors].reverse().forEach((a, i) => lines.push(`${'  '.repeat(i + 1)}${row(a)}`));
  lines.push(`${'  '.repeat(l.ancestors.length + 1)}* ${row(l.process)}`);
  lines.push('descendants:');
  if (l.descendants.length === 0) lines.push('  (none)');
  for (const d of l.descendants) lines.push(`${'  '.repeat(d.depth + 1)}${row(d)}`);
  if (l.truncated) lines.push('  … more descendants (raise --limit)');
  return lines.join('\n') + '\n';
}

/** One line for an event as the API gives it (stored or live: same top-level fields). */
export function eventObjectLine(e: Record<string, unknown>): string {
  const details = e.details as { argv?: string[] | null; comm?: string | null } | undefined;
  const status = e.status as { code: number | null; signal: number | null; coreDumped: boolean } | undefined;
  let what = '';
  switch (e.kind) {
    case 'exec': case 'inferred_start': what = details?.argv?.join(' ') || `[${details?.comm ?? '?'}]`; break;
    case 'exit': what = status?.signal != null ? `signal ${status.signal}${status.coreDumped ? ' (core)' : ''}` : `code ${status?.code}`; break;
    case 'fork': what = `parent ${String(e.parentPid)}${e.thread ? ' (thread)' : ''}`; break;
    case 'uid': what = `ruid ${String(e.ruid)} euid ${String(e.euid)}`; break;
    case 'gid': what = `rgid ${String(e.rgid)} egid ${String(e.egid)}`; break;
    case 'comm': what = `comm ${String(e.comm)}`; break;
    case 'ptrace': what = `tracer ${String(e.tracerPid)}`; break;
    case 'lost': what = `!! ${e.count === null ? '?' : String(e.count)} lost: ${String(e.reason)}`; break;
    // The API sends these with the event model's own field names.
    case 'connect': case 'accept': case 'open': what = captureText(e as unknown as ConnectEvent | AcceptEvent | OpenEvent); break;
    case 'shell': case 'session': case 'syscalls': what = behaviourText(e as unknown as ShellEvent | SessionEvent | SyscallsEvent); break;
    case 'acct': what = e.usage === undefined ? '' : usageText(e.usage as ProcessUsage); break;
    default: what = '';
  }
  return `${String(e.time)} ${String(e.kind).padEnd(14)} ${String(e.pid).padStart(7)} ${String(e.key ?? '-').padEnd(16)} ${what}`;
}
