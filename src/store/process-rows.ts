/**
 * Writing process rows (schema 3). A row is written whenever an event touched its process;
 * most writes are new rows, and the rest (an exit, an exec after a fork stored in an earlier
 * batch) usually change no indexed column. SQLite rewrites the entry of every index whose
 * column an UPDATE sets, changed or not (about 3× the cost of a row), so an existing row is
 * first updated without the indexed columns, where they are unchanged, and in full only if not.
 * Each statement's values are written into an array kept for it and bound from there: in a
 * storm, the arrays and spread argument lists built per row were a tenth of what the daemon
 * allocated (BENCHMARKS.md, "Allocation per storm event").
 */

import type Database from 'better-sqlite3';
import type { ProcessUsage } from '../events/types.js';
import type { ProcessRecord } from '../table/index.js';
import { cgroupName } from '../procfs/cgroup.js';

/** Columns in no index but the exit time's (which changes when the process ends). */
const LIGHT = ['start_ticks', 'ppid', 'exec_time', 'exit_time', 'argv', 'cwd', 'uid', 'suid', 'fsuid', 'gid', 'egid', 'sgid', 'fsgid', 'label',
  'cgroup', 'exit_code', 'exit_signal', 'core_dumped', 'exit_origin', 'unit', 'container_id', 'container_runtime', 'filename'];
/** The other indexed columns (with key and boot, which identify the row; see schema.ts). */
const INDEXED = ['parent_key', 'start_time', 'comm', 'exe', 'euid'];
/** The four ids of a record that has none known. */
const NO_IDS = [null, null, null, null] as const;
const assign = (columns: string[]): string => columns.map((c) => `${c} = ?`).join(', ');

/** Exit accounting columns (schema: issue 12), in the order putUsage() writes them. */
const USAGE = ['cpu_ns', 'user_ns', 'system_ns', 'cpu_resolution', 'max_rss', 'min_flt', 'maj_flt', 'nvcsw', 'nivcsw',
  'read_bytes', 'write_bytes', 'rchar', 'wchar', 'acct_time'];
const ns = (seconds: number | null): number | null => (seconds === null ? null : Math.round(seconds * 1e9));

/** Writes the USAGE columns' values into `to` from index `at`. */
function putUsage(to: unknown[], at: number, u: ProcessUsage, wallMs: number): void {
  to[at] = ns(u.cpuSeconds);
  to[at + 1] = ns(u.userSeconds);
  to[at + 2] = ns(u.systemSeconds);
  to[at + 3] = u.cpuResolution;
  to[at + 4] = u.maxRssBytes;
  to[at + 5] = u.minorFaults;
  to[at + 6] = u.majorFaults;
  to[at + 7] = u.voluntarySwitches;
  to[at + 8] = u.involuntarySwitches;
  to[at + 9] = u.readBytes;
  to[at + 10] = u.writeBytes;
  to[at + 11] = u.readChars;
  to[at + 12] = u.writeChars;
  to[at + 13] = wallMs;
}

function copyInto(to: unknown[], at: number, from: readonly unknown[]): void {
  for (let i = 0; i < from.length; i++) to[at + i] = from[i];
}

/** Column counts, for the offsets in the parameter arrays. */
const L = LIGHT.length;
const I = INDEXED.length;
const U = USAGE.length;

export class ProcessRows {
  private readonly insert: Database.Statement;
  private readonly insertWithUsage: Database.Statement;
  private readonly setUsage: Database.Statement;
  private readonly updateLight: Database.Statement;
  private readonly updateFull: Database.Statement;
  /** One row's LIGHT and INDEXED values, in those orders. */
  private readonly light: unknown[] = new Array<unknown>(L);
  private readonly indexed: unknown[] = new Array<unknown>(I);
  /** The parameters of each statement, in its order (see the constructor). */
  private readonly insertArgs: unknown[] = new Array<unknown>(4 + I + L);
  private readonly insertWithUsageArgs: unknown[] = new Array<unknown>(4 + I + L + U);
  private readonly updateLightArgs: unknown[] = new Array<unknown>(L + 2 + I);
  private readonly updateFullArgs: unknown[] = new Array<unknown>(L + I + 2);
  private readonly setUsageArgs: unknown[] = new Array<unknown>(U + 2);

