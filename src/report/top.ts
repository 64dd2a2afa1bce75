/**
 * `procwatch top` as text (issue 12): the header (time, uptime, load, CPUs, memory, tasks,
 * events and what started and ended since the last refresh) and the process table, for the
 * interactive screen and for batch mode. Process names and command lines are written by
 * whoever runs a process: every control character is shown escaped, never sent to the terminal.
 */

import type { LiveAnswer, ResourceJson, ResourceSort } from '../api/resources.js';
import { escapeText } from './text.js';
import { formatBytes, formatCpu } from './usage.js';

/** Cuts to `width` code points (what fits a line; a process name is never allowed to wrap it). */
function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text; // code units ≥ code points: it fits
  const chars = Array.from(text);
  return chars.length <= width ? text : chars.slice(0, width).join('');
}

export interface TopColumn {
  key: string;
  header: string;
  width: number;
  /** Sorting by this column: the `sort` it stands for. */
  sort: ResourceSort | null;
  right: boolean;
  value(p: ResourceJson): string;
}

const pct = (v: number | null): string => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
/** TIME+ as top shows it: minutes:seconds.hundredths. */
export function timePlus(seconds: number | null): string {
  if (seconds === null) return '-';
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  return `${m}:${s.toFixed(2).padStart(5, '0')}`;
}
const kib = (bytes: number | null): string => (bytes === null ? '-' : bytes >= 100 * 1024 ** 3 ? formatBytes(bytes) : String(Math.round(bytes / 1024)));

/** The table's columns, in order; COMMAND takes what is left of the line. */
export const TOP_COLUMNS: TopColumn[] = [
  { key: 'pid', header: 'PID', width: 7, sort: 'pid', right: true, value: (p) => String(p.pid) },
  { key: 'user', header: 'USER', width: 9, sort: 'user', right: false, value: (p) => escapeText(p.user ?? String(p.euid ?? '?')) },
  { key: 'state', header: 'S', width: 1, sort: 'state', right: false, value: (p) => p.state ?? '?' },
  { key: 'threads', header: 'THR', width: 4, sort: 'threads', right: true, value: (p) => (p.threads === null ? '-' : String(p.threads)) },
  { key: 'cpu', header: '%CPU', width: 5, sort: 'cpu', right: true, value: (p) => pct(p.cpuPct) },
  { key: 'mem', header: '%MEM', width: 5, sort: 'mem', right: true, value: (p) => pct(p.memPct) },
  { key: 'rss', header: 'RES', width: 8, sort: 'rss', right: true, value: (p) => kib(p.rssBytes) },
  { key: 'virt', header: 'VIRT', width: 9, sort: 'vsize', right: true, value: (p) => kib(p.vsizeBytes) },
  { key: 'time', header: 'TIME+', width: 9, sort: 'time', right: true, value: (p) => timePlus(p.cpuSeconds) },
  { key: 'command', header: 'COMMAND', width: 0, sort: 'command', right: false, value: () => '' },
];

/** The command column: the command line when known, else [comm]; indented in tree view. */
function commandText(p: ResourceJson, tree: boolean): string {
  const text = p.args !== null && p.args.length > 0 ? p.args.join(' ') : `[${p.comm ?? '?'}]`;
  const indent = tree && p.depth !== undefined && p.depth > 0 ? `${'  '.repeat(p.depth - 1)} \\_ ` : '';
  return indent + escapeText(text);
}

export interface TopStyle {
  bold(s: string): string;
  inverse(s: string): string;
  dim(s: string): string;
}

export const PLAIN: TopStyle = { bold: (s) => s, inverse: (s) => s, dim: (s) => s };
export const ANSI: TopStyle = {
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
  inverse: (s) => `\x1b[7m${s}\x1b[27m`,
  dim: (s) => `\x1b[2m${s}\x1b[22m`,
};

export interface TopRender {
  /** Line width; 0: no limit (batch mode without -w). */
  width: number;
  /** Lines of processes at most; null: all of them. */
  rows: number | null;
  sort: ResourceSort;
  tree: boolean;
  style: TopStyle;
  /** Where the figures come from, for the first line: "daemon" or a notice. */
  origin: string;
  /** A line under the header (a prompt, a message); null for none. */
  message: string | null;
  paused: boolean;
  filter: string | null;
  /** The header's clock: minutes east of UTC (the daemon renders for a client's zone); null: this process's zone. */
  tzOffsetMinutes?: number | null;
}

