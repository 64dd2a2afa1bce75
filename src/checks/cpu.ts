/**
 * CPU checks: alert on any process using more than a share of one CPU, over its lifetime
 * or over a sampled window, unless its user or name is exempt (the seed's whitelist: BOINC,
 * gzip from cron, and regular users who may compress a file at any time).
 */

import { readFileSync } from 'node:fs';
import { CLOCK_TICKS_PER_SECOND } from '../procfs/index.js';
import { processName } from './naming.js';
import { brief } from './count.js';
import { InputError } from '../errors.js';
import { emptyResult, MAX_WAIT_SECONDS, waitSeconds, type Check, type CheckEnv, type Round } from './check.js';
import type { CheckResult } from './types.js';
import type { ProcessView, Snapshot } from './snapshot.js';

export interface CpuSpec {
  /** Critical above this percentage of one CPU (a process with threads can pass 100). */
  criticalPercent: number;
  warningPercent: number | null;
  /** Sample over this many seconds; null measures over each process's lifetime. */
  windowSeconds: number | null;
  /** Lifetime mode ignores processes younger than this: a second-old process is all noise. */
  minAgeSeconds: number;
  exemptUsers: string[];
  exemptNames: string[];
  exemptRegularUsers: boolean;
  includeKernelThreads: boolean;
}

/** UID_MIN/UID_MAX from login.defs: the range of regular users' ids. */
export function regularUidRange(etcRoot: string): [number, number] {
  let min = 1000;
  let max = 60000;
  try {
    for (const line of readFileSync(`${etcRoot}/login.defs`, 'utf8').split('\n')) {
      const m = /^\s*(UID_MIN|UID_MAX)\s+(\d+)/.exec(line);
      if (m?.[1] === 'UID_MIN') min = Number(m[2]);
      if (m?.[1] === 'UID_MAX') max = Number(m[2]);
    }
  } catch {
    // No login.defs: Debian's defaults.
  }
  return [min, max];
}

interface Usage { pid: number; percent: number }

/** Throws InputError for levels that cannot work: a warning at or above critical would hide it. */
export function validateCpuSpec(spec: CpuSpec): void {
  if (spec.warningPercent !== null && spec.warningPercent >= spec.criticalPercent) {
    throw new InputError(`the CPU warning level (${spec.warningPercent}%) must be below the critical level (${spec.criticalPercent}%)`);
  }
  if (spec.windowSeconds !== null && !(spec.windowSeconds > 0 && spec.windowSeconds <= MAX_WAIT_SECONDS)) {
    throw new InputError(`the CPU window (${spec.windowSeconds}s) must be above 0 and at most ${MAX_WAIT_SECONDS}s`);
  }
}

export class CpuCheck implements Check {
  readonly kind = 'cpu' as const;
  private exemptUids: ReadonlySet<number> | null = null;

  constructor(readonly spec: CpuSpec, readonly id: string = 'cpu') {
    validateCpuSpec(spec);
  }

  /** Exempt users by name or uid; a name /etc/passwd does not know is a typo, not nobody. */
  prepare(env: CheckEnv): void {
    const uids = new Set<number>();
    for (const user of this.spec.exemptUsers) {
      const uid = /^\d+$/.test(user) ? Number(user) : env.users.passwd.byName.get(user);
      if (uid === undefined) throw new InputError(`unknown user '${user}' in the CPU check's exempt users`);
      uids.add(uid);
    }
    this.exemptUids = uids;
  }

