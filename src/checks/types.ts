/** What every check produces; report/ renders these and nothing else. */

export type CheckStatus = 'ok' | 'warning' | 'critical' | 'unknown';

export const STATUS_RANK: Record<CheckStatus, number> = { ok: 0, warning: 1, critical: 2, unknown: 3 };

export interface PerfValue {
  label: string;
  value: number;
  unit: '' | 's' | '%';
  warn: string;
  crit: string;
  min: number | null;
  max: number | null;
}

/** A process named in a result, enough for a human to act on. */
export interface ProcessBrief {
  pid: number;
  ppid: number;
  name: string;
  user: string | null;
  args: string | null;
}

export interface CheckResult {
  /** The spec text or the config name: how the user refers to this check. */
  id: string;
  kind: 'count' | 'cpu' | 'listen' | 'banner';
  status: CheckStatus;
  /** One token for the summary line (ps.monitor's `name:count`), empty when ok. */
  summary: string;
  /** Detail lines, one fact each. */
  details: string[];
  perf: PerfValue[];
  processes: ProcessBrief[];
  /** How many times it was evaluated (re-checks of a failing check). */
  attempts: number;
  /** Kind-specific numbers for JSON output. */
  data: Record<string, unknown>;
}

export function worstStatus(statuses: CheckStatus[]): CheckStatus {
  let worst: CheckStatus = 'ok';
  for (const s of statuses) if (STATUS_RANK[s] > STATUS_RANK[worst]) worst = s;
  return worst;
}
