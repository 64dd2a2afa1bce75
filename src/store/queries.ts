/**
 * Read-side queries over the store: event history, "what ran" history, lineage, stats.
 * Filters arrive validated (api/ and cli/ check user input); every query is bounded by a limit.
 */

import type Database from 'better-sqlite3';
import type { ProcessFields, ProcessUsage } from '../events/types.js';
import { globToRegExp, hasGlob } from '../util/glob.js';
import { cgroupName } from '../procfs/cgroup.js';

export interface StoredEvent {
  id: number;
  bootId: string;
  run: number;
  seq: number;
  time: string;
  ktimeNs: number;
  kind: string;
  pid: number;
  tid: number;
  key: string | null;
  provenance: string;
  [field: string]: unknown;
}

export interface StoredProcess extends ProcessFields {
  bootId: string;
  /** Wall time of the exec that gave it its current image; null when not observed. */
  execTime: string | null;
  /** Saved and filesystem user and group ids (the kernel's four ids: real, effective, saved, fs). */
  suid: number | null;
  fsuid: number | null;
  sgid: number | null;
  fsgid: number | null;
}

export interface EventQuery {
  sinceMs?: number;
  untilMs?: number;
  kinds?: string[];
  pid?: number;
  key?: string;
  bootId?: string;
  /** Only events with id greater than this (for following). */
  afterId?: number;
  /** Only events with id at most this (a page fixed when its answer began). */
  maxId?: number;
  /** `lost` events pass the kind, pid and key filters (a stream's rule: the gap may hold what was filtered for). */
  lostAlways?: boolean;
  /** Only events of processes running as this effective uid (as the store last saw them). */
  euid?: number;
  limit: number;
}

/** The newest events of a query, and whether older ones were left out. */
export interface EventPage {
  events: StoredEvent[];
  truncated: boolean;
}

/** Orders of `history --sort` other than the start time, and the column each reads (largest first). */
export const HISTORY_SORTS = {
  cpu: 'cpu_ns', user: 'user_ns', sys: 'system_ns', rss: 'max_rss', majflt: 'maj_flt', minflt: 'min_flt',
  nvcsw: 'nvcsw', nivcsw: 'nivcsw', read: 'read_bytes', write: 'write_bytes',
} as const;
export type HistorySort = 'start' | keyof typeof HISTORY_SORTS;

export interface HistoryQuery {
  sinceMs?: number;
  untilMs?: number;
  exe?: string;
  /** comm, glob allowed */
  name?: string;
  euid?: number;
  pid?: number;
  /** Default 'start' (newest first); the others: largest first, processes without the figure last. */
  sort?: HistorySort;
  /** Only processes whose exit accounting shows at least this much. */
  minCpuSeconds?: number;
  minRssBytes?: number;
  minReadBytes?: number;
  minWriteBytes?: number;
  limit: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A row's boot id (schema 3 stores the boot's number): one primary-key lookup per row. */
const BOOT_ID = '(SELECT boot_id FROM boots WHERE boots.boot = t.boot)';
/** A boot id as its number, in SQL; NULL, which matches nothing, for a boot never seen. */
const BOOT_OF = '(SELECT boot FROM boots WHERE boot_id = ?)';

/** The instances of a pid: keys are `pid:...`, and ';' follows ':'. Uses the key index. */
const pidKeys = (pid: number): [string, string] => [`${pid}:`, `${pid};`];

/** The number of a boot id, undefined for a boot the store never saw. */
function bootOf(db: Database.Database, bootId: string): number | undefined {
  return (db.prepare('SELECT boot FROM boots WHERE boot_id = ?').get(bootId) as { boot: number } | undefined)?.boot;
}

// Rows are read as arrays (`.raw()`), columns in a fixed order: better-sqlite3 builds an object
// with a property per column otherwise, which cost more than the query itself for 1,000 rows.

/** The columns of an event row (table alias t), in the order eventFromRow reads them. */
const EVENT_COLUMNS = `t.id, ${BOOT_ID}, t.run, t.seq, t.time, t.ktime_ns, t.kind, t.pid, t.tid, t.key, t.provenance, t.data`;

function eventFromRow(r: unknown[]): StoredEvent {
  return {
    id: r[0] as number, bootId: r[1] as string, run: r[2] as number, seq: r[3] as number, time: new Date(r[4] as number).toISOString(),
    ktimeNs: r[5] as number, kind: r[6] as string, pid: r[7] as number, tid: r[8] as number, key: str(r[9]), provenance: r[10] as string,
    ...(JSON.parse(r[11] as string) as Record<string, unknown>),
  };
}

