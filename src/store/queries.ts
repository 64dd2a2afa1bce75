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

/**
 * Filters on the process an event or an instance belongs to, with the meaning they have in every
 * command (README "Filters"); `lost` events pass them all: the gap may hold what was filtered for.
 */
export interface ProcessFilter {
  /** Effective uid. */
  euid?: number;
  /** Glob on the comm or the executable's basename. */
  name?: string;
  /** Glob on the executable path. */
  exe?: string;
  /** Regular expression searched in the command line (argv joined by spaces). */
  args?: string;
  /** This pid's instances and every process descended from them. */
  subtreePid?: number;
  /** The subtree as `fixSubtree` listed it once, for a query read a page at a time (else listed per query). */
  subtreeKeys?: string;
}

export interface EventQuery extends ProcessFilter {
  /** Also return each event's stored process (a join per event: the text views need it, JSON readers ask). */
  withProcess?: boolean;
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

export interface HistoryQuery extends ProcessFilter {
  sinceMs?: number;
  untilMs?: number;
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

/** A subtree larger than this is refused: narrow the query (a pid's whole history under pid 1 is every process). */
export const MAX_SUBTREE = 100_000;

export class SubtreeTooLarge extends Error {
  override name = 'SubtreeTooLarge';
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

/**
 * The columns of an event row (table alias t) and of its process as last recorded (alias p,
 * LEFT JOINed by key and boot), in the order eventFromRow reads them.
 */
const EVENT_COLUMNS = `t.id, ${BOOT_ID}, t.run, t.seq, t.time, t.ktime_ns, t.kind, t.pid, t.tid, t.key, t.provenance, t.data`;
const EVENT_PROCESS_COLUMNS = 'p.id, p.ppid, p.parent_key, p.comm, p.exe, p.argv, p.euid, p.egid, p.start_ticks, p.origin, p.start_time, p.exec_time, p.exit_time';
const EVENT_PROCESS_JOIN = 'LEFT JOIN processes p ON p.key = t.key AND p.boot = t.boot';

/** The SELECT list and joins of an event page, with or without each event's process. */
function eventSelect(q: EventQuery): { columns: string; join: string } {
  return q.withProcess === true ? { columns: `${EVENT_COLUMNS}, ${EVENT_PROCESS_COLUMNS}`, join: EVENT_PROCESS_JOIN } : { columns: EVENT_COLUMNS, join: '' };
}

function eventFromRow(r: unknown[]): StoredEvent {
  const event: StoredEvent = {
    id: r[0] as number, bootId: r[1] as string, run: r[2] as number, seq: r[3] as number, time: new Date(r[4] as number).toISOString(),
    ktimeNs: r[5] as number, kind: r[6] as string, pid: r[7] as number, tid: r[8] as number, key: str(r[9]), provenance: r[10] as string,
    ...(JSON.parse(r[11] as string) as Record<string, unknown>),
  };
  if (r.length > 12 && r[12] !== null) {
    // As the live stream's `process` (README "Event fields"), as last recorded rather than as of the event.
    event.process = {
      key: event.key, pid: event.pid, ppid: num(r[13]), parentKey: str(r[14]), comm: str(r[15]), exe: str(r[16]),
      argv: r[17] === null ? null : (JSON.parse(r[17] as string) as string[]), uid: num(r[18]), gid: num(r[19]), startTicks: num(r[20]),
      origin: String(r[21]), startTime: iso(num(r[22])), execTime: iso(num(r[23])), exitTime: iso(num(r[24])),
    };
    const [start, exit] = [num(r[22]), num(r[24])];
    if ((event.kind === 'exit' || event.kind === 'inferred_exit') && start !== null && exit !== null) event.lifetimeNs = Math.round(Math.max(0, exit - start) * 1e6);
  }
  return event;
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

/** Compiled patterns of the SQL functions below, by pattern (a query uses one or two). */
const compiled = new Map<string, RegExp>();
function pattern(kind: 'glob' | 're', text: string): RegExp {
  const key = `${kind}:${text}`;
  let re = compiled.get(key);
  if (re === undefined) {
    if (compiled.size > 64) compiled.clear();
    re = kind === 'glob' ? globToRegExp(text) : new RegExp(text);
    compiled.set(key, re);
  }
  return re;
}

const withFunctions = new WeakSet<Database.Database>();
/**
 * SQL functions for the filters, so that a glob or a regex means in a stored query exactly
 * what it means in the live table (the same JavaScript matchers): pw_name(glob, comm, exe) is
 * the comm or the executable's basename, pw_glob(glob, text), pw_args(regex, argv JSON).
 */
function registerFunctions(db: Database.Database): void {
  if (withFunctions.has(db)) return;
  withFunctions.add(db);
  const opts = { deterministic: true };
  db.function('pw_glob', opts, (glob: unknown, text: unknown) => (typeof text === 'string' && pattern('glob', String(glob)).test(text) ? 1 : 0));
  db.function('pw_name', opts, (glob: unknown, comm: unknown, exe: unknown) => {
    const re = pattern('glob', String(glob));
    if (typeof comm === 'string' && re.test(comm)) return 1;
    return typeof exe === 'string' && re.test(exe.slice(exe.lastIndexOf('/') + 1)) ? 1 : 0;
  });
  db.function('pw_args', opts, (regex: unknown, argv: unknown) => {
    if (typeof argv !== 'string') return 0;
    const words = JSON.parse(argv) as unknown;
    return Array.isArray(words) && pattern('re', String(regex)).test(words.join(' ')) ? 1 : 0;
  });
}

/**
 * A pid's instances and all their descendants, as a JSON array of `key@boot` strings (an IN
 * list SQLite indexes once per query); refused beyond MAX_SUBTREE processes.
 */
function subtree(db: Database.Database, pid: number): string {
  const r = db.prepare(`
    WITH RECURSIVE sub(key, boot, d) AS (
      SELECT key, boot, 0 FROM processes WHERE key >= ? AND key < ? AND pid = ?
      UNION
      SELECT p.key, p.boot, sub.d + 1 FROM sub CROSS JOIN processes p ON p.parent_key = sub.key AND p.boot = sub.boot WHERE sub.d < 1000
      LIMIT ${MAX_SUBTREE + 1}
    )
    SELECT count(*) AS n, json_group_array(key || '@' || boot) AS keys FROM sub`).get(...pidKeys(pid), pid) as { n: number; keys: string };
  if (r.n > MAX_SUBTREE) throw new SubtreeTooLarge(`pid ${pid} and its descendants are more than ${MAX_SUBTREE} processes: narrow the query by pid, time, user or name`);
  return r.keys;
}

/** The filter with its subtree listed now: the pages of one answer then read the same processes, listed once. */
export function fixSubtree<F extends ProcessFilter>(db: Database.Database, f: F): F {
  return f.subtreePid === undefined || f.subtreeKeys !== undefined ? f : { ...f, subtreeKeys: subtree(db, f.subtreePid) };
}

/**
 * WHERE terms for a process filter over a process row (`alias`: p for an event's process, t in
 * history): user, name, exe, args, and the subtree. `argv` is the SQL of the command line to search.
 */
function processFilterTerms(db: Database.Database, f: ProcessFilter, alias: string, argv: string): { where: string[]; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (f.euid !== undefined) { where.push(`${alias}.euid = ?`); args.push(f.euid); }
  if (f.name !== undefined) { where.push(`pw_name(?, ${alias}.comm, ${alias}.exe)`); args.push(f.name); }
  if (f.exe !== undefined) { where.push(`pw_glob(?, ${alias}.exe)`); args.push(f.exe); }
  if (f.args !== undefined) { where.push(`pw_args(?, ${argv})`); args.push(f.args); }
  if (f.subtreePid !== undefined) {
    where.push(`(${alias}.key || '@' || ${alias}.boot) IN (SELECT value FROM json_each(?))`);
    args.push(f.subtreeKeys ?? subtree(db, f.subtreePid));
  }
  if (where.length > 0) registerFunctions(db);
  return { where, args };
}

function hasProcessFilter(f: ProcessFilter): boolean {
  return f.euid !== undefined || f.name !== undefined || f.exe !== undefined || f.args !== undefined || f.subtreePid !== undefined;
}

function eventFilter(db: Database.Database, q: EventQuery): { from: string; where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.afterId !== undefined) { where.push('t.id > ?'); args.push(q.afterId); }
  if (q.maxId !== undefined) { where.push('t.id <= ?'); args.push(q.maxId); }
  if (q.sinceMs !== undefined) { where.push('t.time >= ?'); args.push(q.sinceMs); }
  if (q.untilMs !== undefined) { where.push('t.time <= ?'); args.push(q.untilMs); }
  const filters: string[] = [];
  if (q.kinds !== undefined && q.kinds.length > 0) { filters.push(`t.kind IN (${q.kinds.map(() => '?').join(',')})`); args.push(...q.kinds); }
  if (q.pid !== undefined) { filters.push('t.pid = ?'); args.push(q.pid); }
  if (q.key !== undefined) { filters.push('t.key = ?'); args.push(q.key); }
  if (filters.length > 0) where.push(q.lostAlways === true ? `(${filters.join(' AND ')} OR t.kind = 'lost')` : filters.join(' AND '));
  if (q.bootId !== undefined) { where.push(`t.boot = ${BOOT_OF}`); args.push(q.bootId); }
  if (!hasProcessFilter(q)) return { from: 'events t', where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
  // An exec is searched by the command line it ran; other events by their process's last one.
  const process = processFilterTerms(db, q, 'p', "coalesce(t.data ->> '$.details.argv', p.argv)");
  where.push(`(t.kind = 'lost' OR (${process.where.join(' AND ')}))`);
  args.push(...process.args);
  return { from: `events t ${EVENT_PROCESS_JOIN}`, where: `WHERE ${where.join(' AND ')}`, args };
}

/** The oldest `limit` matching events, in storage order: pages of a follower (with afterId). */
export function queryEvents(db: Database.Database, q: EventQuery): StoredEvent[] {
  const { from, where, args } = eventFilter(db, q);
  const { columns, join } = eventSelect(q);
  return (db.prepare(`SELECT ${columns} FROM (SELECT t.id FROM ${from} ${where} ORDER BY t.id LIMIT ?) page CROSS JOIN events t ON t.id = page.id
    ${join} ORDER BY t.id`).raw().all(...args, q.limit) as unknown[][]).map(eventFromRow);
}

/** The newest `limit` matching events, returned oldest first; `truncated` when older ones matched too. */
export function latestEvents(db: Database.Database, q: EventQuery): EventPage {
  const { from, where, args } = eventFilter(db, q);
  const { columns, join } = eventSelect(q);
  const rows = db.prepare(`SELECT ${columns} FROM (SELECT t.id FROM ${from} ${where} ORDER BY t.id DESC LIMIT ?) page CROSS JOIN events t ON t.id = page.id
    ${join} ORDER BY t.id DESC`).raw().all(...args, q.limit + 1) as unknown[][];
  const truncated = rows.length > q.limit;
  return { events: rows.slice(0, q.limit).reverse().map(eventFromRow), truncated };
}

/**
 * Where the newest `limit` matching events are, without reading them: every matching event
 * with afterId < id <= maxId (read it with queryEvents, a page at a time), and whether older
 * ones matched too. Large answers are then written a page at a time (api/server.ts).
 */
export function latestEventBounds(db: Database.Database, q: EventQuery): { afterId: number; maxId: number; truncated: boolean } {
  const { from, where, args } = eventFilter(db, q);
  const ids = db.prepare(`SELECT t.id FROM ${from} ${where} ORDER BY t.id DESC LIMIT ?`).pluck().all(...args, q.limit + 1) as number[];
  const maxId = ids[0] ?? 0;
  if (ids.length <= q.limit) return { afterId: (ids.at(-1) ?? 1) - 1, maxId, truncated: false };
  return { afterId: ids[q.limit]!, maxId, truncated: true };
}

/** At most this many distinct values of a column are matched against a glob one by one. */
const MAX_GLOB_VALUES = 5000;

/**
 * The values of `column` (exe or comm) that match `glob`, found by walking the column's index
 * from one distinct value to the next (a few hundred index searches for a typical host);
 * null when the column holds more than MAX_GLOB_VALUES distinct values: match row by row then.
 * The query then reads the column's index for exactly those values, instead of every row.
 */
function globValues(db: Database.Database, column: 'exe' | 'comm', glob: string, matcher = 'pw_glob(?, x)'): string | null {
  registerFunctions(db);
  const r = db.prepare(`
    WITH RECURSIVE v(x) AS (
      SELECT min(${column}) FROM processes
      UNION ALL SELECT (SELECT min(${column}) FROM processes WHERE ${column} > v.x) FROM v WHERE v.x IS NOT NULL LIMIT ${MAX_GLOB_VALUES + 1}
    )
    SELECT count(*) AS n, json_group_array(x) FILTER (WHERE ${matcher}) AS matched FROM v WHERE x IS NOT NULL`).get(glob) as { n: number; matched: string };
  return r.n > MAX_GLOB_VALUES ? null : r.matched;
}

/**
 * WHERE terms (alias t) of a history query, and, for a name, its two index-driven alternatives
 * (the comm's candidates, the executable's): each reads its own index in start-time order, where
 * one OR of both would read every matching row and sort them.
 */
interface HistoryFilters {
  where: string[];
  args: unknown[];
  alternatives: Array<{ term: string; arg: string }> | null;
}

function historyFilters(db: Database.Database, q: HistoryQuery): HistoryFilters {
  const where: string[] = [];
  const args: unknown[] = [];
  let alternatives: HistoryFilters['alternatives'] = null;
  const match = (column: 'exe' | 'comm', value: string): void => {
    registerFunctions(db);
    // A backslash escapes even without a wildcard: `a\b` is the name "ab".
    const glob = hasGlob(value) || value.includes('\\');
    const values = glob ? globValues(db, column, value) : null;
    if (values !== null) { where.push(`t.${column} IN (SELECT value FROM json_each(?))`); args.push(values); }
    else { where.push(glob ? `pw_glob(?, t.${column})` : `t.${column} = ?`); args.push(value); }
  };
  if (q.exe !== undefined) match('exe', q.exe);
  if (q.name !== undefined) {
    // The comm or the executable's basename (a comm is cut at 15 bytes): the index narrows to
    // the comm's candidates or the exe's ('*/' + glob), the matcher decides as everywhere else.
    registerFunctions(db);
    // A backslash escapes even without a wildcard (as in `match`): then the comm is a glob too.
    const nameGlob = hasGlob(q.name) || q.name.includes('\\');
    const [comm, exe] = [nameGlob ? globValues(db, 'comm', q.name) : JSON.stringify([q.name]), globValues(db, 'exe', `*/${q.name}`)];
    if (comm !== null && exe !== null) {
      alternatives = [{ term: 't.comm IN (SELECT value FROM json_each(?))', arg: comm }, { term: 't.exe IN (SELECT value FROM json_each(?))', arg: exe }];
    }
    where.push('pw_name(?, t.comm, t.exe)');
    args.push(q.name);
  }
  if (q.euid !== undefined) { where.push('t.euid = ?'); args.push(q.euid); }
  if (q.pid !== undefined) { where.push('t.key >= ? AND t.key < ? AND t.pid = ?'); args.push(...pidKeys(q.pid), q.pid); }
  const atLeast = (column: string, value: number | undefined): void => {
    if (value !== undefined) { where.push(`t.${column} >= ?`); args.push(value); }
  };
  atLeast('cpu_ns', q.minCpuSeconds === undefined ? undefined : Math.round(q.minCpuSeconds * 1e9));
  atLeast('max_rss', q.minRssBytes);
  atLeast('read_bytes', q.minReadBytes);
  atLeast('write_bytes', q.minWriteBytes);
  const process = processFilterTerms(db, { args: q.args, subtreePid: q.subtreePid }, 't', 't.argv');
  where.push(...process.where);
  args.push(...process.args);
  return { where, args, alternatives };
}

/** The filters as plain WHERE terms: a name's alternatives as one OR (for reads not in start-time order). */
function historyTerms(filters: HistoryFilters): { where: string[]; args: unknown[] } {
  if (filters.alternatives === null) return { where: filters.where, args: filters.args };
  return {
    where: [`(${filters.alternatives.map((a) => a.term).join(' OR ')})`, ...filters.where],
    args: [...filters.alternatives.map((a) => a.arg), ...filters.args],
  };
}

/**
 * Processes that ran in the range, largest figure first (`sort`), then those without it (still
 * running, or never accounted) newest first. CPU has an index (first the accounted ones,
 * from it); the other figures are sorted from the rows in the range.
 */
function queryHistorySorted(db: Database.Database, q: HistoryQuery, column: string): StoredProcess[] {
  const { where, args } = historyTerms(historyFilters(db, q));
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
  const filters = historyFilters(db, q);
  const started = [q.sinceMs === undefined ? 't.start_time IS NOT NULL' : 't.start_time >= ?'];
  const startedArgs: unknown[] = q.sinceMs === undefined ? [] : [q.sinceMs];
  if (q.untilMs !== undefined) { started.push('t.start_time <= ?'); startedArgs.push(q.untilMs); }
  // A pid's instances are few: its key range beats any range of start times.
  const indexed = q.pid === undefined ? '' : 'INDEXED BY processes_key';
  const newest = (extra: string[], extraArgs: unknown[]): { sql: string; args: unknown[] } => ({
    sql: `SELECT t.id, t.start_time FROM processes t ${indexed} WHERE ${[...started, ...extra, ...filters.where].join(' AND ')} ORDER BY t.start_time DESC LIMIT ?`,
    args: [...startedArgs, ...extraArgs, ...filters.args, q.limit],
  });
  // With a name: the newest of each alternative, then the newest of both (a process found by both counts once).
  const parts = filters.alternatives === null ? [newest([], [])] : filters.alternatives.map((a) => newest([a.term], [a.arg]));
  const union = parts.map((part) => `SELECT id, start_time FROM (${part.sql})`).join(' UNION ');
  const rows = processes(db, `SELECT ${PROCESS_COLUMNS} FROM (${union} ORDER BY start_time DESC LIMIT ?) newest
    CROSS JOIN processes t ON t.id = newest.id ORDER BY t.start_time DESC`, [...parts.flatMap((part) => part.args), q.limit]);
  const left = q.limit - rows.length;
  if (left <= 0) return rows;
  // The other processes (already running, or of unknown start): one OR of the alternatives.
  const { where, args } = historyTerms(filters);
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
