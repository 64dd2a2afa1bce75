/** Hands each alert to the actions it names; actions are rebuilt on reload (the old ones finish what they hold). */

import type { Alert } from './types.js';
import type { AlertsConfig } from './config.js';
import { AlertmanagerRunner, ExecRunner, KillRunner, LogRunner, SyslogRunner, WebhookRunner, type ActionCounters, type ActionRunner, type Log } from './actions.js';
import type { AlertDelivery } from './center.js';

export class Dispatcher implements AlertDelivery {
  private runners = new Map<string, ActionRunner>();
  /** Counters of every action ever configured (by name), for /metrics: a reload does not reset them. */
  private readonly totals = new Map<string, { type: string; counters: ActionCounters[] }>();
  private raise: (alert: Alert) => void = () => {};

  constructor(config: AlertsConfig, private readonly log: Log) {
    this.configure(config);
  }

  /** Where the kill flap guard's own alerts go (the alert center). */
  setRaise(raise: (alert: Alert) => void): void {
    this.raise = raise;
  }

  configure(config: AlertsConfig): void {
    const old = this.runners;
    this.runners = new Map();
    for (const [name, spec] of config.actions) {
      let runner: ActionRunner;
      switch (spec.type) {
        case 'log': runner = new LogRunner(name, this.log); break;
        case 'exec': runner = new ExecRunner(name, spec, this.log); break;
        case 'webhook': runner = new WebhookRunner(name, spec, this.log); break;
        case 'syslog': runner = new SyslogRunner(name, spec, this.log); break;
        case 'alertmanager': runner = new AlertmanagerRunner(name, spec, this.log); break;
        case 'kill': runner = new KillRunner(name, spec, this.log, (a) => this.raise(a)); break;
      }
      this.runners.set(name, runner);
      const total = this.totals.get(name);
      if (total === undefined || total.type !== runner.type) this.totals.set(name, { type: runner.type, counters: [runner.counters] });
      else total.counters.push(runner.counters);
    }
    for (const runner of old.values()) void runner.close();
  }

  deliver(alert: Alert): void {
    for (const name of alert.actions) this.runners.get(name)?.submit(alert);
  }

  /** Per action: sent, failed, dropped, queued (summed over its configurations since start). */
  counters(): Array<{ name: string; type: string } & ActionCounters> {
    return [...this.totals].map(([name, t]) => ({
      name, type: t.type,
      sent: t.counters.reduce((s, c) => s + c.sent, 0), failed: t.counters.reduce((s, c) => s + c.failed, 0),
      dropped: t.counters.reduce((s, c) => s + c.dropped, 0), queued: t.counters.reduce((s, c) => s + c.queued, 0),
    }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.close()));
  }
}