/** The columns of a process row (table alias t), in the order processFromRow reads them. */
const PROCESS_COLUMNS = `${BOOT_ID}, t.key, t.pid, t.start_ticks, t.ppid, t.parent_key, t.start_time, t.exec_time, t.exit_time, t.comm, t.exe,
  t.argv, t.cwd, t.uid, t.euid, t.suid, t.fsuid, t.gid, t.egid, t.sgid, t.fsgid, t.label, t.cgroup, t.exit_code, t.exit_signal, t.core_dumped,
  t.origin, t.exit_origin, t.unit, t.container_id, t.container_runtime, t.acct_time, t.cpu_ns, t.user_ns, t.system_ns, t.cpu_resolution,
  t.max_rss, t.min_flt, t.maj_flt, t.nvcsw, t.nivcsw, t.read_bytes, t.write_bytes, t.rchar, t.wchar, t.filename`;

/** How many columns PROCESS_COLUMNS selects (a query's own columns come after them). */
const PROCESS_COLUMN_COUNT = 46;

/** The exit accounting of a process row (columns 31 on of PROCESS_COLUMNS); null when none arrived. */
function usageFromRow(r: unknown[]): ProcessUsage | null {
  if (r[31] === null) return null;
  const seconds = (v: unknown): number | null => (typeof v === 'number' ? v / 1e9 : null);
  const resolution = r[35];
  return {
    cpuSeconds: seconds(r[32]), userSeconds: seconds(r[33]), systemSeconds: seconds(r[34]),
    cpuResolution: resolution === 'ns' || resolution === 'tick' ? resolution : null,
    maxRssBytes: num(r[36]), minorFaults: num(r[37]), majorFaults: num(r[38]), voluntarySwitches: num(r[39]), involuntarySwitches: num(r[40]),
    readBytes: num(r[41]), writeBytes: num(r[42]), readChars: num(r[43]), writeChars: num(r[44]),
  };
}

function processFromRow(r: unknown[]): StoredProcess {
  return {
    bootId: r[0] as string, key: r[1] as string, pid: r[2] as number, startTicks: num(r[3]), ppid: num(r[4]), parentKey: str(r[5]),
    startTime: iso(num(r[6])), execTime: iso(num(r[7])), exitTime: iso(num(r[8])), comm: str(r[9]), exe: str(r[10]),
    argv: r[11] === null ? null : (JSON.parse(r[11] as string) as string[]), cwd: str(r[12]), uid: num(r[13]), euid: num(r[14]),
    suid: num(r[15]), fsuid: num(r[16]), gid: num(r[17]), egid: num(r[18]), sgid: num(r[19]), fsgid: num(r[20]), label: str(r[21]),
    cgroup: str(r[22]), exitCode: num(r[23]), exitSignal: num(r[24]), coreDumped: r[25] === null ? null : r[25] === 1,
    origin: String(r[26]), exitOrigin: str(r[27]), ...cgroupFields(str(r[22]), str(r[28]), str(r[29]), str(r[30])), usage: usageFromRow(r), filename: str(r[45]),
  };
}

/** Stored unit and container; rows stored before schema 4 have none: derived from the cgroup path. */
function cgroupFields(cgroup: string | null, unit: string | null, container: string | null, runtime: string | null): Pick<ProcessFields, 'unit' | 'container' | 'containerRuntime'> {
  if (unit !== null || container !== null || cgroup === null) return { unit, container, containerRuntime: runtime };
  const names = cgroupName(cgroup);
  return { unit: names.unit, container: names.containerId, containerRuntime: names.runtime };
}

/** Runs a SELECT of PROCESS_COLUMNS and decodes the rows. */
function processes(db: Database.Database, sql: string, args: unknown[]): StoredProcess[] {
  return (db.prepare(sql).raw().all(...args) as unknown[][]).map(processFromRow);
}

