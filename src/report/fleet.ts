/**
 * `procwatch fleet` as text: the local commands' lines and columns with a HOST in front.
 * Every field a process or a host wrote is escaped (`escapeText`; the local commands' lines escape
 * their own): records come from the whole fleet, and a name there can hold terminal control sequences.
 */

import type { Alert } from '../alerts/types.js';
import type { FleetRecord } from '../export/records.js';
import { UserDb } from '../procfs/users.js';
import { alertLine } from './alerts.js';
import { apiEventLine, WATCH_LINE, type EventLineOptions } from './events.js';
import { processCommand, renderColumns, type ProcessLike } from './processes.js';
import { escapeText } from './text.js';

const printable = escapeText;

/**
 * A record's user as its host named it: exec records carry the name (uids mean little across a
 * fleet); for the rest the line shows the uid, never a name from this machine's passwd.
 */
class RecordUsers extends UserDb {
  name: string | null = null;

  constructor() {
    super('/nonexistent');
  }

  override userName(uid: number): string {
    return this.name ?? String(uid);
  }
}

const recordUsers = new RecordUsers();

/** `procwatch events`' columns, dated, local time unless told. */
export const FLEET_LINE: EventLineOptions = { ...WATCH_LINE, dated: true };

/** Host names are at most 253 characters; most fit in 16. */
const HOST_WIDTH = 16;

const hostCell = (host: string): string => printable(host).padEnd(HOST_WIDTH);

/** An event line as `procwatch events` prints it, after the host; a `lost` record says what and how many. */
export function fleetEventLine(r: FleetRecord, options: EventLineOptions = FLEET_LINE): string {
  if (r.type === 'lost') {
    return `${hostCell(r.host)} ${printable(r.time)} ${'lost'.padEnd(14)} ${'0'.padStart(7)} ${'-'.padStart(7)} ${'-'.padEnd(9)} !! ${String(r.count)} lost in export: ${printable(String(r.reason))}`;
  }
  recordUsers.name = typeof r.user === 'string' ? r.user : null;
  return `${hostCell(r.host)} ${apiEventLine(r, recordUsers, options)}`;
}

/** An alert line as `procwatch alerts` prints it (already escaped there), after the host. */
export function fleetAlertLine(r: FleetRecord): string {
  if (r.type === 'lost') return `${hostCell(r.host)} ${printable(r.time)} !! ${String(r.count)} alert record(s) lost in export: ${printable(String(r.reason))}`;
  return `${hostCell(r.host)} ${alertLine(r as unknown as Alert)}`;
}

/** A process as fleet history knows it: its exec record, and its exit if the read saw it. */
export interface FleetProcess {
  host: string;
  bootId: string;
  time: string;
  user: string | null;
  process: ProcessLike;
  end: { time: string; status: string } | null;
}

export function renderFleetHistory(rows: FleetProcess[]): string {
  return renderColumns(
    ['START', 'END', 'HOST', 'USER', 'PID', 'PPID', 'STATUS', 'CMD'],
    rows.map((p) => [
      p.time, p.end?.time ?? '-', printable(p.host), printable(p.user ?? String(p.process.euid ?? '?')), String(p.process.pid),
      String(p.process.ppid ?? '?'), p.end?.status ?? '-', processCommand(p.process),
    ]),
  );
}

export interface FleetHost {
  host: string;
  lastEvent: string | null;
  lastStored: string | null;
  /** Seconds between the last exported event and the moment the stream stored it. */
  lagSeconds: number | null;
  events: number;
  alerts: number;
}

export function renderFleetHosts(hosts: FleetHost[]): string {
  return renderColumns(
    ['HOST', 'EVENTS', 'ALERTS', 'LAST EVENT', 'STORED', 'LAG'],
    hosts.map((h) => [printable(h.host), String(h.events), String(h.alerts), h.lastEvent ?? '-', h.lastStored ?? '-', h.lagSeconds === null ? '-' : `${h.lagSeconds.toFixed(1)}s`]),
  );
}
