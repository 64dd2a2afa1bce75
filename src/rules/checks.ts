/**
 * Continuous checks (README: "Continuous checks"): the config's `checks:`, in the grammar of
 * `procwatch check`, judged by the daemon. Count checks follow the live table: each event
 * re-tests only the process it touched, so a verdict changes the moment a process starts,
 * execs or ends, with no polling. CPU, listen and banner checks run at an interval. A
 * failing check fires once it has failed for `for` (the seed's transient restart), and
 * resolves when it passes again: one alert per state change.
 */

import type { ProcEvent } from '../events/types.js';
import type { Clock, ProcessRecord, ProcessTable } from '../table/index.js';
import { ProcReader, PF_KTHREAD, type ProcStat, type ProcStatus, type UserDb } from '../procfs/index.js';
import { CountCheck, ProcessView, runChecks, PS_MONITOR_INTERPRETERS, type Check, type CheckResult, type Snapshot } from '../checks/index.js';
import { compileSelectors, type Predicate } from '../checks/match.js';
import { inRange } from '../checks/spec.js';
import type { Alert } from '../alerts/types.js';
import type { Severity } from './ruleset.js';

export interface ContinuousCheckSpec {
  check: Check;
  /** How long it must keep failing before it fires (ms; 0: at once). */
  forMs: number;
  /** CPU, listen and banner checks: how often they run (ms). */
  intervalMs: number;
  /** Null: from the verdict (warning or critical). */
  severity: Severity | null;
  actions: string[];
  interpreters: ReadonlySet<string>;
}

export interface CheckState {
  name: string;
  kind: string;
  /** The latest verdict. */
  status: 'ok' | 'warning' | 'critical' | 'unknown';
  /** `ok`, `pending` (failing, waiting out `for`), `firing`. */
  state: 'ok' | 'pending' | 'firing';
  since: string;
  detail: string;
  /** Count checks: matching live processes. */
  count: number | null;
}

export interface ChecksOptions {
  table: ProcessTable;
  clock: Clock;
  users: UserDb;
  bootId: string;
  raise(alert: Alert): void;
  resolve(alert: Alert): void;
  log(line: string): void;
}

/** Event kinds that can change whether a process matches a selector. */
const MATTERS = new Set(['fork', 'exec', 'exit', 'uid', 'gid', 'comm', 'inferred_start', 'inferred_exit']);

const NO_READER = new ProcReader('/nonexistent-procwatch-table-view');

/** A table record as the check selectors see a process (what /proc would say, from the table). */
class RecordView extends ProcessView {
  constructor(private readonly r: ProcessRecord) {
    const kernel = r.exe === null && r.argv !== null && r.argv.length === 0 && (r.pid === 2 || r.ppid === 2);
    const stat = {
      pid: r.pid, ppid: r.ppid ?? 0, comm: r.comm ?? '', state: r.exitNs === null ? 'S' : 'Z', flags: kernel ? PF_KTHREAD : 0,
      utime: 0, stime: 0, startTicks: r.startTicks ?? 0, numThreads: 1,
    } as unknown as ProcStat;
    super(NO_READER, stat);
  }
  override status(): ProcStatus | null {
    const r = this.r;
    return r.uids === null || r.gids === null ? null : { name: r.comm ?? '', tgid: r.pid, ppid: r.ppid ?? 0, uids: r.uids, gids: r.gids, groups: [] };
  }
  override argv(): string[] | null { return this.r.argv; }
  override exe(): string | null { return this.r.exe; }
  override label(): string | null { return this.r.label; }
}

/** `parent=` looks parents up by pid in the live table. */
class TableByPid extends Map<number, ProcessView> {
  constructor(private readonly table: ProcessTable) {
    super();
  }
  override get(pid: number): ProcessView | undefined {
    const r = this.table.live.get(pid);
    return r === undefined ? undefined : new RecordView(r);
  }
}