function eventFilter(q: EventQuery): { where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.afterId !== undefined) { where.push('id > ?'); args.push(q.afterId); }
  if (q.maxId !== undefined) { where.push('id <= ?'); args.push(q.maxId); }
  if (q.sinceMs !== undefined) { where.push('time >= ?'); args.push(q.sinceMs); }
  if (q.untilMs !== undefined) { where.push('time <= ?'); args.push(q.untilMs); }
  const filters: string[] = [];
  if (q.kinds !== undefined && q.kinds.length > 0) { filters.push(`kind IN (${q.kinds.map(() => '?').join(',')})`); args.push(...q.kinds); }
  if (q.pid !== undefined) { filters.push('pid = ?'); args.push(q.pid); }
  if (q.key !== undefined) { filters.push('key = ?'); args.push(q.key); }
  if (q.euid !== undefined) { filters.push('EXISTS (SELECT 1 FROM processes p WHERE p.key = events.key AND p.boot = events.boot AND p.euid = ?)'); args.push(q.euid); }
  if (filters.length > 0) where.push(q.lostAlways === true ? `(${filters.join(' AND ')} OR kind = 'lost')` : filters.join(' AND '));
  if (q.bootId !== undefined) { where.push(`boot = ${BOOT_OF}`); args.push(q.bootId); }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

/** The oldest `limit` matching events, in storage order: pages of a follower (with afterId). */
export function queryEvents(db: Database.Database, q: EventQuery): StoredEvent[] {
  const { where, args } = eventFilter(q);
  return (db.prepare(`SELECT ${EVENT_COLUMNS} FROM (SELECT id FROM events ${where} ORDER BY id LIMIT ?) page CROSS JOIN events t ON t.id = page.id
    ORDER BY t.id`).raw().all(...args, q.limit) as unknown[][]).map(eventFromRow);
}

/** The newest `limit` matching events, returned oldest first; `truncated` when older ones matched too. */
export function latestEvents(db: Database.Database, q: EventQuery): EventPage {
  const { where, args } = eventFilter(q);
  const rows = db.prepare(`SELECT ${EVENT_COLUMNS} FROM (SELECT id FROM events ${where} ORDER BY id DESC LIMIT ?) page CROSS JOIN events t ON t.id = page.id
    ORDER BY t.id DESC`).raw().all(...args, q.limit + 1) as unknown[][];
  const truncated = rows.length > q.limit;
  return { events: rows.slice(0, q.limit).reverse().map(eventFromRow), truncated };
}

/**
 * Where the newest `limit` matching events are, without reading them: every matching event
 * with afterId < id <= maxId (read it with queryEvents, a page at a time), and whether older
 * ones matched too. Large answers are then written a page at a time (api/server.ts).
 */
export function latestEventBounds(db: Database.Database, q: EventQuery): { afterId: number; maxId: number; truncated: boolean } {
  const { where, args } = eventFilter(q);
  const ids = db.prepare(`SELECT id FROM events ${where} ORDER BY id DESC LIMIT ?`).pluck().all(...args, q.limit + 1) as number[];
  const maxId = ids[0] ?? 0;
  if (ids.length <= q.limit) return { afterId: (ids.at(-1) ?? 1) - 1, maxId, truncated: false };
  return { afterId: ids[q.limit]!, maxId, truncated: true };
}

/** Connections that have the `procwatch_glob` SQL function. */
const withGlob = new WeakSet<Database.Database>();

/**
 * `procwatch_glob(pattern, value)`: the glob as every other filter reads it (util/glob.ts,
 * fnmatch's rules: `[!a]` negates, `[[:digit:]]` classes, `\*` escapes). SQLite's own GLOB
 * reads `[!a]` as "! or a" and knows no classes or escapes, so `/v1/history?exe=[!a]*`
 * disagreed with `/v1/processes?exe=[!a]*`.
 */
function globFunction(db: Database.Database): void {
  if (withGlob.has(db)) return;
  let last: { pattern: string; re: RegExp } | null = null;
  db.function('procwatch_glob', { deterministic: true }, (pattern: unknown, value: unknown) => {
    if (typeof pattern !== 'string' || typeof value !== 'string') return 0;
    if (last?.pattern !== pattern) last = { pattern, re: globToRegExp(pattern) };
    return last.re.test(value) ? 1 : 0;
  });
  withGlob.add(db);
}

/** At most this many distinct values of a column are matched against a glob one by one. */
const MAX_GLOB_VALUES = 5000;

/**
 * The values of `column` (exe or comm) that match `glob`, found by walking the column's index
 * from one distinct value to the next (a few hundred index searches for a typical host);
 * null when the column holds more than MAX_GLOB_VALUES distinct values: match row by row then.
 * The query then reads the column's index for exactly those values, instead of every row.
 */
