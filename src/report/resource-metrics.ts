/**
 * Prometheus exposition of the resources room (issue 12) and of the daemon itself: the
 * process groups (process-exporter's figures, plus starts, exits and the CPU of processes
 * that ended between scrapes), the sampler's own cost, the standard `process_*` metrics of
 * the daemon's process, and `procwatch_build_info`. prom-client writes the text format.
 */

import { readFileSync } from 'node:fs';
import { Counter, Gauge, Registry } from 'prom-client';
import type { GroupFigures } from '../resources/groups.js';
import type { ResourceService } from '../resources/service.js';
import { sampleOf } from '../resources/proc.js';
import { CLOCK_TICKS_PER_SECOND } from '../procfs/index.js';
import { SCHEMA_VERSION } from '../store/index.js';
import { packageRoot } from '../sources/native.js';

function packageVersion(): string {
  try {
    const root = packageRoot();
    const pkg = JSON.parse(readFileSync(`${root ?? '.'}/package.json`, 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Boot time in seconds since the epoch (/proc/stat btime), for start times. */
function bootTimeSeconds(): number | null {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

export class ResourceMetrics {
  private readonly registry = new Registry();
  private service: ResourceService | null = null;
  private groups: GroupFigures[] = [];
  private readonly version = packageVersion();
  private readonly bootSeconds = bootTimeSeconds();

  constructor() {
    const registers = [this.registry];
    const groups = (): GroupFigures[] => this.groups;
    const perGroup = (type: 'counter' | 'gauge', name: string, help: string, value: (g: GroupFigures) => number, extra: Array<[string, string, (g: GroupFigures) => number]> = []): void => {
      const labelNames = extra.length > 0 ? ['group', extra[0]![0]] : ['group'];
      const collect = function (this: Counter | Gauge): void {
        this.reset();
        for (const g of groups()) {
          if (extra.length === 0) set(this, { group: g.name }, value(g));
          else for (const [label, labelValue, get] of extra) set(this, { group: g.name, [label]: labelValue }, get(g));
        }
      };
      if (type === 'counter') new Counter({ name, help, labelNames, registers, collect });
      else new Gauge({ name, help, labelNames, registers, collect });
    };
    const zero = (): number => 0;
    perGroup('gauge', 'procwatch_group_processes', 'Processes in the group at the latest snapshot (0 when none matches)', (g) => g.gauges.processes);
    perGroup('gauge', 'procwatch_group_threads', 'Threads of the group\'s processes', (g) => g.gauges.threads);
    perGroup('counter', 'procwatch_group_cpu_seconds_total', 'CPU time of the group\'s processes, including processes that ended between snapshots', zero, [
      ['mode', 'user', (g) => g.counters.cpuUserSeconds], ['mode', 'system', (g) => g.counters.cpuSystemSeconds]]);
    perGroup('counter', 'procwatch_group_ended_cpu_seconds_total', 'Of the CPU time, what processes added at their end since their last snapshot (all of it for those that lived between two)', (g) => g.counters.endedCpuSeconds);
    perGroup('gauge', 'procwatch_group_memory_bytes', 'Memory of the group\'s processes by type', zero, [
      ['memtype', 'resident', (g) => g.gauges.residentBytes], ['memtype', 'virtual', (g) => g.gauges.virtualBytes], ['memtype', 'swapped', (g) => g.gauges.swappedBytes]]);
    perGroup('gauge', 'procwatch_group_open_fds', 'Open file descriptors of the group\'s processes', (g) => g.gauges.openFds);
    perGroup('gauge', 'procwatch_group_worst_fd_ratio', 'The largest open fds / fd limit (RLIMIT_NOFILE soft) among the group\'s processes', (g) => g.gauges.worstFdRatio);
    perGroup('gauge', 'procwatch_group_states', 'The group\'s processes by state', zero, (['Running', 'Sleeping', 'Waiting', 'Zombie', 'Other'] as const)
      .map((st): [string, string, (g: GroupFigures) => number] => ['state', st, (g) => g.gauges.states[st]]));
    perGroup('counter', 'procwatch_group_context_switches_total', 'Context switches of the group\'s processes', zero, [
      ['ctxswitchtype', 'voluntary', (g) => g.counters.voluntarySwitches], ['ctxswitchtype', 'nonvoluntary', (g) => g.counters.involuntarySwitches]]);
    perGroup('counter', 'procwatch_group_major_page_faults_total', 'Major page faults of the group\'s processes', (g) => g.counters.majorFaults);
    perGroup('counter', 'procwatch_group_minor_page_faults_total', 'Minor page faults of the group\'s processes', (g) => g.counters.minorFaults);
    perGroup('counter', 'procwatch_group_read_bytes_total', 'Bytes the group\'s processes read from storage', (g) => g.counters.readBytes);
    perGroup('counter', 'procwatch_group_write_bytes_total', 'Bytes the group\'s processes wrote to storage', (g) => g.counters.writeBytes);
    perGroup('counter', 'procwatch_group_starts_total', 'Processes that started (exec, or found started) into the group', (g) => g.counters.starts);
    perGroup('counter', 'procwatch_group_exits_total', 'Processes of the group that ended', (g) => g.counters.exits);
    perGroup('gauge', 'procwatch_group_oldest_start_time_seconds', 'Start time of the group\'s oldest process, seconds since the epoch (0 when it has none)', (g) => g.gauges.oldestStartSeconds ?? 0);
    const svc = (): ResourceService | null => this.service;
    const gauge = (name: string, help: string, value: () => number | null): void => {
      new Gauge({ name, help, registers, collect() { const v = value(); if (v === null) this.reset(); else this.set(v); } });
    };
    const counter = (name: string, help: string, value: () => number | null): void => {
      new Counter({ name, help, registers, collect() { this.reset(); const v = value(); if (v !== null) this.inc(v); } });
    };
    gauge('procwatch_group_overflow_processes', 'Processes in no exported group because the group cap (daemon.resources.max_groups) was reached', () => svc()?.groups.overflowProcesses ?? null);
    gauge('procwatch_group_refused_names', 'Process names refused a group of their own by the cap (since start, at most 10,000 remembered)', () => svc()?.groups.refusedNames.size ?? null);
    counter('procwatch_resource_snapshots_total', 'Resource snapshots taken', () => svc()?.sampler.stats.snapshots ?? null);
    counter('procwatch_resource_snapshot_failures_total', 'Resource snapshots that failed', () => svc()?.sampler.stats.failures ?? null);
    counter('procwatch_resource_snapshot_cpu_seconds_total', 'CPU time the daemon spent taking resource snapshots', () => (svc() === null ? null : svc()!.sampler.stats.totalCpuMs / 1000));
    gauge('procwatch_resource_snapshot_duration_seconds', 'How long the latest resource snapshot took', () => (svc() === null ? null : svc()!.sampler.stats.lastTookMs / 1000));
    counter('procwatch_resource_history_rows_total', 'Rows written to the resource history', () => svc()?.recorder.stats.rows ?? null);
    counter('procwatch_resource_history_deferred_rows_total', 'History rows put off by the rows-per-minute bound', () => svc()?.recorder.stats.deferred ?? null);

    // The daemon's own process, as Prometheus client libraries name it.
    const self = (): ReturnType<typeof sampleOf> => this.self;
    counter('process_cpu_user_seconds_total', 'User CPU time spent in seconds', () => process.cpuUsage().user / 1e6);
    counter('process_cpu_system_seconds_total', 'System CPU time spent in seconds', () => process.cpuUsage().system / 1e6);
    counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds', () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; });
    gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds', () =>
      (self() === null || this.bootSeconds === null ? null : this.bootSeconds + self()!.startTicks / CLOCK_TICKS_PER_SECOND));
    gauge('process_resident_memory_bytes', 'Resident memory size in bytes', () => self()?.rssBytes ?? null);
    gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes', () => self()?.vsizeBytes ?? null);
    gauge('process_heap_bytes', 'Process heap size in bytes (V8 heap used)', () => process.memoryUsage().heapUsed);
    gauge('process_open_fds', 'Number of open file descriptors', () => self()?.fds ?? null);
    gauge('process_max_fds', 'Maximum number of open file descriptors', () => self()?.fdLimit ?? null);
    const version = this.version;
    new Gauge({
      name: 'procwatch_build_info', help: 'procwatch version, Node.js version and store schema version (always 1)', labelNames: ['version', 'node_version', 'schema_version'],
      registers, collect() { this.reset(); this.set({ version, node_version: process.versions.node, schema_version: String(SCHEMA_VERSION) }, 1); },
    });
  }

  private self: ReturnType<typeof sampleOf> = null;

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(service: ResourceService | null): Promise<string> {
    this.service = service;
    this.groups = service?.groups.figures() ?? [];
    this.self = sampleOf(process.pid);
    return this.registry.metrics();
  }
}

function set(metric: Counter | Gauge, labels: Record<string, string>, value: number): void {
  if (metric instanceof Counter) metric.inc(labels, value);
  else metric.set(labels, value);
}