  constructor(db: Database.Database) {
    // `origin` is set only when the row is new: how the start first became known.
    this.insert = db.prepare(`
      INSERT INTO processes (boot, key, pid, origin, ${INDEXED.join(', ')}, ${LIGHT.join(', ')})
      VALUES (${Array(4 + INDEXED.length + LIGHT.length).fill('?').join(', ')}) ON CONFLICT (key, boot) DO NOTHING`);
    // A process that came and went within one flush (an exec storm's): its row and its exit
    // accounting in one statement, not an INSERT and then an UPDATE of the same row.
    this.insertWithUsage = db.prepare(`
      INSERT INTO processes (boot, key, pid, origin, ${INDEXED.join(', ')}, ${LIGHT.join(', ')}, ${USAGE.join(', ')})
      VALUES (${Array(4 + INDEXED.length + LIGHT.length + USAGE.length).fill('?').join(', ')}) ON CONFLICT (key, boot) DO NOTHING`);
    this.updateLight = db.prepare(`UPDATE processes SET ${assign(LIGHT)} WHERE key = ? AND boot = ? AND ${INDEXED.map((c) => `${c} IS ?`).join(' AND ')}`);
    this.updateFull = db.prepare(`UPDATE processes SET ${assign(LIGHT)}, ${assign(INDEXED)} WHERE key = ? AND boot = ?`);
    this.setUsage = db.prepare(`UPDATE processes SET ${assign(USAGE)} WHERE key = ? AND boot = ?`);
  }

  /**
   * A process's exit accounting, on its row (written after the row itself, which may be new
   * in the same batch). Kept apart from write(): the totals arrive once, after the exit.
   */
  writeUsage(boot: number, key: string, usage: ProcessUsage, wallMs: number): void {
    const args = this.setUsageArgs;
    putUsage(args, 0, usage, wallMs);
    args[U] = key;
    args[U + 1] = boot;
    this.setUsage.run(args);
  }

  /**
   * Writes the record as this boot's row, new or updated. With `usage` (its exit accounting,
   * queued too), a new row gets it in the same statement: then true, and the caller need not
   * write it again; false when the row existed (the accounting is the caller's to write).
   */
  write(boot: number, r: ProcessRecord, wallOf: (ns: number) => number, usage?: { usage: ProcessUsage; wallMs: number }): boolean {
    // By index: destructuring walks the array's iterator (an object per element in a storm's profile).
    const uids = r.uids ?? NO_IDS;
    const gids = r.gids ?? NO_IDS;
    const exit = r.exit;
    const startTime = r.startNs === null ? null : wallOf(r.startNs);
    const execTime = r.execNs === null ? null : wallOf(r.execNs);
    const exitTime = r.exitNs === null ? null : wallOf(r.exitNs);
    const argv = r.argv === null ? null : JSON.stringify(r.argv);
    const names = cgroupName(r.cgroup);
    const coreDumped = exit === null ? null : exit.coreDumped || r.coreDumped ? 1 : 0;
    // In the order of LIGHT and INDEXED above.
    const light = this.light;
    light[0] = r.startTicks; light[1] = r.ppid; light[2] = execTime; light[3] = exitTime; light[4] = argv; light[5] = r.cwd;
    light[6] = uids[0]; light[7] = uids[2]; light[8] = uids[3]; light[9] = gids[0]; light[10] = gids[1]; light[11] = gids[2]; light[12] = gids[3];
    light[13] = r.label; light[14] = r.cgroup; light[15] = exit === null ? null : exit.code; light[16] = exit === null ? null : exit.signal;
    light[17] = coreDumped; light[18] = r.exitOrigin; light[19] = names.unit; light[20] = names.containerId; light[21] = names.runtime;
    light[22] = r.filename;
    const indexed = this.indexed;
    indexed[0] = r.parentKey; indexed[1] = startTime; indexed[2] = r.comm; indexed[3] = r.exe; indexed[4] = uids[1];
    const insert = usage === undefined ? this.insertArgs : this.insertWithUsageArgs;
    insert[0] = boot; insert[1] = r.key; insert[2] = r.pid; insert[3] = r.origin;
    copyInto(insert, 4, indexed);
    copyInto(insert, 4 + I, light);
    if (usage !== undefined) {
      putUsage(insert, 4 + I + L, usage.usage, usage.wallMs);
      if (this.insertWithUsage.run(insert).changes === 1) return true;
    } else if (this.insert.run(insert).changes === 1) return false;
    const lightArgs = this.updateLightArgs;
    copyInto(lightArgs, 0, light);
    lightArgs[L] = r.key; lightArgs[L + 1] = boot;
    copyInto(lightArgs, L + 2, indexed);
    if (this.updateLight.run(lightArgs).changes === 1) return false;
    const fullArgs = this.updateFullArgs;
    copyInto(fullArgs, 0, light);
    copyInto(fullArgs, L, indexed);
    fullArgs[L + I] = r.key; fullArgs[L + I + 1] = boot;
    this.updateFull.run(fullArgs);
    return false;
  }
}