function globValues(db: Database.Database, column: 'exe' | 'comm', glob: string): string | null {
  const r = db.prepare(`
    WITH RECURSIVE v(x) AS (
      SELECT min(${column}) FROM processes
      UNION ALL SELECT (SELECT min(${column}) FROM processes WHERE ${column} > v.x) FROM v WHERE v.x IS NOT NULL LIMIT ${MAX_GLOB_VALUES + 1}
    )
    SELECT count(*) AS n, json_group_array(x) FILTER (WHERE procwatch_glob(?, x)) AS matched FROM v WHERE x IS NOT NULL`).get(glob) as { n: number; matched: string };
  return r.n > MAX_GLOB_VALUES ? null : r.matched;
}

/** WHERE terms (table alias t) for the exe, name, user and pid filters of a history query. */
function historyFilters(db: Database.Database, q: HistoryQuery): { where: string[]; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  const match = (column: 'exe' | 'comm', value: string): void => {
    globFunction(db);
    // A backslash escapes even without a wildcard: `a\b` is the name "ab".
    const glob = hasGlob(value) || value.includes('\\');
    const values = glob ? globValues(db, column, value) : null;
    if (values !== null) { where.push(`t.${column} IN (SELECT value FROM json_each(?))`); args.push(values); }
    else { where.push(glob ? `procwatch_glob(?, t.${column})` : `t.${column} = ?`); args.push(value); }
  };
  if (q.exe !== undefined) match('exe', q.exe);
  if (q.name !== undefined) match('comm', q.name);
  if (q.euid !== undefined) { where.push('t.euid = ?'); args.push(q.euid); }
  if (q.pid !== undefined) { where.push('t.key >= ? AND t.key < ? AND t.pid = ?'); args.push(...pidKeys(q.pid), q.pid); }
  const atLeast = (column: string, value: number | undefined): void => {
    if (value !== undefined) { where.push(`t.${column} >= ?`); args.push(value); }
  };
  atLeast('cpu_ns', q.minCpuSeconds === undefined ? undefined : Math.round(q.minCpuSeconds * 1e9));
  atLeast('max_rss', q.minRssBytes);
  atLeast('read_bytes', q.minReadBytes);
  atLeast('write_bytes', q.minWriteBytes);
  return { where, args };
}

/**
 * Processes that ran in the range, largest figure first (`sort`), then those without it (still
 * running, or never accounted) newest first. CPU has an index (first the accounted ones,
 * from it); the other figures are sorted from the rows in the range.
 */
function queryHistorySorted(db: Database.Database, q: HistoryQuery, column: string): StoredProcess[] {
  const { where, args } = historyFilters(db, q);
  const range: string[] = [];
  const rangeArgs: unknown[] = [];
  if (q.sinceMs !== undefined) { range.push('coalesce(t.exit_time, 9e15) >= ?'); rangeArgs.push(q.sinceMs); }
  if (q.untilMs !== undefined) { range.push('coalesce(t.start_time, 0) <= ?'); rangeArgs.push(q.untilMs); }
  const terms = [...range, ...where];
  const rows = processes(db, `SELECT ${PROCESS_COLUMNS} FROM processes t WHERE t.${column} IS NOT NULL AND ${[...terms, '1'].join(' AND ')}
    ORDER BY t.${column} DESC LIMIT ?`, [...rangeArgs, ...args, q.limit]);
  const left = q.limit - rows.length;
  // A minimum filters out what has no figure: nothing more to add then.
  const hasMinimum = q.minCpuSeconds !== undefined || q.minRssBytes !== undefined || q.minReadBytes !== undefined || q.minWriteBytes !== undefined;
  if (left <= 0 || hasMinimum) return rows;
  return rows.concat(processes(db, `SELECT ${PROCESS_COLUMNS} FROM processes t WHERE t.${column} IS NULL AND ${[...terms, '1'].join(' AND ')}
    ORDER BY t.start_time DESC LIMIT ?`, [...rangeArgs, ...args, left]));
}

/**
 * Processes that ran in the range, newest start first. A process ran in [since, until] when it
 * started by `until` and had not exited by `since` (coalesce: an unknown start counts as "long
 * ago", a missing exit as "still running"). Read in two steps so that neither scans history
 * older than the range: first the processes that started in the range (newest first until the
 * limit, by the index of the filter: exe, comm or euid with the start time, the key for a pid,
 * else the start time; ids first, from the index alone where it can, then the rows); then,
 * only if the limit is not reached, those already running when it began (with `since`: the
 * exit-time index from `since` on and the still-running ones, or the pid's key range) or, with
 * no `since`, those whose start is unknown (an unknown start sorts last, as NULL does).
 */
