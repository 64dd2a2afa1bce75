/**
 * CPU checks: alert on any process using more than a share of one CPU, over its lifetime
 * or over a sampled window, unless its user or name is exempt (the seed's whitelist: BOINC,
 * gzip from cron, and regular users who may compress a file at any time).
 */

import { readFileSync } from 'node:fs';
import { CLOCK_TICKS_PER_SECOND } from '../procfs/index.js';
import { processName } from './naming.js';
import { brief } from './count.js';
import { emptyResult, type Check, type Round } from './check.js';
import type { CheckResult } from './types.js';
import type { Snapshot } from './snapshot.js';

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

export class CpuCheck implements Check {
  readonly kind = 'cpu' as const;

  constructor(readonly spec: CpuSpec, readonly id: string = 'cpu') {}

  private exemptUids(round: Round): Set<number> {
    const uids = new Set<number>();
    for (const user of this.spec.exemptUsers) {
      const uid = /^\d+$/.test(user) ? Number(user) : round.users.passwd.byName.get(user);
      if (uid !== undefined) uids.add(uid);
    }
    return uids;
  }

  private async measure(round: Round): Promise<{ usage: Usage[]; snapshot: Snapshot }> {
    const first = round.snapshot();
    if (this.spec.windowSeconds === null) {
      const usage = first.processes
        .filter((p) => first.uptimeSeconds - p.stat.startTicks / CLOCK_TICKS_PER_SECOND >= this.spec.minAgeSeconds)
        .map((p) => {
          const age = first.uptimeSeconds - p.stat.startTicks / CLOCK_TICKS_PER_SECOND;
          return { pid: p.pid, percent: age > 0 ? (100 * p.cpuSeconds()) / age : 0 };
        });
      return { usage, snapshot: first };
    }
    await new Promise((resolve) => setTimeout(resolve, this.spec.windowSeconds! * 1000));
    const second = round.freshSnapshot();
    const elapsed = second.uptimeSeconds - first.uptimeSeconds;
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
    const { usage, snapshot } = await this.measure(round);
    const exemptUids = this.exemptUids(round);
    const exemptNames = new Set(this.spec.exemptNames);
    const [uidMin, uidMax] = this.spec.exemptRegularUsers ? regularUidRange(round.users.etcRoot) : [1, 0];
    const threshold = this.spec.warningPercent ?? this.spec.criticalPercent;
    const result = emptyResult(this.id, 'cpu');
    let highest = 0;
    const offenders: Array<Usage & { critical: boolean }> = [];
    for (const u of usage) {
      highest = Math.max(highest, u.percent);
      if (u.percent <= threshold) continue;
      const proc = snapshot.byPid.get(u.pid);
      if (proc === undefined) continue;
      if (!this.spec.includeKernelThreads && proc.isKernelThread) continue;
      const name = processName(proc, round.interpreters);
      if (name !== null && exemptNames.has(name)) continue;
      const euid = proc.status()?.uids[1];
      if (euid !== undefined && (exemptUids.has(euid) || (euid >= uidMin && euid <= uidMax))) continue;
      offenders.push({ ...u, critical: u.percent > this.spec.criticalPercent });
    }
    offenders.sort((a, b) => b.percent - a.percent);
    const over = this.spec.windowSeconds === null ? 'over its lifetime' : `over the last ${this.spec.windowSeconds}s`;
    for (const o of offenders) {
      const proc = snapshot.byPid.get(o.pid)!;
      const b = brief(proc, round);
      result.processes.push(b);
      const limit = o.critical ? this.spec.criticalPercent : threshold;
      result.details.push(`pid ${o.pid} ${b.name} (user ${b.user ?? '?'}) used ${o.percent.toFixed(1)}% CPU ${over}, limit ${limit}%${o.critical ? '' : ' warning'}`);
    }
    if (offenders.length > 0) {
      result.status = offenders.some((o) => o.critical) ? 'critical' : 'warning';
      result.summary = offenders.map((o) => `${result.processes.find((p) => p.pid === o.pid)?.name ?? o.pid}(${o.pid}):${o.percent.toFixed(0)}%`).join(' ');
    }
    result.perf.push({ label: `${this.id}_max`, value: Number(highest.toFixed(1)), unit: '%', warn: this.spec.warningPercent === null ? '' : String(this.spec.warningPercent), crit: String(this.spec.criticalPercent), min: 0, max: null });
    result.data = { highestPercent: highest, offenders: offenders.map((o) => ({ pid: o.pid, percent: o.percent })), window: this.spec.windowSeconds };
    return result;
  }
}
