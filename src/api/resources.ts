/**
 * `/v1/resources` (issue 12): the latest resource snapshot (what `procwatch top` shows),
 * the processes and their figures at a past time (`at`) or over a past range
 * (`since`/`until`) from the history, and one process's series (`/v1/resources/{pid|key}`).
 * README: API reference, "Resource fields".
 */

import { BadRequest, MAX_LIMIT, type Params } from './params.js';
import type { Daemon } from '../daemon/daemon.js';
import type { ActivityCounts } from '../events/types.js';
import type { UserDb } from '../procfs/index.js';
// Not the store's index: that loads better-sqlite3, which `procwatch top` (a client of this module) never uses.
import { queryHistory, type StoredProcess } from '../store/queries.js';
import type { StoredSample } from '../store/resources.js';
import type { Churn, ResourceProcess, ResourceView } from '../resources/sampler.js';
import type { ResourceService } from '../resources/service.js';
import { globToRegExp } from '../util/glob.js';
import { PLAIN, renderTop } from '../report/top.js';
import { TextAnswer } from './text-answer.js';

/** A process of a resource answer (README: Resource fields). */
export interface ResourceJson extends ActivityCounts {
  key: string;
  pid: number;
  ppid: number | null;
  user: string | null;
  uid: number | null;
  euid: number | null;
  comm: string | null;
  /** The command line from the live table; null when unknown. */
  args: string[] | null;
  state: string | null;
  threads: number | null;
  kernelThread: boolean;
  startTime: string | null;
  cpuPct: number | null;
  memPct: number | null;
  cpuSeconds: number | null;
  userSeconds: number | null;
  systemSeconds: number | null;
  rssBytes: number | null;
  rssAnonBytes: number | null;
  rssFileBytes: number | null;
  rssShmemBytes: number | null;
  vsizeBytes: number | null;
  swapBytes: number | null;
  fds: number | null;
  fdLimit: number | null;
  /** Tree order only: depth below its root. */
  depth?: number;
}

/** Parameters of GET /v1/resources. */
export const RESOURCE_PARAMS = ['at', 'since', 'until', 'sort', 'limit', 'user', 'name', 'filter', 'tree', 'churn_after', 'fresh', 'format', 'width', 'tz_offset'];

/** The `resources` part of /v1/stats. */
export function resourceStats(service: ResourceService | null): unknown {
  if (service === null) return { source: 'off' };
  const s = service.sampler.stats;
  return {
    source: service.sampler.sourceName, why: service.why, intervalMs: service.config.intervalMs, snapshots: s.snapshots, failures: s.failures,
    lastTookMs: s.lastTookMs, lastCpuMs: s.lastCpuMs, cpuMs: s.totalCpuMs, completedFromProc: s.completedFromProc,
    history: { ...service.recorder.stats, deleted: service.stats.historyDeleted, failures: service.stats.historyFailures },
    groups: service.groups.figures().length,
  };
}

export const RESOURCE_SORTS = ['cpu', 'mem', 'rss', 'vsize', 'swap', 'time', 'pid', 'threads', 'user', 'state', 'command', 'start', 'fds', 'read', 'write'] as const;
export type ResourceSort = (typeof RESOURCE_SORTS)[number];

const numberDesc = (get: (p: ResourceJson) => number | null) => (a: ResourceJson, b: ResourceJson): number =>
  (get(b) ?? -1) - (get(a) ?? -1) || a.pid - b.pid;
const textAsc = (get: (p: ResourceJson) => string | null) => (a: ResourceJson, b: ResourceJson): number =>
  (get(a) ?? '\uffff').localeCompare(get(b) ?? '\uffff') || a.pid - b.pid;
const commandOf = (p: ResourceJson): string => (p.args !== null && p.args.length > 0 ? p.args.join(' ') : p.comm ?? '');

const ORDERS: Record<ResourceSort, (a: ResourceJson, b: ResourceJson) => number> = {
  cpu: (a, b) => (b.cpuPct ?? -1) - (a.cpuPct ?? -1) || (b.cpuSeconds ?? -1) - (a.cpuSeconds ?? -1) || a.pid - b.pid,
  mem: numberDesc((p) => p.rssBytes),
  rss: numberDesc((p) => p.rssBytes),
  vsize: numberDesc((p) => p.vsizeBytes),
  swap: numberDesc((p) => p.swapBytes),
  time: numberDesc((p) => p.cpuSeconds),
  pid: (a, b) => a.pid - b.pid,
  threads: numberDesc((p) => p.threads),
  user: textAsc((p) => p.user),
  state: textAsc((p) => p.state),
  command: textAsc(commandOf),
  start: (a, b) => (b.startTime ?? '').localeCompare(a.startTime ?? '') || a.pid - b.pid,
  fds: numberDesc((p) => p.fds),
  read: numberDesc((p) => p.readBytes),
  write: numberDesc((p) => p.writeBytes),
};