export function queryHistory(db: Database.Database, q: HistoryQuery): StoredProcess[] {
  if (q.sort !== undefined && q.sort !== 'start') return queryHistorySorted(db, q, HISTORY_SORTS[q.sort]);
  const { where, args } = historyFilters(db, q);
  const started = [q.sinceMs === undefined ? 't.start_time IS NOT NULL' : 't.start_time >= ?'];
  const startedArgs: unknown[] = q.sinceMs === undefined ? [] : [q.sinceMs];
  if (q.untilMs !== undefined) { started.push('t.start_time <= ?'); startedArgs.push(q.untilMs); }
  // A pid's instances are few: its key range beats any range of start times.
  const indexed = q.pid === undefined ? '' : 'INDEXED BY processes_key';
  const rows = processes(db, `SELECT ${PROCESS_COLUMNS} FROM (
      SELECT t.id FROM processes t ${indexed} WHERE ${[...started, ...where].join(' AND ')} ORDER BY t.start_time DESC LIMIT ?
    ) newest CROSS JOIN processes t ON t.id = newest.id ORDER BY t.start_time DESC`, [...startedArgs, ...args, q.limit]);
  const left = q.limit - rows.length;
  if (left <= 0) return rows;
  const until = q.untilMs === undefined ? [] : ['coalesce(t.start_time, 0) <= ?'];
  const untilArgs = q.untilMs === undefined ? [] : [q.untilMs];
  if (q.sinceMs === undefined) {
    return rows.concat(processes(db, `SELECT ${PROCESS_COLUMNS} FROM processes t WHERE t.start_time IS NULL AND ${[...until, ...where, '1'].join(' AND ')}
      LIMIT ?`, [...untilArgs, ...args, left]));
  }
  const before = '(start_time < ? OR start_time IS NULL)';
  const running = q.pid === undefined
    ? `(SELECT id FROM processes INDEXED BY processes_exit WHERE exit_time >= ? AND ${before}
        UNION ALL SELECT id FROM processes INDEXED BY processes_exit WHERE exit_time IS NULL AND ${before})`
    : `(SELECT id FROM processes INDEXED BY processes_key WHERE key >= ? AND key < ? AND coalesce(exit_time, 9e15) >= ? AND ${before})`;
  const runningArgs = q.pid === undefined ? [q.sinceMs, q.sinceMs, q.sinceMs] : [...pidKeys(q.pid), q.sinceMs, q.sinceMs];
  return rows.concat(processes(db, `SELECT ${PROCESS_COLUMNS} FROM ${running} running CROSS JOIN processes t ON t.id = running.id
    WHERE ${[...until, ...where, '1'].join(' AND ')} ORDER BY t.start_time DESC LIMIT ?`, [...runningArgs, ...untilArgs, ...args, left]));
}

export function getProcess(db: Database.Database, bootId: string, key: string): StoredProcess | null {
  return processes(db, `SELECT ${PROCESS_COLUMNS} FROM processes t WHERE key = ? AND boot = ${BOOT_OF}`, [key, bootId])[0] ?? null;
}

/** The most recent instance with this pid in this boot (for `lineage PID`). */
export function latestByPid(db: Database.Database, bootId: string, pid: number): StoredProcess | null {
  return processes(db, `SELECT ${PROCESS_COLUMNS} FROM processes t WHERE key >= ? AND key < ? AND pid = ? AND boot = ${BOOT_OF}
    ORDER BY start_time DESC LIMIT 1`, [...pidKeys(pid), pid, bootId])[0] ?? null;
}

export interface Lineage {
  process: StoredProcess;
  /** Nearest first. */
  ancestors: StoredProcess[];
  /** Breadth-first, with depth. */
  descendants: Array<StoredProcess & { depth: number }>;
  truncated: boolean;
}

/**
 * Ancestors and descendants by the parent links. Each recursive step is an index search (the
 * key index going up, the parent index going down), driven from the rows found so far (CROSS
 * JOIN fixes that order); the descendants come from a queue ordered by (depth, start), so the
 * first `maxDescendants + 1` of them are found and the walk stops there.
 */