function uptime(seconds: number | null): string {
  if (seconds === null) return '?';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${d > 0 ? `${d} day${d === 1 ? '' : 's'}, ` : ''}${h}:${String(m).padStart(2, '0')}`;
}

const mib = (b: number | null): string => (b === null ? '?' : (b / 1024 ** 2).toFixed(1));

/** The header lines of one refresh. */
export function topHeader(a: LiveAnswer, o: TopRender): string[] {
  const ms = Date.parse(a.time);
  const offset = o.tzOffsetMinutes ?? -new Date(ms).getTimezoneOffset();
  const time = new Date(ms + offset * 60_000);
  const clock = `${String(time.getUTCHours()).padStart(2, '0')}:${String(time.getUTCMinutes()).padStart(2, '0')}:${String(time.getUTCSeconds()).padStart(2, '0')}`;
  const load = a.host.load === null ? '?' : a.host.load.map((l) => l.toFixed(2)).join(', ');
  const lines = [
    `procwatch top - ${clock} up ${uptime(a.host.uptimeSeconds)}, load average: ${load}, ${a.host.cpus} CPUs  [${o.origin}, ${a.source}${o.paused ? ', PAUSED' : ''}]`,
    `Tasks: ${a.tasks.total} total, ${a.tasks.running} running, ${a.tasks.sleeping} sleeping, ${a.tasks.stopped} stopped, ${a.tasks.zombie} zombie, ${a.tasks.idle} idle; ${a.tasks.threads} threads`,
    `MiB Mem: ${mib(a.host.memTotalBytes)} total, ${mib(a.host.memFreeBytes)} free, ${mib(a.host.memAvailableBytes)} avail; MiB Swap: ${mib(a.host.swapTotalBytes)} total, ${mib(a.host.swapFreeBytes)} free`,
  ];
  if (a.events !== null) {
    lines.push(`Events: ${a.events.total} total, ${a.events.perSecond === null ? '?' : a.events.perSecond.toFixed(1)}/s, ${a.events.lost} lost`);
  } else {
    lines.push('Events: not counted (no daemon)');
  }
  if (a.churn !== null) {
    const c = a.churn;
    const top = c.top.slice(0, 3).map((t) => `${escapeText(t.comm ?? String(t.pid))} ${formatCpu(t.cpuSeconds)}`).join(', ');
    lines.push(`Since last refresh: ${c.started} started, ${c.ended} ended, ${formatCpu(c.endedCpuSeconds)} CPU of ended processes` +
      `${c.endedUnaccounted > 0 ? ` (${c.endedUnaccounted} not accounted yet)` : ''}${top === '' ? '' : `; most: ${top}`}${c.complete ? '' : ' (partial: window too old)'}`);
  } else {
    lines.push('Since last refresh: short-lived processes are seen only by the daemon');
  }
  return lines;
}

/** One refresh as lines of text (no trailing newline on each). */
export function renderTop(a: LiveAnswer, o: TopRender): string[] {
  const lines = topHeader(a, o).map((l) => (o.width > 0 ? fit(l, o.width) : l));
  const filter = o.filter === null ? '' : `filter "${escapeText(o.filter)}": ${a.matched} of ${a.tasks.total}  `;
  lines.push(o.message !== null ? o.message : `${filter}sort ${o.sort}${o.tree ? ', tree' : ''}`);
  const fixed = TOP_COLUMNS.filter((c) => c.key !== 'command');
  const cell = (c: TopColumn, v: string): string => (c.right ? v.padStart(c.width) : v.padEnd(c.width));
  const head = [...fixed.map((c) => cell(c, c.header)), 'COMMAND'];
  const sortIndex = TOP_COLUMNS.findIndex((c) => c.sort === o.sort);
  const headerText = head.map((h, i) => (i === sortIndex ? o.style.bold(h) : h)).join(' ');
  const plainHeaderLength = head.join(' ').length;
  lines.push(o.style.inverse(o.width > 0 && plainHeaderLength < o.width ? headerText + ' '.repeat(o.width - plainHeaderLength) : headerText));
  const rows = o.rows === null ? a.processes : a.processes.slice(0, Math.max(0, o.rows));
  const prefix = fixed.reduce((n, c) => n + Math.max(c.width, c.header.length) + 1, 0);
  for (const p of rows) {
    const cells = fixed.map((c) => cell(c, fit(c.value(p), Math.max(c.width, c.key === 'user' ? c.width : 99))));
    const command = commandText(p, o.tree);
    lines.push(`${cells.join(' ')} ${o.width > 0 ? fit(command, o.width - prefix) : command}`);
  }
  return lines;
}
