/**
 * The rule engine: released events in, alerts out. It never blocks the event path: events
 * wait in a bounded queue and are evaluated in slices between other work; what the queue
 * cannot hold is dropped and counted (README: "Rule engine"), and a rule that throws is
 * counted, not fatal. The rule set is swapped whole on reload.
 */

import type { IdQuad, ProcEvent } from '../events/types.js';
import type { ProcessRecord } from '../table/index.js';
import type { Alert, AlertProcess } from '../alerts/types.js';
import { cgroupName } from '../procfs/cgroup.js';
import { NoiseControl, type SuppressedSummary } from './noise.js';
import { fieldText } from './template.js';
import type { Rule, RuleSet } from './ruleset.js';
import type { RuleScope, ScopeContext } from './scope.js';

/** Events evaluated per slice before yielding to the event loop. */
const SLICE = 2000;

export interface RuleCounters {
  /** Matches, alerts, duplicates (same rule and key), suppressed (over the rate limit), errors (the condition threw). */
  matches: number;
  alerts: number;
  errors: number;
  /** Evaluations and their total time in ns (only while profiling). */
  evaluations: number;
  timeNs: number;
}

export interface EngineCounters {
  queued: number;
  evaluated: number;
  /** Events not evaluated because the queue was full. */
  dropped: number;
  matches: number;
  alerts: number;
  duplicates: number;
  suppressed: number;
  errors: number;
  /** Baseline rules' new items learnt without alerting (the window is still being learnt). */
  learning: number;
}

/** What baseline rules ask: is this item new for its group? (README: "Baseline rules"). */
export interface BaselineJudge {
  /** `new`: never seen in the window (alert); `known`; `learning`: not enough history yet (remembered, no alert). */
  observe(rule: Rule, group: string, item: string, nowMs: number): 'new' | 'known' | 'learning';
}

export interface EngineOptions {
  ctx: ScopeContext;
  bootId: string;
  maxQueue: number;
  onAlert: (alert: Alert) => void;
  baseline?: BaselineJudge;
  /** Measure each rule's evaluation time (benchmarks, `rules test --profile`). */
  profile?: boolean;
  now?: () => number;
}

interface Pending {
  event: ProcEvent;
  record: ProcessRecord | undefined;
  previousUids: IdQuad | null;
}

/** Processes whose uids are remembered (for `event.previousEuid`); beyond, the oldest are forgotten. */
const MAX_TRACKED = 200_000;

export function alertProcess(r: ProcessRecord | undefined, users: ScopeContext): AlertProcess | null {
  if (r === undefined) return null;
  const names = cgroupName(r.cgroup);
  return {
    key: r.key, pid: r.pid, ppid: r.ppid, comm: r.comm, exe: r.exe, argv: r.argv === null ? null : [...r.argv],
    user: r.uids === null ? null : users.userName(r.uids[1]), uid: r.uids === null ? null : r.uids[1],
    unit: names.unit, container: names.containerId, containerRuntime: names.runtime, startTicks: r.startTicks,
  };
}

export class RuleEngine {
  private set: RuleSet | null = null;
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly noise: NoiseControl;
  private readonly now: () => number;
  readonly counters: EngineCounters = { queued: 0, evaluated: 0, dropped: 0, matches: 0, alerts: 0, duplicates: 0, suppressed: 0, errors: 0, learning: 0 };
  /** By rule name; kept across reloads for the rules that stay. */
  readonly perRule = new Map<string, RuleCounters>();
  private droppedSinceReport = 0;
  /** The rule set's rules by event kind, each with its counters (no lookup by name per evaluation). */
  private byKind = new Map<string, Array<{ rule: Rule; counters: RuleCounters }>>();
  /** Each process's uids after its last event: what a uid event changed them from. */
  private readonly uids = new Map<string, IdQuad | null>();

  constructor(private readonly options: EngineOptions) {
    this.now = options.now ?? Date.now;
    this.noise = new NoiseControl((s) => this.summary(s));
  }

  get ruleSet(): RuleSet | null {
    return this.set;
  }

  /** Installs a (new) rule set; events already queued are evaluated with it. */
  setRuleSet(set: RuleSet): void {
    this.noise.flush(this.now());
    this.set = set;
    for (const rule of set.rules) if (!this.perRule.has(rule.name)) this.perRule.set(rule.name, { matches: 0, alerts: 0, errors: 0, evaluations: 0, timeNs: 0 });
    this.byKind = new Map([...set.byKind].map(([kind, rules]) => [kind, rules.map((rule) => ({ rule, counters: this.perRule.get(rule.name)! }))]));
  }

  /** Processes whose uids are remembered now (live ones, at most MAX_TRACKED). */
  get trackedProcesses(): number {
    return this.uids.size;
  }

  /** The uids of processes alive before the stream starts (the table's seed). */
  seedUids(records: Iterable<ProcessRecord>): void {
    for (const r of records) this.uids.set(r.key, r.uids);
  }