  /** Null when /proc/uptime cannot be read: without it no share can be computed. */
  private async measure(round: Round): Promise<{ usage: Usage[]; snapshot: Snapshot } | null> {
    const first = round.snapshot();
    const firstUptime = first.uptimeSeconds;
    if (firstUptime === null) return null;
    if (this.spec.windowSeconds === null) {
      const usage: Usage[] = [];
      for (const p of first.processes) {
        const age = firstUptime - p.stat.startTicks / CLOCK_TICKS_PER_SECOND;
        if (age >= this.spec.minAgeSeconds) usage.push({ pid: p.pid, percent: age > 0 ? (100 * p.cpuSeconds()) / age : 0 });
      }
      return { usage, snapshot: first };
    }
    await waitSeconds(this.spec.windowSeconds);
    const second = round.freshSnapshot();
    if (second.uptimeSeconds === null) return null;
    const elapsed = second.uptimeSeconds - firstUptime;
    const usage: Usage[] = [];
    for (const p of second.processes) {
      const before = first.byPid.get(p.pid);
      // Same pid but another start time is another process: compare instances only.
      if (before === undefined || before.stat.startTicks !== p.stat.startTicks || elapsed <= 0) continue;
      usage.push({ pid: p.pid, percent: (100 * (p.cpuSeconds() - before.cpuSeconds())) / elapsed });
    }
    return { usage, snapshot: second };
  }

  async evaluate(round: Round): Promise<CheckResult> {
    if (this.exemptUids === null) this.prepare(round);
    const result = emptyResult(this.id, 'cpu');
    const measured = await this.measure(round);
    if (measured === null) {
      result.status = 'unknown';
      result.summary = `${this.id}:unknown`;
      result.details.push(`${this.id}: cannot read ${round.reader.root}/uptime, so CPU use cannot be computed`);
      return result;
    }
    const { usage, snapshot } = measured;
    const exemptNames = new Set(this.spec.exemptNames);
    const [uidMin, uidMax] = this.spec.exemptRegularUsers ? regularUidRange(round.users.etcRoot) : [1, 0];
    const isExempt = (proc: ProcessView): boolean => {
      if (!this.spec.includeKernelThreads && proc.isKernelThread) return true;
      const name = processName(proc, round.interpreters);
      if (name !== null && exemptNames.has(name)) return true;
      const euid = proc.status()?.uids[1];
      return euid !== undefined && (this.exemptUids!.has(euid) || (euid >= uidMin && euid <= uidMax));
    };
    // Filter on the lower level, so a process above warning is seen even when it is not critical.
    const threshold = Math.min(this.spec.warningPercent ?? Infinity, this.spec.criticalPercent);
    // Highest first: exemptions (a file read each) are looked at only for processes above the
    // threshold, and until the first process that is not exempt, which is the highest share.
    usage.sort((a, b) => b.percent - a.percent);
    let highest: number | null = null;
    const offenders: Array<Usage & { critical: boolean; proc: ProcessView }> = [];
    for (const u of usage) {
      if (u.percent <= threshold && highest !== null) break;
      const proc = snapshot.byPid.get(u.pid);
      if (proc === undefined || isExempt(proc)) continue;
      highest ??= u.percent;
      if (u.percent > threshold) offenders.push({ ...u, proc, critical: u.percent > this.spec.criticalPercent });
    }
    const over = this.spec.windowSeconds === null ? 'over its lifetime' : `over the last ${this.spec.windowSeconds}s`;
    for (const o of offenders) {
      const b = brief(o.proc, round);
      result.processes.push(b);
      const limit = o.critical ? this.spec.criticalPercent : threshold;
      result.details.push(`pid ${o.pid} ${b.name} (user ${b.user ?? '?'}) used ${o.percent.toFixed(1)}% CPU ${over}, limit ${limit}%${o.critical ? '' : ' warning'}`);
    }
    if (offenders.length > 0) {
      result.status = offenders.some((o) => o.critical) ? 'critical' : 'warning';
      result.summary = offenders.map((o, i) => `${result.processes[i]!.name}(${o.pid}):${o.percent.toFixed(0)}%`).join(' ');
    }
    const max = highest ?? 0;
    result.perf.push({ label: `${this.id}_max`, value: Number(max.toFixed(1)), unit: '%', warn: this.spec.warningPercent === null ? '' : String(this.spec.warningPercent), crit: String(this.spec.criticalPercent), min: 0, max: null });
    result.data = { highestPercent: max, offenders: offenders.map((o) => ({ pid: o.pid, percent: o.percent })), window: this.spec.windowSeconds };
    return result;
  }
}
