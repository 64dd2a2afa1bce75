/**
 * Alerts as text: `procwatch alerts`, `procwatch rules test` and the log action. Rule output
 * and process names are written by whoever runs a process: every one is escaped here.
 */

import type { Alert } from '../alerts/types.js';
import { escapeText } from './text.js';

/** One line per alert: time, severity, state, rule or check, message (escaped), process key. */
export function alertLine(a: Alert): string {
  const state = a.state === 'resolved' ? ` RESOLVED ${a.resolvedTime ?? ''}` : '';
  const suppressed = a.suppressed > 0 ? ` [${a.suppressed} suppressed]` : '';
  const key = a.key === null ? '' : ` key=${escapeText(a.key)}`;
  return `${a.time} ${a.severity.toUpperCase().padEnd(8)} ${a.source} ${escapeText(a.name)}${state}: ${escapeText(a.message)}${suppressed}${key}`;
}
