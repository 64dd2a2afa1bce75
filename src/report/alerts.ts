/**
 * Alerts as text: `procwatch alerts`, `procwatch rules test` and the log action. Rule output
 * and process names are written by whoever runs a process: every one is escaped here.
 */

import type { Alert } from '../alerts/types.js';
import { escapeText } from './text.js';

/** Rule output and process names as text: report/text.ts escapes for every text output (README "Escaping"). */
export const printable = escapeText;

/** One line per alert: time, severity, state, rule or check, message (escaped), process key. */
export function alertLine(a: Alert): string {
  const state = a.state === 'resolved' ? ` RESOLVED ${a.resolvedTime ?? ''}` : '';
  const suppressed = a.suppressed > 0 ? ` [${a.suppressed} suppressed]` : '';
  const key = a.key === null ? '' : ` key=${printable(a.key)}`;
  return `${a.time} ${a.severity.toUpperCase().padEnd(8)} ${a.source} ${printable(a.name)}${state}: ${printable(a.message)}${suppressed}${key}`;
}
