/** Count checks: how many processes match a spec, against its range (ps.monitor's check). */

import { compileSelectors, type Predicate } from './match.js';
import { processName } from './naming.js';
import { inRange, nagiosRange, type CountSpec, type Range } from './spec.js';
import { emptyResult, type Check, type CheckEnv, type Round } from './check.js';
import type { ProcessView, Snapshot } from './snapshot.js';
import type { CheckResult, CheckStatus, ProcessBrief } from './types.js';

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

/** What a count alone says against the ranges, before unreadable processes are considered. */
function countStatus(count: number, critical: Range, warning: Range | null): CheckStatus {
  if (!inRange(count, critical)) return 'critical';
  return warning !== null && !inRange(count, warning) ? 'warning' : 'ok';
}

export class CountCheck implements Check {
  readonly kind = 'count' as const;
  readonly id: string;
  private matches: Predicate | null = null;

  constructor(readonly spec: CountSpec, id?: string) {
    this.id = id ?? spec.label;
  }

  prepare(env: CheckEnv): void {
    this.matches = compileSelectors(this.spec.selectors, env);
  }

  async evaluate(round: Round): Promise<CheckResult> {
    if (this.matches === null) this.prepare(round);
    const matches = this.matches!;
    const snapshot = round.snapshot();
    const matched: ProcessView[] = [];
    let unknown = 0;
    for (const proc of snapshot.processes) {
      const verdict = matches(proc, snapshot);
      if (verdict === true) matched.push(proc);
      else if (verdict === null && !vanished(proc, snapshot)) unknown++;
    }
    const count = matched.length;
    const { critical, warning } = this.spec;
    const result = emptyResult(this.id, 'count');
    result.data = { count, unknown, critical, warning, spec: this.spec.text };
    result.perf.push({ label: this.id, value: count, unit: '', warn: warning ? nagiosRange(warning) : '', crit: nagiosRange(critical), min: 0, max: null });
    result.processes = matched.slice(0, MAX_LISTED).map((p) => brief(p, round));
    result.status = countStatus(count, critical, warning);
    if (result.status === 'critical') result.details.push(psMonitorDetail(this.id, count, critical));
    if (result.status === 'warning') result.details.push(`${psMonitorDetail(this.id, count, warning!)} warning`);
    if (result.status !== 'ok') result.summary = `${this.id}:${count}`;
    if (unknown === 0) return result;
    const usesLabel = this.spec.selectors.some((s) => s.key === 'label' || s.key === 'domain');
    if (usesLabel && snapshot.processes.every((p) => p.label() === null)) {
      return unknownResult(result, `${this.id}: no process has a readable security label: is an LSM (SELinux, AppArmor, Smack) enabled?`);
    }
    // Each unreadable process may or may not match: the true count is somewhere in
    // count..count+unknown. If the verdict is not the same for all of those, it is unknown
    // (as a plugin run by user nagios cannot see root's processes' executables).
    for (let possible = count + 1; possible <= count + unknown; possible++) {
      if (countStatus(possible, critical, warning) !== result.status) {
        return unknownResult(result, `${this.id}: ${unknown} process(es) could not be read (vanished or hidden): the count is between ${count} and ${count + unknown}, which changes the verdict`);
      }
    }
    result.details.push(`${this.id}: ${unknown} process(es) could not be read (vanished or hidden) and were not counted`);
    return result;
  }
}

/**
 * A process that could not be read because it has exited since the snapshot (its /proc entry is
 * gone, or the pid is another process's now) is not running: it is not counted, and it cannot
 * make the verdict unknown. On a busy host some process always exits mid-scan; only a process
 * still there and unreadable (hidden from this user) leaves its match in doubt.
 */
function vanished(proc: ProcessView, snapshot: Snapshot): boolean {
  const now = snapshot.reader.stat(proc.pid);
  return now === null || now.startTicks !== proc.stat.startTicks;
}

/** The verdict cannot be given: say why instead of a count that may be wrong. */
function unknownResult(result: CheckResult, why: string): CheckResult {
  return { ...result, status: 'unknown', summary: `${result.id}:unknown`, details: [why] };
}