export class ResourcesApi {
  constructor(private readonly daemon: Daemon, private readonly users: UserDb) {}

  private service(): ResourceService {
    const s = this.daemon.resources;
    if (s === null) throw new BadRequest('resource snapshots are off (daemon.resources.source: off)', 404);
    return s;
  }

  /** GET /v1/resources */
  async resources(p: Params): Promise<unknown> {
    const at = p.time('at');
    const since = p.time('since');
    const until = p.time('until');
    if (at !== undefined && (since !== undefined || until !== undefined)) throw new BadRequest("parameter 'at' cannot go with 'since' or 'until'");
    if (since !== undefined && until !== undefined && since > until) throw new BadRequest("parameter 'since' is after parameter 'until'");
    const sort = p.string('sort') ?? 'cpu';
    if (!(RESOURCE_SORTS as readonly string[]).includes(sort)) throw new BadRequest(`parameter 'sort' must be one of ${RESOURCE_SORTS.join(', ')}, got '${sort.slice(0, 40)}'`);
    const limit = p.limit(MAX_LIMIT * 10, MAX_LIMIT * 10);
    const filter = this.filter(p);
    const tree = p.boolean('tree');
    const churnAfter = p.integer('churn_after', 0, Number.MAX_SAFE_INTEGER);
    const fresh = p.boolean('fresh');
    const format = p.string('format') ?? 'json';
    if (format !== 'json' && format !== 'text') throw new BadRequest(`parameter 'format' must be json or text, got '${format.slice(0, 40)}'`);
    const width = p.integer('width', 40, 100_000);
    const tzOffset = p.string('tz_offset');
    if (tzOffset !== undefined && !/^-?\d{1,4}$/.test(tzOffset)) throw new BadRequest(`parameter 'tz_offset' must be minutes east of UTC, got '${tzOffset.slice(0, 40)}'`);
    if (format === 'json' && (width !== undefined || tzOffset !== undefined)) throw new BadRequest("parameters 'width' and 'tz_offset' go with format=text");
    const service = this.service();
    if (at !== undefined || since !== undefined || until !== undefined) {
      if (tree || churnAfter !== undefined || fresh || format === 'text') throw new BadRequest("parameters 'tree', 'churn_after', 'fresh' and 'format=text' are for the live view, not 'at', 'since' or 'until'");
      return at !== undefined ? this.at(service, at, sort as ResourceSort, limit, filter.test) : this.range(service, since ?? 0, until ?? Date.now(), sort as ResourceSort, limit, filter.test);
    }
    let view = service.sampler.latest();
    if (view === null || fresh) view = await service.sampler.refresh();
    const answer = liveAnswer(view, this.context(service, churnAfter), { sort: sort as ResourceSort, limit, filter: filter.test, filterReadsArgs: filter.readsArgs, tree });
    if (format === 'json') return answer;
    // As `procwatch top -b` prints it: a 25,000-process JSON answer is ~20 MB to send and parse.
    const lines = renderTop(answer, {
      width: width ?? 0, rows: null, sort: sort as ResourceSort, tree, style: PLAIN, origin: 'daemon', message: null, paused: false,
      filter: p.string('filter') ?? null, tzOffsetMinutes: tzOffset === undefined ? null : Number(tzOffset),
    });
    return new TextAnswer(`${lines.join('\n')}\n`);
  }

  /** `user`, `name` (glob on comm) and `filter` (text in the command line, name or user: top's `/`). */
  private filter(p: Params): { test: (j: ResourceJson) => boolean; readsArgs: boolean } {
    const user = p.string('user');
    const uid = user === undefined ? undefined : /^\d+$/.test(user) ? Number(user) : this.users.passwd.byName.get(user);
    if (user !== undefined && uid === undefined) throw new BadRequest(`unknown user '${user}'`);
    const name = p.string('name');
    let nameRe: RegExp | null = null;
    try {
      nameRe = name === undefined ? null : globToRegExp(name);
    } catch (err) {
      throw new BadRequest(`parameter 'name' is not a valid glob: ${(err as Error).message}`);
    }
    const text = p.string('filter');
    return { test: resourceFilter(uid, nameRe, text), readsArgs: text !== undefined };
  }

