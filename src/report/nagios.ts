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

export function formatPerf(p: PerfValue): string {
  const fields = [`${p.value}${p.unit}`, p.warn, p.crit, p.min ?? '', p.max ?? ''];
  while (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  return `${perfLabel(p.label)}=${fields.join(';')}`;
}

export function renderNagios(results: CheckResult[]): Rendered {
  const status = worstStatus(results.map((r) => r.status));
  const problems = results.filter((r) => r.status !== 'ok');
  const summary = problems.length === 0
    ? `${results.length} check(s) ok`
    : problems.map((r) => r.summary || `${r.id}:${r.status}`).join(', ');
  const perf = results.flatMap((r) => r.perf).map(formatPerf).join(' ');
  const details = problems.flatMap((r) => r.details).map(text);
  const head = `PROCS ${status.toUpperCase()}: ${text(summary)}${perf === '' ? '' : ` | ${perf}`}`;
  return { text: [head, ...details].map((l) => `${l}\n`).join(''), exitCode: EXIT[status] ?? 3 };
}

/** The line printed for bad input in Nagios mode: UNKNOWN, exit 3. */
export function nagiosUnknown(message: string): Rendered {
  return { text: `PROCS UNKNOWN: ${text(message)}\n`, exitCode: 3 };
}
