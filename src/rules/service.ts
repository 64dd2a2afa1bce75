/**
 * The daemon's rules room: the rule engine fed by the released-events stream, the alerts it
 * raises (stored, counted, streamed, delivered), and reloads. Its public interface is this
 * class; the daemon only constructs it, and the API reads it.
 */

import { readFileSync, readlinkSync } from 'node:fs';
import type { ProcEvent } from '../events/types.js';
import type { ProcessTracker, ProcessRecord } from '../table/index.js';
import type { EventStore } from '../store/index.js';
import { UserDb, labelDomain, parseNetSockets } from '../procfs/index.js';
import { AlertCenter } from '../alerts/center.js';
import { AlertStore } from '../alerts/store.js';
import { Dispatcher } from '../alerts/dispatcher.js';
import { RuleEngine } from './engine.js';
import { loadRulesSetup, type RulesSetup } from './setup.js';
import type { ScopeContext } from './scope.js';
import { ContinuousChecks } from './checks.js';
import { StoreBaseline } from './baseline.js';
import type { RulesMetrics } from '../report/prometheus.js';

/** What the rules room needs of the daemon. */
export interface RulesHost {
  tracker: ProcessTracker;
  store: EventStore;
  status: { bootId: string };
  on(listener: (events: readonly ProcEvent[]) => void): () => void;
}

export interface ReloadStatus {
  /** Increments with every reload attempt (so `procwatch reload` knows when its own is done). */
  generation: number;
  time: string;
  ok: boolean;
  /** Why the last reload was refused (`file:line: reason`); null when it succeeded. */
  error: string | null;
}

/** The start time (field 22) of /proc/PID/stat, or null. */
function startTicksNow(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return null;
  }
}

/**
 * What an fd is, as `process.stdin` shows it: an internet socket as `tcp:REMOTE:PORT` (or udp,
 * looked up by inode in the process's own /proc/PID/net tables), any other socket as
 * `socket:[INODE]` (unix: a journal stream, a pipe-like socketpair), else the link's text.
 */
