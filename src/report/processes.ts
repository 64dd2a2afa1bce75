/** Text renderings of processes for the query commands: ps columns, trees, history, lineage. */

import { InputError } from '../errors.js';
import type { ProcessFields } from '../events/types.js';
import { commandText } from './events.js';
import { PLAIN, SGR, paint, type TextStyle } from './terminal.js';
import { escapeOr, escapeText } from './text.js';
import { LOCAL, formatDuration, isoDateTime, signalName, type TimeStyle } from './time.js';
import { formatBytes, formatCpu } from './usage.js';

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
  argvTruncated?: boolean;
};

/**
 * Whose clock start times are shown in: ps shows the caller's local time, and the daemon may
 * render for a caller in another time zone (`tz_offset` in the API; 0 for `--utc`).
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

/** The start time in the clock's zone (read with the UTC getters), or null when unknown. */
function startIn(p: ProcessLike, clock: WallClock): { ms: number; local: Date } | null {
  if (p.startTime === null) return null;
  const ms = Date.parse(p.startTime);
  return Number.isNaN(ms) ? null : { ms, local: new Date(ms + clock.offsetMinutes * 60_000) };
}

/** procps's STIME: HH:MM within the last day, else MonDD. */
function stime(p: ProcessLike, clock: WallClock): string {
  const t = startIn(p, clock);
  if (t === null) return '?';
  return clock.nowMs - t.ms < 86_400_000 ? `${pad2(t.local.getUTCHours())}:${pad2(t.local.getUTCMinutes())}` : `${MONTHS[t.local.getUTCMonth()]}${pad2(t.local.getUTCDate())}`;
}

/** procps's STARTED (`-o start`): HH:MM:SS within the last day, else `Mon DD`. */
function started(p: ProcessLike, clock: WallClock): string {
  const t = startIn(p, clock);
  if (t === null) return '?';
  const l = t.local;
  return clock.nowMs - t.ms < 86_400_000 ? `${pad2(l.getUTCHours())}:${pad2(l.getUTCMinutes())}:${pad2(l.getUTCSeconds())}` : `${MONTHS[l.getUTCMonth()]} ${pad2(l.getUTCDate())}`;
}

/** procps's ELAPSED: [[DD-]hh:]mm:ss. */
function elapsed(p: ProcessLike, clock: WallClock): string {
  const t = startIn(p, clock);
  if (t === null) return '?';
  const s = Math.max(0, Math.floor((clock.nowMs - t.ms) / 1000));
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60)];
  return `${d > 0 ? `${d}-` : ''}${d > 0 || h > 0 ? `${pad2(h)}:` : ''}${pad2(m)}:${pad2(s % 60)}`;
}

/** The command line of a process, quoted and escaped (text.ts). */
export function processCommand(p: ProcessLike): string {
  return commandText(p.argv, p.comm, p.argvTruncated === true);
}

const id = (v: number | null | undefined): string => (v === null || v === undefined ? '?' : String(v));
const userOf = (p: ProcessLike): string => (p.user != null ? escapeText(p.user) : id(p.euid));

interface Column {
  header: string;
  get: (p: ProcessLike, clock: WallClock) => string;
}

/**
 * `-o` fields, with the headers procps gives the same names (`-o user` USER, `-o uid` UID), and
 * procwatch's own (key, origin, label, cgroup, exe, cwd). A Map: field names come from users.
 */
