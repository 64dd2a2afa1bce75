/**
 * Writing process rows (schema 3). A row is written whenever an event touched its process;
 * most writes are new rows, and the rest (an exit, an exec after a fork stored in an earlier
 * batch) usually change no indexed column. SQLite rewrites the entry of every index whose
 * column an UPDATE sets, changed or not (about 3× the cost of a row), so an existing row is
 * first updated without the indexed columns, where they are unchanged, and in full only if not.
 * Values are passed as separate arguments: better-sqlite3 binds those fastest.
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

/** Exit accounting columns (schema: issue 12), in the order usageValues() gives them. */
const USAGE = ['cpu_ns', 'user_ns', 'system_ns', 'cpu_resolution', 'max_rss', 'min_flt', 'maj_flt', 'nvcsw', 'nivcsw',
  'read_bytes', 'write_bytes', 'rchar', 'wchar', 'acct_time'];
const ns = (seconds: number | null): number | null => (seconds === null ? null : Math.round(seconds * 1e9));

function usageValues(u: ProcessUsage, wallMs: number): unknown[] {
  return [ns(u.cpuSeconds), ns(u.userSeconds), ns(u.systemSeconds), u.cpuResolution, u.maxRssBytes, u.minorFaults, u.majorFaults,
    u.voluntarySwitches, u.involuntarySwitches, u.readBytes, u.writeBytes, u.readChars, u.writeChars, wallMs];
}

export class ProcessRows {
  private readonly insert: Database.Statement;
  private readonly insertWithUsage: Database.Statement;
  private readonly setUsage: Database.Statement;
  private readonly updateLight: Database.Statement;
  private readonly updateFull: Database.Statement;

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
    this.setUsage.run(...usageValues(usage, wallMs), key, boot);
  }

  /**
   * Writes the record as this boot's row, new or updated. With `usage` (its exit accounting,
   * queued too), a new row gets it in the same statement: then true, and the caller need not
   * write it again; false when the row existed (the accounting is the caller's to write).
   */
  write(boot: number, r: ProcessRecord, wallOf: (ns: number) => number, usage?: { usage: ProcessUsage; wallMs: number }): boolean {
    const [uid, euid, suid, fsuid] = r.uids ?? NO_IDS;
    const [gid, egid, sgid, fsgid] = r.gids ?? NO_IDS;
    const exit = r.exit;
    const startTime = r.startNs === null ? null : wallOf(r.startNs);
    const execTime = r.execNs === null ? null : wallOf(r.execNs);
    const exitTime = r.exitNs === null ? null : wallOf(r.exitNs);
    const argv = r.argv === null ? null : JSON.stringify(r.argv);
    const names = cgroupName(r.cgroup);
    const coreDumped = exit === null ? null : exit.coreDumped || r.coreDumped ? 1 : 0;
    // In the order of LIGHT and INDEXED above.
    const light = [r.startTicks, r.ppid, execTime, exitTime, argv, r.cwd, uid, suid, fsuid, gid, egid, sgid, fsgid,
      r.label, r.cgroup, exit === null ? null : exit.code, exit === null ? null : exit.signal, coreDumped, r.exitOrigin,
      names.unit, names.containerId, names.runtime, r.filename];
    const indexed = [r.parentKey, startTime, r.comm, r.exe, euid];
    if (usage !== undefined) {
      if (this.insertWithUsage.run(boot, r.key, r.pid, r.origin, ...indexed, ...light, ...usageValues(usage.usage, usage.wallMs)).changes === 1) return true;
    } else if (this.insert.run(boot, r.key, r.pid, r.origin, ...indexed, ...light).changes === 1) return false;
    if (this.updateLight.run(...light, r.key, boot, ...indexed).changes === 1) return false;
    this.updateFull.run(...light, ...indexed, r.key, boot);
    return false;
  }
}