  private context(service: ResourceService, churnAfter: number | undefined): LiveContext {
    const clock = this.daemon.tracker.clock;
    const table = this.daemon.tracker.table;
    const c = this.daemon.tracker.counters();
    return {
      userName: (uid) => this.users.userName(uid),
      argsOf: (key) => table.get(key)?.argv ?? null,
      wallOfTicks: (t) => clock.wallMs(clock.startTicksToNs(t)),
      events: { total: service.eventsTotal, perSecond: service.eventsPerSecond, lost: c.source.lost },
      churn: service.sampler.churnSince(churnAfter),
    };
  }

  /** The processes alive at `atMs` (this boot) with their latest stored figures then. */
  private at(service: ResourceService, atMs: number, sort: ResourceSort, limit: number, filter: (j: ResourceJson) => boolean): unknown {
    this.flush();
    const bootId = this.daemon.status.bootId;
    const alive = queryHistory(this.daemon.store.db, { sinceMs: atMs, untilMs: atMs, limit: MAX_LIMIT * 10 }).filter((p) => p.bootId === bootId);
    const samples = service.history.latestAt(alive.map((p) => p.key), atMs);
    const cfg = service.config;
    const fresh = (s: StoredSample | undefined): s is StoredSample => s !== undefined && atMs - s.timeMs <= cfg.historyKeyframeMs + cfg.historyIntervalMs;
    const out: ResourceJson[] = [];
    let unknown = 0;
    for (const p of alive) {
      const s = samples.get(p.key);
      if (!fresh(s)) unknown++;
      // A row is written when its figures change: none since the last one means no CPU used since.
      const recent = fresh(s) && atMs - s.timeMs <= 2 * cfg.historyIntervalMs;
      out.push(this.stored(p, fresh(s) ? s : null, fresh(s) ? (recent ? s.cpuPct : 0) : null));
    }
    const matched = out.filter(filter);
    return {
      time: new Date(atMs).toISOString(), source: 'history', matched: matched.length,
      // Alive then, but no sample near that time (the daemon was not sampling): figures unknown.
      unsampled: unknown,
      processes: matched.sort(ORDERS[sort]).slice(0, limit),
    };
  }

  /**
   * What each process used over [sinceMs, untilMs] (this boot): its CPU time then (from its
   * samples, or its exit accounting when it ended in the range, or all of it when it also
   * started there) and the average CPU % over the part of the range it lived; its peak RSS seen.
   */
  private range(service: ResourceService, sinceMs: number, untilMs: number, sort: ResourceSort, limit: number, filter: (j: ResourceJson) => boolean): unknown {
    this.flush();
    const bootId = this.daemon.status.bootId;
    const ran = queryHistory(this.daemon.store.db, { sinceMs, untilMs, limit: MAX_LIMIT * 2 }).filter((p) => p.bootId === bootId);
    const keys = ran.map((p) => p.key);
    const atStart = service.history.latestAt(keys, sinceMs);
    const atEnd = service.history.latestAt(keys, untilMs);
    const out: ResourceJson[] = [];
    for (const p of ran) {
      const startMs = p.startTime === null ? null : Date.parse(p.startTime);
      const exitMs = p.exitTime === null ? null : Date.parse(p.exitTime);
      const bornInside = startMs !== null && startMs >= sinceMs;
      const endedInside = exitMs !== null && exitMs <= untilMs;
      const endCpu = endedInside && p.usage?.cpuSeconds != null ? p.usage.cpuSeconds : (atEnd.get(p.key)?.cpuNs ?? null) === null ? null : atEnd.get(p.key)!.cpuNs! / 1e9;
      const startCpu = bornInside ? 0 : (atStart.get(p.key)?.cpuNs ?? null) === null ? null : atStart.get(p.key)!.cpuNs! / 1e9;
      const used = endCpu === null || startCpu === null ? null : Math.max(0, endCpu - startCpu);
      const from = Math.max(sinceMs, startMs ?? sinceMs);
      const to = Math.min(untilMs, exitMs ?? untilMs);
      const j = this.stored(p, atEnd.get(p.key) ?? null, used === null || to <= from ? null : (used / ((to - from) / 1000)) * 100);
      j.cpuSeconds = used;
      if (endedInside && p.usage !== null) j.rssBytes = p.usage.maxRssBytes;
      out.push(j);
    }
    const matched = out.filter(filter);
    return {
      since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString(), source: 'history', matched: matched.length,
      truncated: ran.length >= MAX_LIMIT * 2,
      processes: matched.sort(ORDERS[sort === 'cpu' ? 'time' : sort]).slice(0, limit),
    };
  }