export function queryLineage(db: Database.Database, bootId: string, key: string, maxDescendants: number): Lineage | null {
  const boot = bootOf(db, bootId);
  const process = boot === undefined ? null : getProcess(db, bootId, key);
  if (process === null) return null;
  const ancestors = processes(db, `
    WITH RECURSIVE up(id, parent_key, d) AS (
      SELECT id, parent_key, 0 FROM processes WHERE key = @key AND boot = @boot
      UNION ALL
      SELECT p.id, p.parent_key, up.d + 1 FROM up CROSS JOIN processes p ON p.key = up.parent_key AND p.boot = @boot WHERE up.d < 1000
    )
    SELECT ${PROCESS_COLUMNS} FROM up CROSS JOIN processes t ON t.id = up.id WHERE up.d > 0 ORDER BY up.d`, [{ boot, key }]);
  const rows = db.prepare(`
    WITH RECURSIVE down(id, key, d, start) AS (
      SELECT id, key, 1, start_time FROM processes WHERE parent_key = @key AND boot = @boot
      UNION ALL
      SELECT p.id, p.key, down.d + 1, p.start_time FROM down CROSS JOIN processes p ON p.parent_key = down.key AND p.boot = @boot WHERE down.d < 1000
      ORDER BY 3, 4 LIMIT @limit
    )
    SELECT ${PROCESS_COLUMNS}, down.d FROM down CROSS JOIN processes t ON t.id = down.id ORDER BY down.d, down.start`)
    .raw().all({ boot, key, limit: maxDescendants + 1 }) as unknown[][];
  const truncated = rows.length > maxDescendants;
  const descendants = rows.slice(0, maxDescendants).map((r) => ({ ...processFromRow(r), depth: r[PROCESS_COLUMN_COUNT] as number }));
  return { process, ancestors, descendants, truncated };
}

export interface StoreStats {
  events: number;
  processes: number;
  oldestEvent: string | null;
  newestEvent: string | null;
  byKindLastMinute: Record<string, number>;
}

export function queryStats(db: Database.Database): StoreStats {
  const counts = db.prepare('SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM processes) AS processes, (SELECT min(time) FROM events) AS oldest, (SELECT max(time) FROM events) AS newest').get() as { events: number; processes: number; oldest: number | null; newest: number | null };
  const byKind: Record<string, number> = {};
  for (const row of db.prepare('SELECT kind, count(*) AS n FROM events WHERE time >= ? GROUP BY kind').all(Date.now() - 60_000) as Array<{ kind: string; n: number }>) byKind[row.kind] = row.n;
  return { events: counts.events, processes: counts.processes, oldestEvent: iso(counts.oldest), newestEvent: iso(counts.newest), byKindLastMinute: byKind };
}

/** A process's syscall profile (schema 4), most frequent first. */
export interface SyscallProfile {
  time: string;
  /** Read at the process's exit: complete. Otherwise the counts so far. */
  final: boolean;
  total: number;
  counts: Array<{ name: string; count: number }>;
}

export function querySyscallProfile(db: Database.Database, bootId: string, key: string): SyscallProfile | null {
  const row = db.prepare(`SELECT time, final, total, counts FROM syscall_profiles WHERE key = ? AND boot = ${BOOT_OF}`).get(key, bootId) as
    { time: number; final: number; total: number; counts: string } | undefined;
  if (row === undefined) return null;
  const counts = Object.entries(JSON.parse(row.counts) as Record<string, number>).map(([name, count]) => ({ name, count }))
    .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  return { time: new Date(row.time).toISOString(), final: row.final === 1, total: row.total, counts };
}

/** A process's TCP sessions as stored (`session` events still within retention), summed. */
export interface SessionTotals {
  sessions: number;
  bytesSent: number;
  bytesReceived: number;
}

export function querySessionTotals(db: Database.Database, bootId: string, key: string): SessionTotals {
  const r = db.prepare(`SELECT count(*) AS n, coalesce(sum(json_extract(data, '$.bytesSent')), 0) AS sent,
      coalesce(sum(json_extract(data, '$.bytesReceived')), 0) AS received
    FROM events WHERE key = ? AND boot = ${BOOT_OF} AND kind = 'session'`).get(key, bootId) as { n: number; sent: number; received: number };
  return { sessions: r.n, bytesSent: r.sent, bytesReceived: r.received };
}