interface Tracked {
  spec: ContinuousCheckSpec;
  name: string;
  /** Count checks: the predicate and the keys of matching live processes. */
  predicate: Predicate | null;
  matching: Set<string>;
  usesParent: boolean;
  status: CheckState['status'];
  detail: string;
  state: CheckState['state'];
  sinceMs: number;
  timer: NodeJS.Timeout | null;
  interval: NodeJS.Timeout | null;
  firing: Alert | null;
  dirty: boolean;
}

export class ContinuousChecks {
  private tracked: Tracked[] = [];
  private snapshot: Snapshot;

  constructor(private readonly o: ChecksOptions) {
    this.snapshot = { processes: [], byPid: new TableByPid(o.table), uptimeSeconds: null, reader: NO_READER };
  }

  /** Installs a (new) set of checks: a check that stays keeps its state (a reload does not re-fire it). */
  configure(specs: ContinuousCheckSpec[]): void {
    const old = new Map(this.tracked.map((t) => [t.name, t]));
    this.tracked = specs.map((spec) => {
      const before = old.get(spec.check.id);
      old.delete(spec.check.id);
      if (before !== undefined) this.clearTimers(before);
      const t: Tracked = {
        spec, name: spec.check.id, predicate: null, matching: new Set(), usesParent: false, status: before?.status ?? 'ok', detail: before?.detail ?? '',
        state: before?.state ?? 'ok', sinceMs: before?.sinceMs ?? Date.now(), timer: null, interval: null, firing: before?.firing ?? null, dirty: true,
      };
      if (spec.check instanceof CountCheck) {
        t.predicate = compileSelectors(spec.check.spec.selectors, { users: this.o.users, interpreters: spec.interpreters });
        t.usesParent = spec.check.spec.selectors.some((s) => s.key === 'parent');
        for (const r of this.o.table.live.values()) if (this.matches(t, r)) t.matching.add(r.key);
        this.judgeCount(t);
      } else {
        t.interval = setInterval(() => void this.runInterval(t), spec.intervalMs);
        t.interval.unref();
        void this.runInterval(t);
      }
      // A state carried over from before the reload goes on: pending waits again.
      if (t.state === 'pending') this.arm(t);
      return t;
    });
    // Checks that are gone: their firing alerts resolve (nobody judges them any more).
    for (const t of old.values()) {
      this.clearTimers(t);
      if (t.firing !== null) this.resolve(t, 'the check was removed from the config');
    }
  }

  private matches(t: Tracked, r: ProcessRecord): boolean {
    return r.exitNs === null && t.predicate!(new RecordView(r), this.snapshot) === true;
  }

  /** Released events: re-test the processes they touched; judge the checks whose count changed. */
  onEvents(events: readonly ProcEvent[]): void {
    if (this.tracked.length === 0) return;
    const counts = this.tracked.filter((t) => t.predicate !== null);
    if (counts.length === 0) return;
    for (const e of events) {
      if (!MATTERS.has(e.kind) || !e.key) continue;
      const r = this.o.table.get(e.key);
      for (const t of counts) {
        const was = t.matching.has(e.key);
        const is = r !== undefined && this.matches(t, r);
        if (was !== is) {
          if (is) t.matching.add(e.key);
          else t.matching.delete(e.key);
          t.dirty = true;
        }
        // A renamed or re-exec'd parent may change what `parent=` says of its children.
        if (t.usesParent && (e.kind === 'exec' || e.kind === 'comm') && r !== undefined) {
          for (const child of this.o.table.childrenOf(r.key)) {
            const c = t.matching.has(child.key);
            const n = this.matches(t, child);
            if (c !== n) { if (n) t.matching.add(child.key); else t.matching.delete(child.key); t.dirty = true; }
          }
        }
      }
    }
    for (const t of counts) if (t.dirty) this.judgeCount(t);
  }

