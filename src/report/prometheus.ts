/** Prometheus exposition of the daemon's counters (prom-client does the text format). */

import { Registry, Gauge, Counter } from 'prom-client';

export interface MetricsSnapshot {
  eventsByKind: Record<string, number>;
  lost: number;
  malformed: number;
  late: number;
  resyncs: number;
  live: number;
  exitedCached: number;
  threadEvents: number;
  storeQueued: number;
  storeWritten: number;
  storeDropped: number;
  storeLagSeconds: number;
  storeBytes: number;
  streamClients: number;
  uptimeSeconds: number;
  /** Rules, checks and alerts (issue 11), when the rules room runs. */
  rules?: RulesMetrics;
  /** The NATS exporter (issue 15), when daemon.export.nats is set. */
  export?: ExportMetrics;
}

export interface ExportMetrics {
  connected: boolean;
  lagEvents: number;
  lagSeconds: number;
  alertsBehind: number;
  published: { events: number; alerts: number; lost: number };
  duplicates: number;
  lostEvents: number;
  failures: number;
  retentionDeletedUnexported: number;
}

export interface RulesMetrics {
  alerts: Array<{ name: string; severity: string; count: number }>;
  /** Continuous checks: 1 while the check's verdict is failing (warning or critical), else 0. */
  checks: Array<{ name: string; failing: boolean }>;
  evaluated: number;
  dropped: number;
  suppressed: number;
  duplicates: number;
  errors: number;
  actions: Array<{ name: string; type: string; sent: number; failed: number; dropped: number }>;
}

export class MetricsRenderer {
  private readonly registry = new Registry();
  private current: MetricsSnapshot | null = null;