  /** A stored process with a stored sample's figures (or its exit accounting when it has no sample). */
  private stored(p: StoredProcess, s: StoredSample | null, cpuPct: number | null): ResourceJson {
    const u = p.usage;
    return {
      key: p.key, pid: p.pid, ppid: p.ppid, user: p.euid === null ? null : this.users.userName(p.euid), uid: p.uid, euid: p.euid,
      comm: p.comm, args: p.argv, state: s?.state ?? null, threads: s?.threads ?? null, kernelThread: false, startTime: p.startTime,
      cpuPct, memPct: null, cpuSeconds: s?.cpuNs != null ? s.cpuNs / 1e9 : u?.cpuSeconds ?? null, userSeconds: u?.userSeconds ?? null,
      systemSeconds: u?.systemSeconds ?? null, rssBytes: s?.rssBytes ?? null, rssAnonBytes: null, rssFileBytes: null, rssShmemBytes: null,
      vsizeBytes: s?.vsizeBytes ?? null, swapBytes: s?.swapBytes ?? null, fds: s?.fds ?? null, fdLimit: null,
      minorFaults: u?.minorFaults ?? null, majorFaults: u?.majorFaults ?? null, voluntarySwitches: u?.voluntarySwitches ?? null,
      involuntarySwitches: u?.involuntarySwitches ?? null, readBytes: s?.readBytes ?? u?.readBytes ?? null, writeBytes: s?.writeBytes ?? u?.writeBytes ?? null,
      readChars: u?.readChars ?? null, writeChars: u?.writeChars ?? null,
    };
  }

  /** GET /v1/resources/{pid|key}: one process's samples (a series for plots) and, when live, its current figures. */
  series(key: string, p: Params): unknown {
    const service = this.service();
    const until = p.time('until') ?? Date.now();
    const since = p.time('since') ?? until - 3_600_000;
    if (since > until) throw new BadRequest("parameter 'since' is after parameter 'until'");
    const limit = p.limit(MAX_LIMIT, MAX_LIMIT);
    this.flush();
    const samples = service.history.series(key, this.daemon.store.boot, since, until, limit);
    const view = service.sampler.latest();
    const live = view?.processes.find((x) => x.key === key);
    const clock = this.daemon.tracker.clock;
    return {
      key, since: new Date(since).toISOString(), until: new Date(until).toISOString(),
      samples: samples.map((s) => ({
        time: new Date(s.timeMs).toISOString(), cpuPct: s.cpuPct, cpuSeconds: s.cpuNs === null ? null : s.cpuNs / 1e9, rssBytes: s.rssBytes,
        vsizeBytes: s.vsizeBytes, swapBytes: s.swapBytes, threads: s.threads, fds: s.fds, readBytes: s.readBytes, writeBytes: s.writeBytes, state: s.state,
      })),
      live: live === undefined ? null : resourceJson(live, this.context(service, undefined)),
    };
  }

  private flush(): void {
    try {
      this.daemon.store.flush();
    } catch {
      // an answer from what is stored is still an answer
    }
  }
}

/** The filters of a resource query: effective uid, a comm pattern, a text found in the command line, name or user. */
export function resourceFilter(uid: number | undefined, nameRe: RegExp | null, text: string | undefined): (j: ResourceJson) => boolean {
  return (j) => (uid === undefined || j.euid === uid) && (nameRe === null || (j.comm !== null && nameRe.test(j.comm))) &&
    (text === undefined || commandOf(j).includes(text) || (j.comm ?? '').includes(text) || (j.user ?? '').includes(text));
}

/** What a live answer needs beside the snapshot: names, command lines, time, and (from a daemon) events and churn. */
export interface LiveContext {
  userName: (uid: number) => string;
  /** The command line of an instance; null when unknown. */
  argsOf: (key: string, pid: number) => string[] | null;
  wallOfTicks: (startTicks: number) => number;
  /** Null without a daemon: nobody counted events. */
  events: { total: number; perSecond: number | null; lost: number } | null;
  churn: Churn | null;
}

export interface LiveQuery {
  sort: ResourceSort;
  limit: number;
  filter: (j: ResourceJson) => boolean;
  /** The filter looks at command lines (a text filter): look them up for every process first. */
  filterReadsArgs: boolean;
  tree: boolean;
}

