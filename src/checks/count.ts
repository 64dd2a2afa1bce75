/** Count checks: how many processes match a spec, against its range (ps.monitor's check). */

import { compileSelectors } from './match.js';
import { processName } from './naming.js';
import { inRange, nagiosRange, type CountSpec, type Range } from './spec.js';
import { emptyResult, type Check, type Round } from './check.js';
import type { ProcessView } from './snapshot.js';
import type { CheckResult, ProcessBrief } from './types.js';

/** Processes listed per result; enough to act on without flooding a pager. */
const MAX_LISTED = 50;

/**
 * ps.monitor's detail line, kept byte for byte: a missing bound prints as the count
 * (Perl's `$min || $count`), so `sshd:1-` with none running reads `sshd:0 < 1 (1-0)`.
 */
function psMonitorDetail(label: string, count: number, range: Range): string {
  // ps.monitor ignores a maximum of 0 and never prints this case: show the real bounds, not `1 > 1 (1-1)`.
  if (range.max === 0) return `${label}:${count} > 0 (0-0)`;
  const min = range.min || count;
  const max = range.max || count;
  return range.min !== null && count < range.min ? `${label}:${count} < ${min} (${min}-${max})` : `${label}:${count} > ${max} (${min}-${max})`;
}

export function brief(proc: ProcessView, round: Round): ProcessBrief {
  const status = proc.status();
  const argv = proc.argv();
  return {
    pid: proc.pid,
    ppid: proc.ppid,
    name: processName(proc, round.interpreters) ?? proc.comm,
    user: status === null ? null : round.users.userName(status.uids[1]),
    args: argv === null ? null : argv.length === 0 ? `[${proc.comm}]` : argv.join(' '),
  };
}

export class CountCheck implements Check {
  readonly kind = 'count' as const;
  readonly id: string;

  constructor(readonly spec: CountSpec, id?: string) {
    this.id = id ?? spec.label;
  }

  async evaluate(round: Round): Promise<CheckResult> {
    const snapshot = round.snapshot();
    const matches = compileSelectors(this.spec.selectors, { users: round.users, interpreters: round.interpreters, snapshot });
    const matched: ProcessView[] = [];
    let unknown = 0;
    for (const proc of snapshot.processes) {
      const verdict = matches(proc);
      if (verdict === true) matched.push(proc);
      else if (verdict === null) unknown++;
    }
    const count = matched.length;
    const { critical, warning } = this.spec;
    const result = emptyResult(this.id, 'count');
    result.data = { count, unknown, critical, warning, spec: this.spec.text };
    result.perf.push({ label: this.id, value: count, unit: '', warn: warning ? nagiosRange(warning) : '', crit: nagiosRange(critical), min: 0, max: null });
    result.processes = matched.slice(0, MAX_LISTED).map((p) => brief(p, round));
    if (!inRange(count, critical)) {
      result.status = 'critical';
      result.details.push(psMonitorDetail(this.id, count, critical));
    } else if (warning !== null && !inRange(count, warning)) {
      result.status = 'warning';
      result.details.push(`${psMonitorDetail(this.id, count, warning)} warning`);
    }
    if (result.status !== 'ok') result.summary = `${this.id}:${count}`;
    const usesLabel = this.spec.selectors.some((s) => s.key === 'label' || s.key === 'domain');
    if (unknown > 0 && usesLabel && snapshot.processes.every((p) => p.label() === null)) {
      result.details.push(`${this.id}: no process has a readable security label: is an LSM (SELinux, AppArmor, Smack) enabled?`);
      result.status = 'unknown';
    } else if (unknown > 0) {
      result.details.push(`${this.id}: ${unknown} process(es) could not be read (vanished or hidden) and were not counted`);
      if (count === 0 && unknown === snapshot.processes.length) result.status = 'unknown';
    }
    return result;
  }
}
