/**
 * mon's monitor convention, as ps.monitor prints it: nothing when all is well; otherwise a
 * summary line of `name:count` tokens (each followed by a space), then one detail line per fact.
 * mon has no "warning": only critical and unknown results fail.
 */

import type { CheckResult } from '../checks/index.js';
import { escapeText } from './text.js';

export interface Rendered {
  text: string;
  exitCode: number;
}

export function renderMon(results: CheckResult[]): Rendered {
  const failed = results.filter((r) => r.status === 'critical' || r.status === 'unknown');
  if (failed.length === 0) return { text: '', exitCode: 0 };
  // Summaries and details name processes (a CPU hog's script name, a port's holder): one line each, whatever they are called.
  const summary = failed.map((r) => `${escapeText(r.summary || `${r.id}:${r.status}`)} `).join('');
  const details = failed.flatMap((r) => (r.attempts > 1 ? [...r.details, `${r.id}: still failing after ${r.attempts} checks`] : r.details));
  return { text: `${summary}\n${details.map((d) => `${escapeText(d)}\n`).join('')}`, exitCode: 1 };
}