export function resourceJson(p: ResourceProcess, ctx: LiveContext): ResourceJson {
  return {
    key: p.key, pid: p.pid, ppid: p.ppid, user: p.euid === null ? null : ctx.userName(p.euid), uid: p.uid, euid: p.euid,
    comm: p.comm, args: null, state: p.state, threads: p.threads, kernelThread: p.kernelThread,
    startTime: new Date(ctx.wallOfTicks(p.startTicks)).toISOString(), cpuPct: p.cpuPct, memPct: p.memPct,
    cpuSeconds: p.cpuNs / 1e9, userSeconds: p.userNs / 1e9, systemSeconds: p.systemNs / 1e9,
    rssBytes: p.rssBytes, rssAnonBytes: p.rssAnonBytes, rssFileBytes: p.rssFileBytes, rssShmemBytes: p.rssShmemBytes,
    vsizeBytes: p.vsizeBytes, swapBytes: p.swapBytes, fds: p.fds, fdLimit: p.fdLimit, minorFaults: p.minorFaults, majorFaults: p.majorFaults,
    voluntarySwitches: p.voluntarySwitches, involuntarySwitches: p.involuntarySwitches, readBytes: p.readBytes, writeBytes: p.writeBytes,
    readChars: p.readChars, writeChars: p.writeChars,
  };
}

/**
 * The live answer (GET /v1/resources, and `top` without a daemon): header figures, then the
 * processes that pass the filter, sorted (or in tree order), cut at the limit. Command lines
 * are looked up for the processes answered only, unless the filter or the order reads them.
 */
export function liveAnswer(view: ResourceView, ctx: LiveContext, q: LiveQuery): LiveAnswer {
  const all = view.processes.map((p) => resourceJson(p, ctx));
  const tasks = { total: all.length, running: 0, sleeping: 0, stopped: 0, zombie: 0, idle: 0, threads: 0 };
  for (const j of all) {
    tasks.threads += j.threads ?? 1;
    if (j.state === 'R') tasks.running++;
    else if (j.state === 'S' || j.state === 'D') tasks.sleeping++;
    else if (j.state === 'T' || j.state === 't') tasks.stopped++;
    else if (j.state === 'Z') tasks.zombie++;
    else if (j.state === 'I') tasks.idle++;
  }
  const allArgs = q.filterReadsArgs || q.sort === 'command';
  if (allArgs) for (const j of all) j.args = ctx.argsOf(j.key, j.pid);
  const matched = all.filter(q.filter);
  const ordered = (q.tree ? treeOrder(matched, ORDERS[q.sort]) : matched.sort(ORDERS[q.sort])).slice(0, q.limit);
  if (!allArgs) for (const j of ordered) j.args = ctx.argsOf(j.key, j.pid);
  return {
    time: new Date(view.snapshot.wallMs).toISOString(),
    source: view.snapshot.source,
    cpuResolution: view.snapshot.cpuResolution,
    intervalSeconds: view.intervalNs === null ? null : view.intervalNs / 1e9,
    host: view.host,
    tasks,
    events: ctx.events,
    churn: ctx.churn,
    completedFromProc: view.completedFromProc,
    matched: matched.length,
    processes: ordered,
  };
}

export interface LiveAnswer {
  time: string;
  source: string;
  cpuResolution: 'ns' | 'tick';
  intervalSeconds: number | null;
  host: ResourceView['host'];
  tasks: { total: number; running: number; sleeping: number; stopped: number; zombie: number; idle: number; threads: number };
  events: LiveContext['events'];
  churn: Churn | null;
  completedFromProc: number;
  matched: number;
  processes: ResourceJson[];
}

/** Parents before children, siblings in `order`; depth from each root (a process whose parent is not listed is a root). */
function treeOrder(list: ResourceJson[], order: (a: ResourceJson, b: ResourceJson) => number): ResourceJson[] {
  const byPid = new Map(list.map((j) => [j.pid, j]));
  const children = new Map<number, ResourceJson[]>();
  const roots: ResourceJson[] = [];
  for (const j of list) {
    const parent = j.ppid === null || j.ppid === j.pid ? undefined : byPid.get(j.ppid);
    if (parent === undefined) roots.push(j);
    else {
      const kids = children.get(parent.pid) ?? [];
      kids.push(j);
      children.set(parent.pid, kids);
    }
  }
  const out: ResourceJson[] = [];
  const walk = (j: ResourceJson, depth: number): void => {
    out.push({ ...j, depth });
    for (const k of (children.get(j.pid) ?? []).sort(order)) walk(k, depth + 1);
  };
  for (const r of roots.sort(order)) walk(r, 0);
  return out;
}