const FIELDS = new Map<string, Column>([
  ['user', { header: 'USER', get: userOf }],
  ['euser', { header: 'EUSER', get: userOf }],
  ['uid', { header: 'UID', get: (p) => id(p.euid) }],
  ['euid', { header: 'EUID', get: (p) => id(p.euid) }],
  ['ruid', { header: 'RUID', get: (p) => id(p.uid) }],
  ['gid', { header: 'GID', get: (p) => id(p.egid) }],
  ['egid', { header: 'EGID', get: (p) => id(p.egid) }],
  ['rgid', { header: 'RGID', get: (p) => id(p.gid) }],
  ['pid', { header: 'PID', get: (p) => String(p.pid) }],
  ['ppid', { header: 'PPID', get: (p) => id(p.ppid) }],
  ['stime', { header: 'STIME', get: stime }],
  ['start', { header: 'STARTED', get: started }],
  ['etime', { header: 'ELAPSED', get: elapsed }],
  ['comm', { header: 'COMMAND', get: (p) => escapeOr(p.comm, '?') }],
  ['ucomm', { header: 'COMMAND', get: (p) => escapeOr(p.comm, '?') }],
  ['args', { header: 'COMMAND', get: processCommand }],
  ['command', { header: 'COMMAND', get: processCommand }],
  ['cmd', { header: 'CMD', get: processCommand }],
  ['exe', { header: 'EXE', get: (p) => escapeOr(p.exe, '?') }],
  ['cwd', { header: 'CWD', get: (p) => escapeOr(p.cwd, '?') }],
  ['key', { header: 'KEY', get: (p) => p.key }],
  ['label', { header: 'LABEL', get: (p) => escapeOr(p.label, '-') }],
  ['cgroup', { header: 'CGROUP', get: (p) => escapeOr(p.cgroup, '-') }],
  ['unit', { header: 'UNIT', get: (p) => escapeOr(p.unit, '-') }],
  ['container', { header: 'CONTAINER', get: (p) => (p.container == null ? '-' : escapeText(`${p.containerRuntime ?? '?'}:${p.container.slice(0, 12)}`)) }],
  ['nlwp', { header: 'NLWP', get: (p) => String((p.threads ?? 0) + 1) }],
  ['threads', { header: 'NLWP', get: (p) => String((p.threads ?? 0) + 1) }],
  ['thcount', { header: 'THCNT', get: (p) => String((p.threads ?? 0) + 1) }],
  ['origin', { header: 'ORIGIN', get: (p) => p.origin }],
]);

export const PS_FIELDS = [...FIELDS.keys()];
/** `ps -ef`'s columns, less those procwatch does not keep (C, TTY, TIME). */
export const PS_DEFAULT_FIELDS = ['user', 'pid', 'ppid', 'stime', 'cmd'];

export function parsePsFields(text: string): string[] {
  const fields = text.split(/[,\s]+/).map((f) => f.trim()).filter((f) => f !== '');
  for (const f of fields) {
    if (!FIELDS.has(f)) throw new InputError(`unknown field '${escapeText(f.slice(0, 40))}' for -o (known: ${PS_FIELDS.join(', ')})`);
  }
  if (fields.length === 0) throw new InputError('-o needs at least one field');
  return fields;
}

/** Columns padded to their widest value; the last column is left free (command lines are long). */
export function renderColumns(headers: string[], rows: string[][], style: TextStyle = PLAIN): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Numbers align right, as in ps; a column is numeric when every value is.
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^\d+$/.test(r[i]!)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' ');
  return [paint(style, SGR.bold, line(headers)), ...rows.map(line)].join('\n') + '\n';
}

export function renderPs(processes: ProcessLike[], fields: string[], clock: WallClock = localClock()): string {
  const columns = fields.map((f) => FIELDS.get(f)!);
  return renderColumns(columns.map((c) => c.header), processes.map((p) => columns.map((c) => c.get(p, clock))));
}

export type TreeNode = ProcessLike & { children: TreeNode[] };

export function renderTree(roots: TreeNode[]): string {
  const lines: string[] = [];
  const walk = (node: TreeNode, prefix: string, last: boolean, top: boolean): void => {
    lines.push(`${top ? '' : `${prefix}${last ? '└─ ' : '├─ '}`}${node.pid} ${userOf(node)} ${processCommand(node)}`);
    const childPrefix = top ? '' : `${prefix}${last ? '   ' : '│  '}`;
    node.children.forEach((c, i) => walk(c, childPrefix, i === node.children.length - 1, false));
  };
  for (const root of roots) walk(root, '', true, true);
  return lines.join('\n') + '\n';
}

