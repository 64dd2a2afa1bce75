/**
 * Alerts as text: `procwatch alerts`, `procwatch rules test` and the log action. Rule output
 * and process names are written by whoever runs a process: every one is escaped here.
 */

import type { Alert } from '../alerts/types.js';

/**
 * Control characters (C0, DEL, C1), backslashes and, in a one-line field, line breaks as
 * `\xHH` escapes: a process name cannot move the cursor, clear a terminal or forge a line.
 * (Issue 17 brings one shared helper for every text output; this is the alerts' own until then.)
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\\\u2028\u2029]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** One line per alert: time, severity, state, rule or check, message (escaped), process key. */
export function alertLine(a: Alert): string {
  const state = a.state === 'resolved' ? ` RESOLVED ${a.resolvedTime ?? ''}` : '';
  const suppressed = a.suppressed > 0 ? ` [${a.suppressed} suppressed]` : '';
  const key = a.key === null ? '' : ` key=${printable(a.key)}`;
  return `${a.time} ${a.severity.toUpperCase().padEnd(8)} ${a.source} ${printable(a.name)}${state}: ${printable(a.message)}${suppressed}${key}`;
}
