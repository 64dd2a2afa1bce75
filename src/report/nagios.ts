/**
 * Nagios/Icinga plugin output (Monitoring Plugins guidelines): one status line
 * `PROCS STATUS: text | perfdata`, then detail lines; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */

import { worstStatus, type CheckResult, type PerfValue } from '../checks/index.js';
import type { Rendered } from './mon.js';
import { escapeText } from './text.js';

const EXIT: Record<string, number> = { ok: 0, warning: 1, critical: 2, unknown: 3 };

/**
 * Nagios reads everything after the first '|' of any output line as perfdata, so a '|' in
 * text (a spec such as `args~^(foo|bar)$`) would cut the text and garble the perfdata. It is
 * shown as '¦', which reads the same. A newline (in a process's name: an interpreter's script
 * called "x\nOK") would start a line of its own, even a forged status line: escaped.
 */
function text(line: string): string {
  return escapeText(line).replace(/\|/g, '¦');
}

/** Labels are quoted; a quote inside is doubled. '=' and '|' are not allowed in a label. */
function perfLabel(label: string): string {
  return `'${escapeText(label).replace(/'/g, "''").replace(/[=|]/g, '_')}'`;
}

/** A value that could not be determined (an UNKNOWN result) is `U`, per the plugin guidelines. */
export function formatPerf(p: PerfValue, unknown = false, label: (text: string) => string = perfLabel): string {
  const fields = [unknown ? 'U' : `${p.value}${p.unit}`, p.warn, p.crit, p.min ?? '', p.max ?? ''];
  while (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  return `${label(p.label)}=${fields.join(';')}`;
}

/**
 * Nagios' default `illegal_macro_output_chars` (`~$&|'"<>, nagios.cfg) are removed from
 * $SERVICEOUTPUT$, $LONGSERVICEOUTPUT$ and $SERVICEPERFDATA$ before notifications and
 * perfdata commands see them: `sshd:0 < 1` arrives as `sshd:0  1`. The `nagios-plain`
 * format writes comparisons in words and those characters as look-alikes that survive.
 */
const PLAIN_CHARS: Record<string, string> = { '`': '‘', '~': '∼', $: '＄', '&': '＆', '|': '¦', "'": '’', '"': '”', '<': '‹', '>': '›' };

function plainText(line: string): string {
  return line.replace(/ < /g, ' below ').replace(/ > /g, ' above ').replace(/[`~$&|'"<>]/g, (c) => PLAIN_CHARS[c]!);
}

/** A perfdata label without quotes (they would be stripped): characters that need them become '_', control characters are escaped. */
function plainLabel(label: string): string {
  return escapeText(label).replace(/[\s'=`~$&|"<>]/g, '_');
}

/** Labels made unique: Nagios (and graphers) keep one value per label, so `sshd`, `sshd_2`, ... */
function uniqueLabels(perf: PerfValue[]): PerfValue[] {
  const used = new Set<string>();
  return perf.map((p) => {
    let label = p.label;
    for (let n = 2; used.has(label); n++) label = `${p.label}_${n}`;
    used.add(label);
    return label === p.label ? p : { ...p, label };
  });
}

/** What an OK check counted or saw, as check_procs says it ("3 processes ..."), for the OK line. */
function okText(r: CheckResult): string {
  const d = r.data as { count?: unknown; highestPercent?: unknown; sockets?: unknown; seconds?: unknown };
  if (r.kind === 'count' && typeof d.count === 'number') return `${r.id}: ${d.count} process${d.count === 1 ? '' : 'es'}`;
  if (r.kind === 'cpu' && typeof d.highestPercent === 'number') return `${r.id}: highest CPU ${d.highestPercent.toFixed(1)}%`;
  if (r.kind === 'listen' && Array.isArray(d.sockets)) return `${r.id}: listening (${d.sockets.length} socket${d.sockets.length === 1 ? '' : 's'})`;
  if (r.kind === 'banner' && typeof d.seconds === 'number') return `${r.id}: answered in ${d.seconds.toFixed(3)}s`;
  return `${r.id}: ok`;
}

export interface NagiosOptions {
  /** Text and labels without the characters Nagios strips by default (format `nagios-plain`). */
  plain?: boolean;
}

export function renderNagios(results: CheckResult[], options: NagiosOptions = {}): Rendered {
  const clean = options.plain === true ? (line: string) => text(plainText(line)) : text;
  const status = worstStatus(results.map((r) => r.status));
  const problems = results.filter((r) => r.status !== 'ok');
  const summary = problems.length === 0
    ? results.map(okText).join(', ')
    : problems.map((r) => r.summary || `${r.id}:${r.status}`).join(', ');
  const perf = results.flatMap((r) => r.perf.map((p) => ({ p, unknown: r.status === 'unknown' })));
  const labels = uniqueLabels(perf.map((x) => x.p));
  const perfText = labels.map((p, i) => formatPerf(p, perf[i]!.unknown, options.plain === true ? plainLabel : perfLabel)).join(' ');
  // As mon shows it: a check that failed every re-check says so.
  const details = problems.flatMap((r) => (r.attempts > 1 ? [...r.details, `${r.id}: still failing after ${r.attempts} checks`] : r.details)).map(clean);
  const head = `PROCS ${status.toUpperCase()}: ${clean(summary)}${perfText === '' ? '' : ` | ${perfText}`}`;
  return { text: [head, ...details].map((l) => `${l}\n`).join(''), exitCode: EXIT[status] ?? 3 };
}

/** The line printed for bad input in Nagios mode: UNKNOWN, exit 3. */
export function nagiosUnknown(message: string, options: NagiosOptions = {}): Rendered {
  return { text: `PROCS UNKNOWN: ${text(options.plain === true ? plainText(message) : message)}\n`, exitCode: 3 };
}