/** How a process ended, in `watch`'s words. */
export function exitText(p: ProcessLike): string {
  if (p.exitTime === null) return 'running';
  if (p.exitOrigin === 'inferred') return 'gone (found by /proc scan)';
  if (p.exitSignal !== null) return `killed by ${signalName(p.exitSignal)}${p.coreDumped ? ' (core dumped)' : ''}`;
  return p.exitCode === null ? 'exited' : `exit code ${p.exitCode}`;
}

/** How long it ran (exited) or has been running; '?' when a time is unknown. */
function duration(p: ProcessLike, nowMs: number): string {
  const start = p.startTime === null ? NaN : Date.parse(p.startTime);
  const end = p.exitTime === null ? nowMs : Date.parse(p.exitTime);
  if (Number.isNaN(start) || Number.isNaN(end)) return '?';
  return formatDuration(Math.max(0, end - start) * 1e6);
}

export interface HistoryOptions {
  time: TimeStyle;
  style: TextStyle;
  nowMs: number;
  /** Also what each used over its life (history --sort or --min-*): CPU, peak RSS, storage I/O; "-" while running or unknown. */
  usage?: boolean;
}

const HISTORY_DEFAULTS = (): HistoryOptions => ({ time: LOCAL, style: PLAIN, nowMs: Date.now() });

export function renderHistory(processes: ProcessLike[], options: HistoryOptions = HISTORY_DEFAULTS()): string {
  const headers = ['START', 'END', 'DURATION', 'USER', 'PID', 'PPID', 'STATUS'];
  if (options.usage) headers.push('CPU', 'MAXRSS', 'READ', 'WRITE');
  return renderColumns(
    [...headers, 'CMD'],
    processes.map((p) => {
      const row = [
        isoDateTime(p.startTime, options.time), p.exitTime === null ? '-' : isoDateTime(p.exitTime, options.time), duration(p, options.nowMs),
        userOf(p), String(p.pid), id(p.ppid), exitText(p),
      ];
      if (options.usage) {
        const u = p.usage;
        row.push(u == null ? '-' : formatCpu(u.cpuSeconds), u == null ? '-' : formatBytes(u.maxRssBytes),
          u == null ? '-' : formatBytes(u.readBytes), u == null ? '-' : formatBytes(u.writeBytes));
      }
      row.push(processCommand(p));
      return row;
    }),
    options.style,
  );
}

export interface LineageLike {
  process: ProcessLike;
  ancestors: ProcessLike[];
  descendants: Array<ProcessLike & { depth: number }>;
  truncated: boolean;
}

export function renderLineage(l: LineageLike, options: HistoryOptions = HISTORY_DEFAULTS()): string {
  const row = (p: ProcessLike): string =>
    `${p.pid} ${userOf(p)} ${processCommand(p)}  [started ${isoDateTime(p.startTime, options.time)}, ${exitText(p)}${p.exitTime === null ? ' for' : ' after'} ${duration(p, options.nowMs)}; key ${p.key}]`;
  const lines: string[] = [paint(options.style, SGR.bold, 'ancestors (oldest first):')];
  if (l.ancestors.length === 0) lines.push('  (none known)');
  [...l.ancestors].reverse().forEach((a, i) => lines.push(`${'  '.repeat(i + 1)}${row(a)}`));
  lines.push(`${'  '.repeat(l.ancestors.length + 1)}${paint(options.style, SGR.bold, `* ${row(l.process)}`)}`);
  lines.push(paint(options.style, SGR.bold, 'descendants:'));
  if (l.descendants.length === 0) lines.push('  (none)');
  for (const d of l.descendants) lines.push(`${'  '.repeat(d.depth + 1)}${row(d)}`);
  if (l.truncated) lines.push('  … more descendants (raise --limit)');
  return lines.join('\n') + '\n';
}
