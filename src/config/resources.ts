/**
 * The `daemon.resources` section (issue 12): the resource snapshots, their history and the
 * Prometheus group metrics. Every key optional; unknown keys are errors.
 */

import { isPlain, type ConfigReader, type Plain } from './reader.js';

export type ResourceSourceSetting = 'auto' | 'ebpf' | 'proc' | 'off';
const SOURCES: readonly ResourceSourceSetting[] = ['auto', 'ebpf', 'proc', 'off'];

/**
 * A group of the metrics: a name, `check` selectors (README: Spec grammar, without a range)
 * and/or a glob on the cgroup v2 path (a systemd unit, a container). At least one of the two.
 */
export interface GroupConfig {
  name: string;
  match?: string;
  cgroup?: string;
}

export interface ResourcesConfig {
  source: ResourceSourceSetting;
  intervalMs: number;
  historyIntervalMs: number;
  historyKeyframeMs: number;
  historyMaxRowsPerMinute: number;
  /** Samples older than this go; null keeps them (the store's size limit still applies). */
  historyMaxAgeMs: number | null;
  groups: GroupConfig[];
  /** Groups exported at most (configured plus automatic); beyond, counted as overflow. */
  maxGroups: number;
}

export const RESOURCES_DEFAULTS: ResourcesConfig = {
  source: 'auto',
  intervalMs: 2000,
  historyIntervalMs: 10_000,
  historyKeyframeMs: 600_000,
  historyMaxRowsPerMinute: 20_000,
  historyMaxAgeMs: 7 * 86_400_000,
  groups: [],
  maxGroups: 100,
};

const KEYS = ['source', 'interval', 'history', 'groups', 'max_groups'];
const HISTORY_KEYS = ['interval', 'keyframe', 'max_rows_per_minute', 'max_age'];
/** Prometheus label values are free text, but a group name is also a config key: keep it plain. */
const GROUP_NAME = /^[A-Za-z0-9_.:@/-]{1,64}$/;

/** Parses daemon.resources; `duration` and `timer` are the daemon section's own validators. */
export function parseResourcesConfig(r: ConfigReader, v: unknown, duration: (v: unknown, path: string) => number,
  timer: (ms: number, path: string) => number, checkGroup: (group: GroupConfig, path: string) => void): ResourcesConfig {
  if (!isPlain(v)) r.fail('daemon.resources', `expected a mapping with some of: ${KEYS.join(', ')}`);
  const d: Plain = v;
  r.keys(d, 'daemon.resources', KEYS);
  const config: ResourcesConfig = { ...RESOURCES_DEFAULTS, groups: [] };
  if (d.source !== undefined) {
    if (!SOURCES.includes(d.source as ResourceSourceSetting)) r.fail('daemon.resources.source', `expected ${SOURCES.join(', ')}`);
    config.source = d.source as ResourceSourceSetting;
  }
  if (d.interval !== undefined) {
    config.intervalMs = timer(duration(d.interval, 'daemon.resources.interval'), 'daemon.resources.interval');
    if (config.intervalMs < 100) r.fail('daemon.resources.interval', 'at least 100ms');
  }
  if (d.history !== undefined) {
    if (!isPlain(d.history)) r.fail('daemon.resources.history', `expected a mapping with some of: ${HISTORY_KEYS.join(', ')}`);
    const h: Plain = d.history;
    r.keys(h, 'daemon.resources.history', HISTORY_KEYS);
    if (h.interval !== undefined) config.historyIntervalMs = timer(duration(h.interval, 'daemon.resources.history.interval'), 'daemon.resources.history.interval');
    if (h.keyframe !== undefined) config.historyKeyframeMs = timer(duration(h.keyframe, 'daemon.resources.history.keyframe'), 'daemon.resources.history.keyframe');
    if (h.max_rows_per_minute !== undefined) {
      config.historyMaxRowsPerMinute = r.number(h.max_rows_per_minute, 'daemon.resources.history.max_rows_per_minute', 0, { integer: true, max: 10_000_000 });
    }
    if (h.max_age !== undefined) config.historyMaxAgeMs = h.max_age === 'none' ? null : duration(h.max_age, 'daemon.resources.history.max_age');
  }
  if (d.max_groups !== undefined) config.maxGroups = r.number(d.max_groups, 'daemon.resources.max_groups', 1, { integer: true, max: 10_000 });
  if (d.groups !== undefined) {
    if (!Array.isArray(d.groups)) r.fail('daemon.resources.groups', 'expected a list of {name, match}');
    const seen = new Set<string>();
    d.groups.forEach((g: unknown, i: number) => {
      const path = `daemon.resources.groups[${i}]`;
      if (!isPlain(g)) r.fail(path, 'expected a mapping with name, and match and/or cgroup');
      r.keys(g, path, ['name', 'match', 'cgroup']);
      const name = r.string(g.name, `${path}.name`);
      if (!GROUP_NAME.test(name)) r.fail(`${path}.name`, 'expected 1 to 64 of A-Z a-z 0-9 _ . : @ / -');
      if (seen.has(name)) r.fail(`${path}.name`, `group '${name}' is defined twice`);
      seen.add(name);
      if (g.match === undefined && g.cgroup === undefined) r.fail(path, 'expected match (check selectors) and/or cgroup (a glob on the cgroup path)');
      const group: GroupConfig = { name };
      if (g.match !== undefined) group.match = r.string(g.match, `${path}.match`);
      if (g.cgroup !== undefined) group.cgroup = r.string(g.cgroup, `${path}.cgroup`);
      checkGroup(group, path);
      config.groups.push(group);
    });
    if (config.groups.length > config.maxGroups) r.fail('daemon.resources.groups', `${config.groups.length} groups, more than max_groups (${config.maxGroups})`);
  }
  return config;
}