  private judgeCount(t: Tracked): void {
    t.dirty = false;
    const check = t.spec.check as CountCheck;
    const { critical, warning } = check.spec;
    const count = t.matching.size;
    const status = !inRange(count, critical) ? 'critical' : warning !== null && !inRange(count, warning) ? 'warning' : 'ok';
    const range = status === 'warning' ? warning! : critical;
    const expected = `${range.min ?? ''}-${range.max ?? ''}`;
    this.judge(t, status, status === 'ok' ? `${t.name}: ${count} matching` : `${t.name}: ${count} matching process(es), expected ${expected} (${check.spec.text})`);
  }

  private async runInterval(t: Tracked): Promise<void> {
    let result: CheckResult | undefined;
    try {
      [result] = await runChecks([t.spec.check], {
        procRoot: '/proc', etcRoot: '/etc', interpreters: t.spec.interpreters, recheckDelaySeconds: 0, recheckTimes: 0, excludePids: new Set([process.pid]),
      });
    } catch (err) {
      this.o.log(`procwatch daemon: check ${t.name} could not run: ${(err as Error).message}`);
      return;
    }
    if (!this.tracked.includes(t) || result === undefined) return;
    this.judge(t, result.status, result.status === 'ok' ? `${t.name}: ok` : [result.summary, ...result.details].filter((s) => s !== '').join('; '));
  }

  /** The state machine: ok → pending (failing, for `for`) → firing → ok (resolved). */
  private judge(t: Tracked, status: CheckState['status'], detail: string): void {
    const failing = status === 'warning' || status === 'critical';
    t.status = status;
    t.detail = detail;
    if (failing) {
      if (t.state === 'ok') {
        t.state = 'pending';
        t.sinceMs = Date.now();
        if (t.spec.forMs === 0) this.fire(t);
        else this.arm(t);
      }
    } else if (t.state !== 'ok') {
      this.clearTimer(t);
      if (t.state === 'firing') this.resolve(t, detail);
      t.state = 'ok';
      t.sinceMs = Date.now();
    }
  }

  private arm(t: Tracked): void {
    this.clearTimer(t);
    t.timer = setTimeout(() => {
      t.timer = null;
      // Still failing after `for`: fire. (Any passing verdict in between reset it to ok.)
      if (t.state === 'pending' && (t.status === 'warning' || t.status === 'critical')) this.fire(t);
    }, Math.max(0, t.sinceMs + t.spec.forMs - Date.now()));
    t.timer.unref();
  }

  private fire(t: Tracked): void {
    t.state = 'firing';
    const severity: Severity = t.spec.severity ?? (t.status === 'warning' ? 'warning' : 'critical');
    const alert: Alert = {
      id: 0, source: 'check', name: t.name, severity, message: t.detail, time: new Date().toISOString(), state: 'firing', resolvedTime: null,
      key: null, process: null, eventKind: null, eventSeq: null, mode: 'monitor', actions: t.spec.actions, suppressed: 0, tags: [t.spec.check.kind],
      bootId: this.o.bootId, origin: `checks.${t.name}`,
    };
    t.firing = alert;
    this.o.raise(alert);
  }

  private resolve(t: Tracked, detail: string): void {
    const alert = t.firing;
    t.firing = null;
    if (alert === null) return;
    alert.state = 'resolved';
    alert.resolvedTime = new Date().toISOString();
    this.o.log(`procwatch daemon: check ${t.name} resolved: ${detail}`);
    this.o.resolve(alert);
  }

  private clearTimer(t: Tracked): void {
    if (t.timer !== null) clearTimeout(t.timer);
    t.timer = null;
  }

  private clearTimers(t: Tracked): void {
    this.clearTimer(t);
    if (t.interval !== null) clearInterval(t.interval);
    t.interval = null;
  }

  states(): CheckState[] {
    return this.tracked.map((t) => ({
      name: t.name, kind: t.spec.check.kind, status: t.status, state: t.state, since: new Date(t.sinceMs).toISOString(), detail: t.detail,
      count: t.predicate === null ? null : t.matching.size,
    }));
  }

  stop(): void {
    for (const t of this.tracked) this.clearTimers(t);
  }
}

export const DEFAULT_INTERPRETERS: ReadonlySet<string> = new Set(PS_MONITOR_INTERPRETERS);
