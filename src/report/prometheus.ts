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
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(snapshot: MetricsSnapshot): Promise<string> {
    this.current = snapshot;
    return this.registry.metrics();
  }
}