  constructor() {
    const snap = (): MetricsSnapshot => this.current!;
    const registers = [this.registry];
    const counter = (name: string, help: string, value: (s: MetricsSnapshot) => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(value(snap())); } });
    };
    const gauge = (name: string, help: string, value: (s: MetricsSnapshot) => number): void => {
      new Gauge({ name, help, registers, collect() { this.set(value(snap())); } });
    };
    new Counter({
      name: 'procwatch_events_total', help: 'Events released by the process table, by kind', labelNames: ['kind'], registers,
      collect() { this.reset(); for (const [kind, n] of Object.entries(snap().eventsByKind)) this.inc({ kind }, n); },
    });
    counter('procwatch_lost_events_total', 'Events the kernel source reported as lost (a lower bound)', (s) => s.lost);
    counter('procwatch_malformed_records_total', 'Kernel records that could not be decoded', (s) => s.malformed);
    counter('procwatch_late_events_total', 'Events that arrived after later events were released', (s) => s.late);
    counter('procwatch_resyncs_total', 'Resynchronisations of the table from /proc after a loss', (s) => s.resyncs);
    counter('procwatch_thread_events_total', 'Thread creations and thread exits the source reported', (s) => s.threadEvents);
    counter('procwatch_store_written_events_total', 'Events written to the SQLite store', (s) => s.storeWritten);
    counter('procwatch_store_dropped_events_total', 'Events not stored because the store queue was full', (s) => s.storeDropped);
    gauge('procwatch_live_processes', 'Processes in the live table', (s) => s.live);
    gauge('procwatch_exited_processes_cached', 'Exited processes kept in memory for lineage', (s) => s.exitedCached);
    gauge('procwatch_store_queue_events', 'Events waiting to be written', (s) => s.storeQueued);
    gauge('procwatch_store_lag_seconds', 'Age of the oldest event waiting to be written', (s) => s.storeLagSeconds);
    gauge('procwatch_store_bytes', 'Size of the database file and its WAL', (s) => s.storeBytes);
    gauge('procwatch_stream_clients', 'API clients following the event stream', (s) => s.streamClients);
    gauge('procwatch_uptime_seconds', 'Seconds since the daemon started', (s) => s.uptimeSeconds);
    const rules = (): RulesMetrics | undefined => snap().rules;
    new Counter({
      name: 'procwatch_alerts_total', help: 'Alerts raised, by rule (or continuous check) and severity', labelNames: ['rule', 'severity'], registers,
      collect() { this.reset(); for (const a of rules()?.alerts ?? []) this.inc({ rule: a.name, severity: a.severity }, a.count); },
    });
    new Gauge({
      name: 'procwatch_check_failing', help: 'Continuous checks: 1 while the verdict is failing (warning or critical), 0 when ok', labelNames: ['check'], registers,
      collect() { this.reset(); for (const c of rules()?.checks ?? []) this.set({ check: c.name }, c.failing ? 1 : 0); },
    });
    const ruleCounter = (name: string, help: string, value: (r: RulesMetrics) => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); const r = rules(); if (r !== undefined) this.inc(value(r)); } });
    };
    ruleCounter('procwatch_rule_evaluated_events_total', 'Events the rule engine evaluated', (r) => r.evaluated);
    ruleCounter('procwatch_rule_dropped_events_total', 'Events not evaluated because the rule engine queue was full', (r) => r.dropped);
    ruleCounter('procwatch_rule_suppressed_matches_total', 'Rule matches held back by rate limits (summarised in one alert per window)', (r) => r.suppressed);
    ruleCounter('procwatch_rule_duplicate_matches_total', 'Rule matches of a rule and key that had alerted already', (r) => r.duplicates);
    ruleCounter('procwatch_rule_errors_total', 'Rule evaluations that failed', (r) => r.errors);
    new Counter({
      name: 'procwatch_action_deliveries_total', help: 'Alerts handed to actions, by action, type and result (sent, failed, dropped)', labelNames: ['action', 'type', 'result'], registers,
      collect() {
        this.reset();
        for (const a of rules()?.actions ?? []) {
          this.inc({ action: a.name, type: a.type, result: 'sent' }, a.sent);
          this.inc({ action: a.name, type: a.type, result: 'failed' }, a.failed);
          this.inc({ action: a.name, type: a.type, result: 'dropped' }, a.dropped);
        }
      },
    });
    const exp = (): ExportMetrics | undefined => snap().export;
    const exportGauge = (name: string, help: string, value: (e: ExportMetrics) => number): void => {
      new Gauge({ name, help, registers, collect() { this.reset(); const e = exp(); if (e !== undefined) this.set(value(e)); } });
    };
    const exportCounter = (name: string, help: string, value: (e: ExportMetrics) => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); const e = exp(); if (e !== undefined) this.inc(value(e)); } });
    };
    exportGauge('procwatch_export_connected', '1 while the exporter is connected to NATS and the stream is usable, else 0', (e) => (e.connected ? 1 : 0));
    exportGauge('procwatch_export_lag_events', 'Events stored but not yet acknowledged by JetStream', (e) => e.lagEvents);
    exportGauge('procwatch_export_lag_seconds', 'Age of the oldest event not yet acknowledged by JetStream (0 when none)', (e) => e.lagSeconds);
    exportGauge('procwatch_export_alerts_behind', 'Alert records (new alerts and resolutions) not yet acknowledged', (e) => e.alertsBehind);
    new Counter({
      name: 'procwatch_export_published_total', help: 'Records acknowledged by JetStream since start, by type (event, alert, lost)', labelNames: ['type'], registers,
      collect() {
        this.reset();
        const e = exp();
        if (e === undefined) return;
        this.inc({ type: 'event' }, e.published.events);
        this.inc({ type: 'alert' }, e.published.alerts);
        this.inc({ type: 'lost' }, e.published.lost);
      },
    });
    exportCounter('procwatch_export_duplicates_total', 'Retried records JetStream had already stored (dropped by its duplicate window)', (e) => e.duplicates);
    exportCounter('procwatch_export_failures_total', 'Failed connections or publish windows (each is retried after a backoff)', (e) => e.failures);
    exportCounter('procwatch_export_lost_events_total', 'Events deleted by local retention before they were exported (counted when deleted)', (e) => e.retentionDeletedUnexported);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(snapshot: MetricsSnapshot): Promise<string> {
    this.current = snapshot;
    return this.registry.metrics();
  }
}