function describeFd(pid: number, target: string): string {
  const m = /^socket:\[(\d+)\]$/.exec(target);
  if (m === null) return target;
  const inode = Number(m[1]);
  for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${protocol}`, 'utf8');
    } catch {
      continue;
    }
    const hit = parseNetSockets(text, protocol).find((s) => s.inode === inode);
    if (hit !== undefined) return `${protocol.replace('6', '')}:${hit.remoteAddress.includes(':') ? `[${hit.remoteAddress}]` : hit.remoteAddress}:${hit.remotePort}`;
  }
  return target;
}

export class RulesService {
  readonly engine: RuleEngine;
  readonly center: AlertCenter;
  readonly alertStore: AlertStore;
  readonly dispatcher: Dispatcher;
  readonly checks: ContinuousChecks;
  readonly baseline: StoreBaseline;
  private setup: RulesSetup;
  private readonly unsubscribe: () => void;
  private readonly users = new UserDb();
  private dropTimer: NodeJS.Timeout;
  reloadStatus: ReloadStatus;

  constructor(private readonly host: RulesHost, setup: RulesSetup, private readonly configFile: string | undefined, private readonly log: (line: string) => void) {
    this.setup = setup;
    const { tracker, store } = host;
    const table = tracker.table;
    const ctx: ScopeContext = {
      get: (key) => table.get(key),
      ancestors: (key) => table.ancestors(key),
      userName: (uid) => this.users.userName(uid),
      wallMs: (ns) => tracker.clock.wallMs(ns),
      fdTarget: (record: ProcessRecord, fd: number) => {
        if (record.exitNs !== null || record.startTicks === null) return null;
        // Rules run after the table took in the whole batch: a process it already knows to have
        // exited (or forgot) has no fds left to read. In an exec storm that is nearly every
        // exec, and each /proc read that fails costs an exception.
        const now = table.get(record.key);
        if (now === undefined || now.exitNs !== null) return null;
        if (startTicksNow(record.pid) !== record.startTicks) return null;
        try {
          return describeFd(record.pid, readlinkSync(`/proc/${record.pid}/fd/${fd}`));
        } catch {
          return null;
        }
      },
      domainPeers: (record, domain) => {
        let n = 0;
        for (const r of table.live.values()) if (r.key !== record.key && r.label !== null && labelDomain(r.label) === domain) n++;
        return n;
      },
    };
    this.alertStore = new AlertStore(store.db, store.boot, setup.alerts.maxStored);
    this.center = new AlertCenter(this.alertStore);
    this.dispatcher = new Dispatcher(setup.alerts, log);
    this.center.setDelivery(this.dispatcher);
    this.dispatcher.setRaise((a) => this.center.raise(a));
    this.baseline = new StoreBaseline(store.db, log);
    this.engine = new RuleEngine({ ctx, bootId: host.status.bootId, maxQueue: setup.rules.maxQueue, onAlert: (a) => this.center.raise(a), baseline: this.baseline });
    this.baseline.learn(setup.ruleSet, Date.now());
    this.engine.setRuleSet(setup.ruleSet);
    this.engine.seedUids(table.live.values());
    this.checks = new ContinuousChecks({ table, clock: tracker.clock, users: this.users, bootId: host.status.bootId, raise: (a) => this.center.raise(a), resolve: (a) => this.center.resolve(a), log });
    this.checks.configure(setup.checks);
    this.unsubscribe = host.on((events) => {
      this.engine.push(events, (e) => table.recordAt(e));
      this.checks.onEvents(events);
    });
    this.dropTimer = setInterval(() => {
      const dropped = this.engine.takeDropped();
      if (dropped > 0) log(`procwatch daemon: rule engine queue full: ${dropped} event(s) not evaluated (rules.max_queue ${setup.rules.maxQueue})`);
      this.alertStore.prune();
    }, 10_000);
    this.dropTimer.unref();
    this.reloadStatus = { generation: 0, time: new Date().toISOString(), ok: true, error: null };
  }

  get current(): RulesSetup {
    return this.setup;
  }

  /** Re-reads the config's rules, alerts and checks; on any error the running ones stay. */
  async reload(): Promise<ReloadStatus> {
    const generation = this.reloadStatus.generation + 1;
    try {
      const setup = await loadRulesSetup(this.configFile);
      this.baseline.learn(setup.ruleSet, Date.now());
      this.engine.setRuleSet(setup.ruleSet);
      this.dispatcher.configure(setup.alerts);
      this.checks.configure(setup.checks);
      this.setup = setup;
      this.reloadStatus = { generation, time: new Date().toISOString(), ok: true, error: null };
      this.log(`procwatch daemon: reloaded: ${setup.ruleSet.rules.filter((r) => r.enabled).length} rule(s) enabled of ${setup.ruleSet.rules.length}, ${setup.checks.length} check(s), from ${setup.ruleSet.sources.length} file(s)`);
    } catch (err) {
      const message = (err as Error).message.split('\n')[0] ?? 'unknown error';
      this.reloadStatus = { generation, time: new Date().toISOString(), ok: false, error: message };
      this.log(`procwatch daemon: reload refused, the running rules stay: ${message}`);
    }
    return this.reloadStatus;
  }

  /** The figures /metrics shows. */
  metrics(): RulesMetrics {
    const c = this.engine.counters;
    return {
      alerts: [...this.center.totals.values()], checks: this.checks.states().map((s) => ({ name: s.name, failing: s.status === 'warning' || s.status === 'critical' })),
      evaluated: c.evaluated, dropped: c.dropped, suppressed: c.suppressed, duplicates: c.duplicates, errors: c.errors, actions: this.dispatcher.counters(),
    };
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    clearInterval(this.dropTimer);
    this.engine.finish();
    this.checks.stop();
    await this.dispatcher.close();
  }
}