  /** Takes released events (the daemon's stream). Never blocks; drops and counts beyond maxQueue. */
  push(events: readonly ProcEvent[], recordAt: (e: ProcEvent) => ProcessRecord | undefined): void {
    if (this.set === null || this.set.rules.length === 0) return;
    for (const event of events) {
      const record = recordAt(event);
      const previousUids = this.track(event, record);
      if (this.queue.length >= this.options.maxQueue) {
        this.counters.dropped++;
        this.droppedSinceReport++;
        continue;
      }
      this.queue.push({ event, record, previousUids });
    }
    this.counters.queued = this.queue.length;
    if (!this.scheduled && this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /**
   * Remembers the process's uids after the event; returns those before it. An ended process is
   * forgotten at its exit and not remembered again by what follows it (its exit accounting,
   * a final syscall profile): before, every `acct` re-added its process, so the map kept one
   * entry per ended process up to MAX_TRACKED, ~150 bytes each (BENCHMARKS.md, "The rule engine
   * kept every ended process's uids").
   */
  private track(event: ProcEvent, record: ProcessRecord | undefined): IdQuad | null {
    const key = event.key;
    if (key === null || key === undefined) return null;
    const known = this.uids.get(key); // undefined: not remembered (null: remembered as unknown)
    const before = known ?? null;
    if (event.kind === 'exit' || event.kind === 'inferred_exit') {
      if (known !== undefined) this.uids.delete(key);
    } else if (record !== undefined && record.exitNs === null && (before === null || record.uids !== before)) {
      if (known === undefined && this.uids.size >= MAX_TRACKED) this.uids.delete(this.uids.keys().next().value!);
      this.uids.set(key, record.uids);
    }
    return before;
  }

  /** Events dropped since the last call (the daemon logs them, once in a while). */
  takeDropped(): number {
    const n = this.droppedSinceReport;
    this.droppedSinceReport = 0;
    return n;
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.queue.length <= SLICE ? this.queue : this.queue.slice(0, SLICE);
    this.queue = this.queue.length <= SLICE ? [] : this.queue.slice(SLICE);
    for (const p of batch) this.evaluate(p.event, p.record, p.previousUids);
    this.counters.queued = this.queue.length;
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Evaluates every rule for one event now; alerts go to onAlert. Returns the rules that matched (replay uses it). */
  evaluate(event: ProcEvent, record: ProcessRecord | undefined, previousUids: IdQuad | null = null): Rule[] {
    const set = this.set;
    if (set === null) return [];
    const rules = this.byKind.get(event.kind);
    this.counters.evaluated++;
    if (rules === undefined || rules.length === 0) return [];
    const scope = new set.scopeClass({ event, record, ctx: this.options.ctx, previousUids });
    const matched: Rule[] = [];
    const profile = this.options.profile === true;
    for (const { rule, counters: c } of rules) {
      let hit: boolean;
      try {
        if (profile) {
          const t0 = process.hrtime.bigint();
          hit = rule.matches(scope);
          c.timeNs += Number(process.hrtime.bigint() - t0);
          c.evaluations++;
        } else {
          hit = rule.matches(scope);
        }
      } catch {
        c.errors++;
        this.counters.errors++;
        continue;
      }
      if (!hit) continue;
      if (rule.baseline !== null && this.options.baseline !== undefined) {
        const b = rule.baseline;
        const verdict = this.options.baseline.observe(rule, fieldText(b.groupOf(scope)), fieldText(b.itemOf(scope)), this.now());
        if (verdict === 'learning') this.counters.learning++;
        if (verdict !== 'new') continue;
      }
      c.matches++;
      this.counters.matches++;
      matched.push(rule);
      this.admit(rule, scope, event, record);
    }
    return matched;
  }

  private admit(rule: Rule, scope: RuleScope, event: ProcEvent, record: ProcessRecord | undefined): void {
    const extra = { rule: rule.name, severity: rule.severity };
    const key = rule.dedup === 'none' ? null : rule.dedup === 'process' ? (event.key ?? `event:${event.seq}`) : rule.dedup(scope, extra);
    const nowMs = this.now();
    const verdict = this.noise.admit(rule.name, key, rule.rateLimit, nowMs);
    if (verdict === 'duplicate') { this.counters.duplicates++; return; }
    if (verdict === 'suppressed') { this.counters.suppressed++; return; }
    this.perRule.get(rule.name)!.alerts++;
    this.counters.alerts++;
    this.options.onAlert({
      id: 0, source: 'rule', name: rule.name, severity: rule.severity, message: rule.output(scope, extra),
      time: new Date(this.options.ctx.wallMs(event.ktimeNs)).toISOString(), state: 'firing', resolvedTime: null,
      key: event.key ?? null, process: alertProcess(record, this.options.ctx), eventKind: event.kind, eventSeq: event.seq,
      mode: rule.mode, actions: rule.actions, suppressed: 0, tags: rule.tags, bootId: this.options.bootId, origin: `${rule.file}:${rule.line}`,
    });
  }

  /** A rule's rate-limit window closed with matches held back: one alert says how many. */
  private summary(s: SuppressedSummary): void {
    const rule = this.set?.rules.find((r) => r.name === s.rule);
    if (rule === undefined) return;
    this.perRule.get(rule.name)!.alerts++;
    this.counters.alerts++;
    this.options.onAlert({
      id: 0, source: 'rule', name: rule.name, severity: rule.severity,
      message: `${s.count} further match(es) of ${rule.name} suppressed by its rate limit (${rule.rateLimit.count} per ${rule.rateLimit.perMs / 1000}s) from ${new Date(s.fromMs).toISOString()} to ${new Date(s.toMs).toISOString()}`,
      time: new Date(s.toMs).toISOString(), state: 'firing', resolvedTime: null, key: null, process: null, eventKind: null, eventSeq: null,
      // A summary goes to the rule's notifying actions, never to kill.
      mode: rule.mode, actions: rule.actions.filter((a) => a !== 'kill'), suppressed: s.count, tags: rule.tags, bootId: this.options.bootId,
      origin: `${rule.file}:${rule.line}`,
    });
  }

  /** Evaluates what is queued and sends pending summaries (at stop). */
  finish(): void {
    while (this.queue.length > 0) this.drain();
    this.noise.flush(this.now());
  }
}
