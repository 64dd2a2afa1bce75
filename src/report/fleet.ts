/**
 * `procwatch fleet` as text: the local commands' lines and columns with a HOST in front.
 * Every field a process or a host wrote is escaped (`printable`): records come from the whole
 * fleet, and a name there can hold terminal control sequences.
 */

import type { Alert } from '../alerts/types.js';
import type { FleetRecord } from '../export/records.js';
import { alertLine, printable } from './alerts.js';
import { commandText, eventObjectLine, renderColumns, type ProcessLike } from './processes.js';

/** Host names are at most 253 characters; most fit in 16. */
const HOST_WIDTH = 16;

const hostCell = (host: string): string => printable(host).padEnd(HOST_WIDTH);

/** An event line as `procwatch events` prints it, after the host; a `lost` record says what and how many. */
export function fleetEventLine(r: FleetRecord): string {
  if (r.type === 'lost') {
    return `${hostCell(r.host)} ${printable(r.time)} ${'lost'.padEnd(14)} ${'0'.padStart(7)} ${'-'.padEnd(16)} !! ${String(r.count)} lost in export: ${printable(String(r.reason))}`;
  }
  return `${hostCell(r.host)} ${printable(eventObjectLine(r))}`;
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
      String(p.process.ppid ?? '?'), p.end?.status ?? '-', printable(commandText(p.process)),
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
